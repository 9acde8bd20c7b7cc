internal import Foundation

/// Writes a report so that a failure leaves nothing behind and a reader never sees half a
/// file: the bytes go to a temporary file in the destination folder, which is then renamed.
public enum ReportFile {
    /// Writes `contents` to `path` atomically.
    ///
    /// - Returns: the absolute path written and its size in bytes.
    /// - Throws: ``RunReportError/Code/unwritableOutput`` if the folder does not exist, is
    ///   not a folder, or cannot be written.
    public static func write(_ contents: String, to path: String) throws(RunReportError) -> (path: String, bytes: Int) {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let folder = url.deletingLastPathComponent()
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw RunReportError(
                .unwritableOutput,
                "the folder \(folder.path) does not exist; create it (mkdir -p) or pass another --out", path: path)
        }
        var isExistingFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isExistingFolder), isExistingFolder.boolValue
        {
            throw RunReportError(
                .unwritableOutput, "--out names a folder; give a file name such as \(url.path)/report.html", path: path)
        }
        let data = Data(contents.utf8)
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try data.write(to: temporary)
        } catch {
            throw RunReportError(
                .unwritableOutput,
                "cannot write in \(folder.path) (\(error.localizedDescription)); check its permissions", path: path,
                cause: error)
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw RunReportError(.unwritableOutput, "cannot move the report into place (\(reason))", path: path)
        }
        return (url.path, data.count)
    }
}
