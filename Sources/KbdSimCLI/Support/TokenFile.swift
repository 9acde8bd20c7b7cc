import ArgumentParser
import FederationHTTP
internal import Foundation

/// The operator token's file: `kbd-sim server` creates it (a random token, mode 0600) when it
/// does not exist and reads it when it does; `kbd-sim run --server` reads it (or
/// `KBD_SIM_TOKEN`). The token is never printed.
enum TokenFile {
    /// The environment variable a driver may hold the token in instead of a file.
    static let environmentVariable = "KBD_SIM_TOKEN"

    /// The server's token: read from `path`, or written there first as a fresh random token.
    ///
    /// - Returns: The token and whether it was created now.
    static func serverToken(at path: String) throws -> (token: String, created: Bool) {
        let files = FileManager.default
        if files.fileExists(atPath: path) {
            let token = try read(path, flag: "--token-file")
            // The mode of the file itself, not of a symbolic link to it (a link's own mode is
            // always 0777; a Kubernetes Secret volume holds links).
            let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            let mode = (try? files.attributesOfItem(atPath: target)[.posixPermissions] as? Int) ?? 0
            if mode & 0o077 != 0 {
                throw ValidationError(
                    "--token-file \(path) can be read by other users (mode \(String(mode, radix: 8))); run chmod 600 \(path)"
                )
            }
            return (token, false)
        }
        let token = CredentialAuthority.generateToken()
        // Created with mode 0600 in one call, so the token is never readable by others.
        guard
            files.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw ValidationError("--token-file \(path) cannot be created; pass a path in a folder you can write")
        }
        return (token, true)
    }

    /// A driver's token: `--token-file`, else `KBD_SIM_TOKEN`.
    static func driverToken(file: String?) throws -> String {
        if let file { return try read(file, flag: "--token-file") }
        if let token = ProcessInfo.processInfo.environment[environmentVariable], !token.isEmpty { return token }
        throw ValidationError(
            "--server needs the server's operator token: pass --token-file FILE (the file kbd-sim server wrote, by default its --db path with .token appended) or set \(environmentVariable)"
        )
    }

    private static func read(_ path: String, flag: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("\(flag) \(path) cannot be read; pass the operator token's file")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= CredentialAuthority.minimumTokenLength else {
            throw ValidationError(
                "\(flag) \(path) holds \(token.count) characters; an operator token has at least \(CredentialAuthority.minimumTokenLength) (delete the file and kbd-sim server writes a random one)"
            )
        }
        return token
    }
}
