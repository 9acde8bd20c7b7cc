import Foundation
import Testing

/// The main job (`bash scripts/main-job.sh`) is the first thing a new user runs: a shortened
/// one (a tiny corpus, model and fleet) runs end to end here, so a broken main job fails CI.
@Suite("The main job")
struct MainJobTests {
    @Test("A shortened main job runs every step and writes a report with the bits-against-accuracy table")
    func shortenedMainJob() throws {
        let scratch = ScratchFolder()
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let job = try KbdSimRunner.run(
            URL(fileURLWithPath: "/bin/bash"), [repository.appendingPathComponent("scripts/main-job.sh").path],
            environment: [
                "KBD_SIM_BIN": KbdSimRunner.executable.path, "KBD_SIM_OUT": scratch.path, "KBD_SIM_QUICK": "1",
                "KBD_SIM_NO_CACHE": "1",
            ])
        let stdout = job.stdout
        #expect(job.status == 0, "stderr: \(job.stderr.suffix(2000))")
        for step in ["== 1.", "== 2.", "== 3.", "== 4."] { #expect(stdout.contains(step)) }
        // The quantization table, its start figure and the identical-cohort check.
        #expect(stdout.contains("bits/param") && stdout.contains("rot+q2s"))
        #expect(stdout.contains("every run starts from the same untrained model: acc@1"))
        #expect(stdout.contains("identical cohorts for every codec of a seed (from the store): yes"))
        #expect(stdout.contains("smsCorpus_en_xml_2015.03.09_all.zip"))
        #expect(!stdout.contains("shared/"))
        let report = try String(contentsOfFile: scratch.path + "/report.html", encoding: .utf8)
        #expect(report.contains("Bits on the wire against accuracy") && report.contains("rot,q2s,z1"))
        #expect(report.contains("Identical cohorts for the runs of each seed: yes"))
    }
}
