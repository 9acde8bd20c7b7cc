import ArgumentParser
import Dispatch
import FederationFleet
import FederationHTTP
import FederationProtocol
internal import Foundation

/// `kbd-sim worker`: trains leased shards of a coordinator's open rounds (docs/scale-out.md).
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Train shards of a run's rounds for a kbd-sim server: one of many worker processes of one run.",
        discussion: """
            A worker leases a shard (consecutive reporting phones of an open round) from the \\
            coordinator, trains each phone on its own text exactly as a one-process run would, \\
            encodes its update with the run's codec, decodes and sums the shard's updates, and \\
            uploads that one partial aggregate. The coordinator merges the partials in shard \\
            order, so the model is bit-identical to `kbd-sim run --shard-size S` in one process. \\
            A shard whose worker dies or misses its lease deadline goes to another worker; a \\
            partial sent late is refused, so no phone is counted twice.

            The worker needs the server's operator token (--token-file, or KBD_SIM_TOKEN) and \\
            the run's corpus at the same path as the server (synthetic corpora are generated \\
            from their spec). It exits when no shard has waited for --exit-when-idle seconds, \\
            and on SIGTERM or Ctrl-C after finishing the shard in hand. Run many under a \\
            cluster engine: deploy/slurm and deploy/kubernetes (docs/deploy.md).

            Examples:
              kbd-sim server --port 8080 --db runs.sqlite
              kbd-sim worker --coordinator http://127.0.0.1:8080 --token-file runs.sqlite.token &
              kbd-sim run --server http://127.0.0.1:8080 --token-file runs.sqlite.token --remote-training --shard-size 10 --corpus synthetic --model lstm-tiny --vocab 200 --rounds 20
            """
    )

    @Option(name: .long, help: ArgumentHelp("The coordinator: a kbd-sim server's URL.", valueName: "url"))
    var coordinator: String

    @Option(
        name: .long, help: ArgumentHelp("The server's operator token file (or set KBD_SIM_TOKEN).", valueName: "file"))
    var tokenFile: String?

    @Option(
        name: .long,
        help:
            "This worker's slot (default: SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX, else 0); names it in metrics."
    )
    var slot: Int?

    @Option(name: .long, help: "Exit after this many seconds without a shard to train.")
    var exitWhenIdle: Double = 60

    @Option(name: .long, help: "Threads for the phones' local training (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Print one JSON summary instead of a table.")
    var json = false

    func validate() throws {
        guard exitWhenIdle.isFinite, exitWhenIdle >= 0 else {
            throw ValidationError("--exit-when-idle must be 0 or more seconds (got \(exitWhenIdle))")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1 (got \(threads))") }
    }

    /// The slot from the flag or the cluster engine's environment.
    var effectiveSlot: Int {
        let environment = ProcessInfo.processInfo.environment
        return slot ?? environment["SLURM_ARRAY_TASK_ID"].flatMap(Int.init)
            ?? environment["JOB_COMPLETION_INDEX"].flatMap(Int.init) ?? 0
    }

    func run() async throws {
        let transport = try HTTPTransport(baseURL: coordinator, token: try TokenFile.driverToken(file: tokenFile))
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let name = "slot-\(effectiveSlot)@\(host)"
        let worker = ShardWorker(
            transport: transport, name: name, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let stop = StopFlag()
        // SIGINT and SIGTERM (Slurm's scancel, Kubernetes' pod stop) finish the shard in hand.
        let signals = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                status("worker: stopping after the shard in hand")
                stop.set()
            }
            source.resume()
            return source
        }
        defer { for source in signals { source.cancel() } }
        if !json {
            status("worker \(name) leasing from \(coordinator) (Ctrl-C or SIGTERM stops after the shard in hand)")
        }
        let started = Date()
        let summary = try await worker.run(
            idleExit: exitWhenIdle, shouldStop: { stop.isSet },
            onShard: { total in
                if !json {
                    status("  \(total.shards) shards, \(total.phones) phones, \(total.tokens) tokens")
                }
            })
        let wall = Date().timeIntervalSince(started)
        let row: [String: Any] = [
            "worker": name, "shards": summary.shards, "phones": summary.phones, "tokens": summary.tokens,
            "train s": summary.trainSeconds, "refused": summary.refused, "wall s": wall,
            "phones/s": wall > 0 ? Double(summary.phones) / wall : 0,
        ]
        if json {
            printJSON(row)
        } else {
            var table = SummaryTable(
                columns: ["worker", "shards", "phones", "tokens", "train s", "refused", "wall s", "phones/s"])
            table.append([
                name, "\(summary.shards)", "\(summary.phones)", "\(summary.tokens)",
                fixed(summary.trainSeconds, digits: 1), "\(summary.refused)", fixed(wall, digits: 1),
                fixed(wall > 0 ? Double(summary.phones) / wall : 0, digits: 2),
            ])
            print(table.render())
        }
    }
}

/// A flag a signal handler sets.
private final class StopFlag: @unchecked Sendable {
    // @unchecked: `value` is only touched with `lock` held.
    private let lock = NSLock()
    private var value = false

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
