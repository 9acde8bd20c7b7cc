import ArgumentParser
import Federation
import FederationProtocol
internal import Foundation
import RunReport
import RunStore

/// `kbd-sim report`: one self-contained HTML file with charts of stored runs.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML report (inline SVG charts) comparing runs from a run store.",
        discussion: """
            The report has accuracy (acc@1, acc@3) by round and by cumulative upload volume, \
            reporting devices by local hour of day, dropouts and stragglers by round with \
            abandoned rounds marked, cohort sizes by round, and a table of every run's stored \
            configuration and outcome. It loads nothing from the network: CSS and SVG are \
            inline, there is no script. Runs on different corpora are refused unless \
            --allow-mixed-corpora is given. Nothing is written if anything fails.

            Examples:
              kbd-sim report 1 2 --db runs.sqlite --out report.html
              kbd-sim report 3 4 --db runs.sqlite --out out/compare.html --allow-mixed-corpora --json
            """
    )

    @Argument(help: ArgumentHelp("The run ids to report on (kbd-sim runs list shows them).", valueName: "run-id"))
    var ids: [Int64] = []

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: ArgumentHelp("The HTML file to write (its folder must exist).", valueName: "file"))
    var out: String = "report.html"

    @Flag(name: .long, help: "Report runs trained on different corpora together (a banner says so).")
    var allowMixedCorpora = false

    @Flag(name: .long, help: "Print one JSON document describing what was written.")
    var json = false

    func validate() throws {
        if ids.isEmpty {
            throw ValidationError(
                "name at least one run id, e.g. kbd-sim report 1 2 --db \(store.db) --out report.html (kbd-sim runs list --db \(store.db) shows them)"
            )
        }
    }

    func run() throws {
        let runStore = try store.open()
        let document: ReportDocument
        let written: (path: String, bytes: Int)
        do {
            let runs = try ReportedRun.load(
                ids: ids, from: runStore, storePath: store.db, allowMixedCorpora: allowMixedCorpora)
            document = ReportDocument(
                runs: runs, storePath: store.db, generatedAt: Date(),
                toolVersion: KbdSimCommand.configuration.version, modelSizes: Self.modelSizes(of: runs))
            written = try ReportFile.write(document.html, to: out)
        } catch let error as RunReportError {
            // Bad run ids, mixed corpora and a missing output folder are usage errors (exit 64).
            throw ValidationError(error.description)
        }
        if json {
            printJSON([
                "path": written.path, "bytes": written.bytes, "charts": document.chartHeadings,
                "mixed corpora": document.hasMixedCorpora, "store": store.db,
                "runs": document.runs.map { run -> [String: Any] in
                    var entry: [String: Any] = [
                        "run": run.id, "model": run.record.model, "corpus": run.record.corpus,
                        "codec": run.record.codec,
                        "seed": run.record.seed, "status": run.record.status.rawValue, "rounds": run.rounds.count,
                        "MB up": Double(run.bytesUp) / 1e6,
                    ]
                    if let e = run.finalEvaluation {
                        entry["acc@1"] = e.acc1
                        entry["acc@3"] = e.acc3
                    }
                    return entry
                },
            ])
        } else {
            let runs = document.runs.map { "run \($0.id)" }.joined(separator: ", ")
            print(
                "wrote \(written.path) (\(grouped(written.bytes)) bytes): \(document.chartHeadings.count) charts and a configuration table for \(runs)"
            )
        }
    }

    /// Each neural run's parameter count and float32 update size, from its stored
    /// configuration (for the bits-against-accuracy table); runs whose configuration cannot be
    /// read are left out of the table.
    static func modelSizes(of runs: [ReportedRun]) -> [Int64: UploadComparison.ModelSize] {
        var sizes: [Int64: UploadComparison.ModelSize] = [:]
        for run in runs where !run.isNGram {
            guard let c = try? RunConfiguration.decode(json: run.record.config),
                let size = try? c.updateSizes()
            else { continue }
            sizes[run.id] = .init(parameters: size.parameters, float32UpdateBytes: size.float32UpdateBytes)
        }
        return sizes
    }
}
