public import ArgumentParser
import KernelPaths

/// The root of the `kbd-sim` command line.
public struct KbdSimCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kbd-sim",
        abstract: "Simulate federated training of mobile-keyboard next-word models.",
        discussion: """
            Accuracy figures follow the nwp-v1 contract (acc@1, acc@3, acc@1-iv, ppl). The \
            built-in corpus is `synthetic`; real phone text is the NUS SMS Corpus \
            (smsCorpus_en_xml_2015.03.09_all.zip, from its authors at the National University \
            of Singapore), read as released.

            Examples:
              kbd-sim eval --model kn3 --corpus synthetic
              kbd-sim eval --model kn3 --corpus smsCorpus_en_xml_2015.03.09_all.zip
            """,
        version: "0.1.0\nkernel path: " + KernelPath.report().summaryLine,
        subcommands: [
            CorpusCommand.self,
            EvalCommand.self,
            PredictCommand.self,
            TrainCommand.self,
            CodecCommand.self,
            FleetCommand.self,
            RunCommand.self,
            RunsCommand.self,
            BenchCommand.self,
            ReportCommand.self,
            ServerCommand.self,
            WorkerCommand.self,
            DoctorCommand.self,
            PrivacyCommand.self,
        ]
    )

    public init() {}
}
