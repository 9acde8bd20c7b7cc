import FederationProtocol
import Foundation

/// Which corpora a server may open for a run a client asked for.
///
/// A run's configuration names its corpus by path, and a server started for remote clients
/// must not open whatever file a client names (`POST /v1/runs` with `"corpus": "/etc/shadow"`
/// would have the server parse that file and answer with what it found). A policy allows the
/// built-in synthetic corpus (`synthetic`) and files and folders under the folders the server
/// was started with (`kbd-sim server --corpora DIR`), after resolving symbolic links (a path
/// with a `..` component is refused);
/// `synthetic:SPEC` is allowed when SPEC is under one of them. Anything else is refused with a
/// reason that says nothing about the file system (not whether the path exists).
public struct CorpusAccessPolicy: Sendable, Equatable {
    /// The allowed folders, resolved.
    public let folders: [String]

    /// A policy allowing `folders` (each resolved now; a folder that does not exist allows nothing).
    public init(folders: [String]) {
        self.folders = folders.map { Self.resolve($0) }
    }

    /// Whether `corpus` (a run configuration's corpus argument) may be opened.
    public func allows(_ corpus: String) -> Bool {
        if corpus == "synthetic" { return true }
        let path = corpus.hasPrefix("synthetic:") ? String(corpus.dropFirst("synthetic:".count)) : corpus
        // `..` is refused outright: after a symbolic link it means the link's parent, which a
        // lexical check cannot know.
        guard !path.isEmpty, !path.split(separator: "/").contains("..") else { return false }
        let resolved = Self.resolve(path)
        return folders.contains { folder in
            resolved == folder || resolved.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/")
        }
    }

    /// Refuses `corpus` unless allowed.
    func check(_ corpus: String) throws(ServerRejection) {
        guard allows(corpus) else {
            throw ServerRejection(
                .forbiddenCorpus,
                "this server opens only the built-in synthetic corpus and corpora under the folders it was started with (kbd-sim server --corpora DIR); name a corpus under one of them"
            )
        }
    }

    /// The path with `.`, `..` and every symbolic link of its longest existing ancestor
    /// resolved (`realpath`), then the rest appended: a link inside an allowed folder that
    /// points out of it is resolved even when the file below it does not exist.
    static func resolve(_ path: String) -> String {
        var head = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var tail: [String] = []
        while true {
            if let real = realpath(head, nil) {
                defer { free(real) }
                let resolved = String(cString: real)
                return tail.isEmpty
                    ? resolved : (resolved == "/" ? "" : resolved) + "/" + tail.reversed().joined(separator: "/")
            }
            guard head != "/", !head.isEmpty else { return path }
            tail.append((head as NSString).lastPathComponent)
            head = (head as NSString).deletingLastPathComponent
        }
    }
}
