import ArgumentParser
import FederationHTTP
import FederationProtocol
import FederationServer
internal import Foundation
import Logging
import RunStore

/// `kbd-sim server`: the aggregation server over HTTP, for `kbd-sim run --server`.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Serve federated runs over HTTP: the aggregation server that `kbd-sim run --server URL` talks to.",
        discussion: """
            The server holds each attached run's global model, receives the devices' updates, \
            aggregates them when the fleet closes a round, evaluates on the corpus's evaluation \
            users and commits each round to the SQLite store (--db) in one transaction. The \
            routes, their errors and the idempotency rules are in docs/server.md.

            The server loads each run's corpus itself, so corpus paths in a run's configuration \
            are read on the server's machine, and only under the folders given with --corpora \
            (repeatable; symbolic links are resolved first, and a path with `..` is refused) or the built-in synthetic \
            corpus: any other path is refused with 403 forbidden-corpus, and the answer says \
            nothing about the file system. It prints "listening on http://HOST:PORT" to \
            stderr once it accepts connections (--port 0 picks a free port) and logs one line per \
            refused request. Ctrl-C or SIGTERM stops it gracefully: requests in progress finish, \
            and the store keeps every committed round; a stopped run continues from its last \
            committed round with `kbd-sim run --resume ID --db DB` on this machine (or a client \
            calling POST /v1/runs/ID/resume).

            Every request carries a credential (docs/server.md, "Credentials"). The operator \
            token in --token-file (default: the --db path with .token appended; created with a \
            random token and mode 0600 if missing) creates and resumes runs and reads \
            /v1/status and /metrics; each run gets a run credential and each selected device \
            a credential for one round, so a device can send only its own update while its \
            round is open. Missing or forged credentials are refused with 401, misused ones with \
            403. --tls-cert and --tls-key serve HTTPS.

            Examples:
              kbd-sim server --port 8080 --db runs.sqlite
              kbd-sim run --server http://127.0.0.1:8080 --token-file runs.sqlite.token --corpus synthetic --model lstm-tiny --vocab 200 --rounds 20
              kbd-sim server --port 8443 --db runs.sqlite --corpora /data/corpora --tls-cert server.pem --tls-key server.key
            """
    )

    @Option(name: .long, help: "The address to listen on (0.0.0.0 for every interface).")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "The TCP port, 0…65535 (0: any free port).")
    var port: Int = 8080

    @Option(name: .long, help: "The SQLite run store (created if missing).")
    var db: String = "runs.sqlite"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A folder whose corpora runs may name (repeatable); without it only the built-in synthetic corpus.",
            valueName: "dir"))
    var corpora: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The operator token's file (created with a random token, mode 0600, if missing). Default: the --db path with .token appended.",
            valueName: "file"))
    var tokenFile: String?

    @Flag(name: .long, help: "Serve /metrics without the operator token (for a scraper that cannot send one).")
    var openMetrics = false

    @Option(
        name: .long,
        help: ArgumentHelp("Serve HTTPS with this PEM certificate chain (with --tls-key).", valueName: "file"))
    var tlsCert: String?

    @Option(name: .long, help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .long, help: "The largest update accepted, in MiB.")
    var maxUpdateMib: Int = 64

    @Option(
        name: .long,
        help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: String = "info"

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be in 0…65535 (got \(port))") }
        guard !host.isEmpty else { throw ValidationError("--host must be an address such as 127.0.0.1") }
        guard (1...4096).contains(maxUpdateMib) else {
            throw ValidationError("--max-update-mib must be in 1…4096 (got \(maxUpdateMib))")
        }
        for folder in corpora {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
                throw ValidationError("--corpora \(folder) is not a folder; pass folders that hold corpora")
            }
        }
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together: pass both to serve HTTPS, or neither")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")) (got \(logLevel))"
            )
        }
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        if files.fileExists(atPath: db, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue, files.isWritableFile(atPath: db) else {
                throw ValidationError(
                    "--db \(db) is \(isDirectory.boolValue ? "a folder" : "not writable"); pass a SQLite file you can write"
                )
            }
        } else {
            let folder = URL(fileURLWithPath: db).deletingLastPathComponent().path
            guard files.isWritableFile(atPath: folder) else {
                throw ValidationError(
                    "--db \(db) cannot be created: its folder \(folder) does not exist or is not writable")
            }
        }
    }

    func run() async throws {
        let store: RunStore
        do {
            store = try RunStore.open(path: db)
        } catch let error as RunStoreError {
            throw ValidationError("--db: \(error)")
        }
        var logger = Logger(label: "kbd-sim.server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let tokenPath = tokenFile ?? db + ".token"
        let (token, created) = try TokenFile.serverToken(at: tokenPath)
        let credentials: CredentialAuthority
        do {
            credentials = try CredentialAuthority(operatorToken: token)
        } catch {
            throw ValidationError("--token-file \(tokenPath): \(error.message)")
        }
        status(
            created
                ? "wrote a new operator token to \(tokenPath) (mode 0600); fleet drivers pass --token-file \(tokenPath)"
                : "operator token from \(tokenPath)")
        let tls = tlsCert.map { TLSFiles(certificateChain: $0, privateKey: tlsKey ?? "") }
        let (host, db, scheme) = (host, db, tls == nil ? "http" : "https")
        let server = FederationHTTPServer(
            aggregation: AggregationServer(store: store, corpusPolicy: CorpusAccessPolicy(folders: corpora)),
            credentials: credentials,
            configuration: .init(
                host: host, port: port, maximumUpdateBytes: maxUpdateMib << 20, openMetrics: openMetrics, tls: tls),
            logger: logger,
            onListening: { port in status("listening on \(scheme)://\(host):\(port) (store \(db); Ctrl-C to stop)") })
        do {
            try await server.runService()
        } catch let error as TLSFiles.Failure {
            throw ServerCommandError(description: error.description)
        } catch {
            throw ServerCommandError(description: "the server on \(host):\(port) failed: \(error)")
        }
        status("server stopped; every committed round is in \(db)")
    }
}

/// The server could not listen (address in use, not this machine's) or failed while serving
/// (exit code 1, one line).
struct ServerCommandError: Error, CustomStringConvertible {
    var description: String
}
