import Foundation
import Testing

/// Distributed DP under secure aggregation as a user runs it: `kbd-sim privacy epsilon
/// --mechanism skellam` and `kbd-sim run --secure-aggregation --dp-noise z --dp-clip c`.
@Suite("kbd-sim distributed DP (Skellam)")
struct DistributedPrivacyCommandTests {
    /// z = 2, c = 0.5, γ = 1000, d = 100, 5 rounds, δ = 1e-7: Δ₂ = 510, Δ₁ = 5100, μ = 1040400,
    /// ε = 6.432949018906871 at α = 6 (python3, as in SkellamAccountantTests).
    @Test func epsilonByHandAndJSONKeysAreTheTables() throws {
        let base = [
            "privacy", "epsilon", "--mechanism", "skellam", "--noise", "2", "--clip", "0.5", "--scale", "1000",
            "--dimension", "100", "--rounds", "5", "--delta", "1e-7",
        ]
        let json = try KbdSimRunner.run(base + ["--json"]).json()
        #expect(abs((json["epsilon"] as? Double ?? 0) - 6.432949018906871) < 1e-9)
        #expect(json["order"] as? Double == 6)
        #expect(
            json["l2"] as? Double == 510 && json["l1"] as? Double == 5100 && json["variance"] as? Double == 1_040_400)
        let table = try KbdSimRunner.run(base)
        #expect(table.status == 0, "\(table.stderr)")
        let header = table.stdout.split(separator: "\n").first.map(String.init) ?? ""
        let columns = header.split(separator: " ").map(String.init)
        #expect(columns == ["epsilon", "order", "delta", "noise", "participations", "scale", "variance", "l1", "l2"])
        for column in columns { #expect(json[column] != nil, "missing \(column)") }
        #expect(table.stdout.contains("6.43"))
        // --max-participations below --rounds composes fewer releases.
        let two = try KbdSimRunner.run(base + ["--max-participations", "2", "--json"]).json()
        #expect(two["participations"] as? Int == 2)
        #expect((two["epsilon"] as? Double ?? 0) < 6.43)
    }

    private func runArguments(_ folder: ScratchFolder, extra: [String]) -> [String] {
        let model = folder.write(
            "tiny.json",
            #"{"cell":"cifg","embedding":8,"hidden":12,"projection":8,"name":"tiny","seed":1,"vocabularySize":16}"#)
        return [
            "run", "--corpus", "synthetic:" + RunCommandTests.tinySpec, "--vocab", "12", "--model", model, "--devices",
            "3000", "--cohort", "8", "--min-report-fraction", "0.25", "--rounds", "3", "--eval-every", "3", "--db",
            folder.path + "/runs.sqlite",
        ] + extra
    }

    @Test("A secure-aggregation run with --dp-noise finishes and reports the accountant's ε")
    func runReportsTheAccountantsEpsilon() throws {
        let folder = ScratchFolder()
        let r = try KbdSimRunner.run(
            runArguments(folder, extra: ["--secure-aggregation", "--dp-noise", "1", "--dp-clip", "0.5", "--json"]))
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        let summary = json["summary"] as? [String: Any] ?? [:]
        #expect(summary["finished"] as? Bool == true)
        #expect(summary["epsilon method"] as? String == "skellam-rdp")
        let epsilon = try #require(summary["epsilon"] as? Double)
        let gamma = try #require(summary["skellam scale"] as? Double)
        let l2 = try #require(summary["l2 sensitivity"] as? Double)
        // d from Δ₂ = γc + √d.
        let d = Int(((l2 - gamma * 0.5) * (l2 - gamma * 0.5)).rounded())
        let delta = try #require(summary["delta"] as? Double)
        let rounds = json["rounds"] as? [[String: Any]] ?? []
        #expect(rounds.count == 3)
        #expect(rounds.compactMap { $0["epsilon"] as? Double }.allSatisfy { $0 == epsilon })
        // The same figure from the privacy command, fitting γ for the cohort as the run did.
        let accountant = try KbdSimRunner.run([
            "privacy", "epsilon", "--mechanism", "skellam", "--noise", "1", "--clip", "0.5", "--dimension", String(d),
            "--cohort", "8", "--rounds", "3", "--delta", String(delta), "--json",
        ]).json()
        #expect(accountant["epsilon"] as? Double == epsilon)
        #expect(accountant["scale"] as? Double == gamma)
        // The masked coordinates take the round's m ≤ 32 bits.
        #expect(rounds.allSatisfy { ($0["secagg ring bits"] as? Int ?? 99) <= 32 })
    }

    @Test(arguments: [
        (["--secure-aggregation", "--dp-noise", "1", "--dp-clip", "0"], "--dp-clip"),
        (["--secure-aggregation", "--dp-noise", "0", "--dp-clip", "0.5"], "--dp-noise"),
        (["--secure-aggregation", "--dp-noise", "-1", "--dp-clip", "0.5"], "--dp-noise"),
        (
            ["--secure-aggregation", "--dp-noise", "1", "--dp-clip", "0.5", "--secagg-ring-bits", "40"],
            "--secagg-ring-bits"
        ),
        (
            ["--secure-aggregation", "--dp-noise", "1", "--dp-clip", "0.5", "--secagg-ring-bits", "8"],
            "--secagg-ring-bits"
        ),
        (["--dp-noise", "1", "--dp-clip", "0.5", "--secagg-ring-bits", "24"], "--secagg-ring-bits"),
        (["--secure-aggregation", "--dp-noise", "1", "--dp-clip", "0.5", "--dp-mechanism", "tree"], "--dp-"),
        (
            ["--secure-aggregation", "--dp-noise", "1", "--dp-clip", "0.5", "--dp-noise-placement", "distributed"],
            "--dp-noise-placement"
        ),
        (
            ["--codec", "f32", "--dp-noise", "1", "--dp-clip", "0.5", "--dp-mechanism", "skellam"],
            "--secure-aggregation"
        ),
    ])
    func runRefusesNamingTheFlag(extra: [String], flag: String) throws {
        let folder = ScratchFolder()
        let r = try KbdSimRunner.run(runArguments(folder, extra: extra))
        withExtendedLifetime(folder) {}
        #expect(r.status != 0, "\(extra) accepted")
        #expect(r.stderr.contains(flag), "\(extra): \(r.stderr)")
    }

    static let skellam = ["epsilon", "--mechanism", "skellam", "--noise", "1", "--rounds", "5"]

    @Test(arguments: [
        (skellam + ["--dimension", "10", "--scale", "100"], "--clip"),
        (skellam + ["--clip", "0", "--dimension", "10", "--scale", "100"], "--clip"),
        (skellam + ["--clip", "1", "--scale", "100"], "--dimension"),
        (skellam + ["--clip", "1", "--dimension", "10"], "--cohort"),
        (skellam + ["--clip", "1", "--dimension", "10", "--scale", "-3"], "--scale"),
        (skellam + ["--clip", "1", "--dimension", "10", "--scale", "3", "--cohort", "8"], "--cohort"),
        (skellam + ["--clip", "1", "--dimension", "10", "--cohort", "8", "--ring-bits", "33"], "--ring-bits"),
        (skellam + ["--clip", "1", "--dimension", "10", "--scale", "3", "--rate", "0.1"], "--rate"),
        (["epsilon", "--rate", "0.1", "--noise", "1", "--rounds", "3", "--clip", "1"], "--clip"),
        (
            [
                "noise", "--target-epsilon", "2", "--mechanism", "skellam", "--clip", "1", "--dimension", "10",
                "--scale", "3", "--rounds", "3",
            ], "skellam"
        ),
    ])
    func privacyRefusesNamingTheFlag(arguments: [String], flag: String) throws {
        let r = try KbdSimRunner.run(["privacy"] + arguments)
        #expect(r.status == 64, "\(arguments): exit \(r.status) \(r.stderr)")
        #expect(r.stderr.contains(flag), "\(arguments): \(r.stderr)")
    }
}
