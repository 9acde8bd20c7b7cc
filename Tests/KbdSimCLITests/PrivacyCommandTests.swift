import Foundation
import Testing

/// `kbd-sim privacy` through the built binary: the table, the JSON keys, refusals.
struct PrivacyCommandTests {
    static let gboardLike = ["privacy", "--cohort", "6500", "--devices", "3000000", "--rounds", "2000"]

    @Test func tablePrintsTheFigureAndItsAssumption() throws {
        let r = try KbdSimRunner.run(Self.gboardLike + ["--noise-multiplier", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let header = try #require(lines.first)
        for column in ["epsilon", "delta", "order", "q", "noise multiplier", "rounds"] {
            #expect(header.contains(column), "no \(column) column")
        }
        // tools/check_rdp.py and dp_accounting: ε = 1.9827265359751014 at order 12.
        let row = try #require(lines.dropFirst(2).first).split(separator: " ").map(String.init)
        // The table rounds to 4 decimals for reading; --json carries every digit.
        #expect(row.first == "1.9827", "\(row)")
        #expect(row.contains("1e-10") && row.contains("12") && row.contains("2000"))
        #expect(r.stdout.contains("Poisson sampling"))
    }

    @Test func jsonHasTheTablesKeys() throws {
        let json = try KbdSimRunner.run(Self.gboardLike + ["--noise-multiplier", "1", "--json"]).json()
        for key in ["epsilon", "delta", "order", "q", "noise multiplier", "rounds"] {
            #expect(json[key] != nil, "no \(key)")
        }
        #expect(abs((json["epsilon"] as? Double ?? 0) - 1.9827265359751014) < 1e-9)
        #expect(json["delta"] as? Double == 1e-10)
        #expect(json["order"] as? Double == 12)
        #expect(json["q"] as? Double == 6500.0 / 3_000_000)
        #expect(json["rounds"] as? Int == 2000)
        let classic = try KbdSimRunner.run(
            [
                "privacy", "--sampling-rate", "0.01", "--noise-multiplier", "1.1", "--rounds", "10000", "--delta",
                "1e-5",
                "--conversion", "classic", "--json",
            ]
        ).json()
        #expect(abs((classic["epsilon"] as? Double ?? 0) - 6.2787200472588385) < 1e-8)
    }

    @Test func targetEpsilonPrintsTheNoiseNeeded() throws {
        let r = try KbdSimRunner.run(Self.gboardLike + ["--target-epsilon", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        let sigma = try #require(json["noise multiplier"] as? Double)
        #expect(sigma > 0.98 && sigma < 1.0, "σ = \(sigma)")  // σ = 1 gives ε = 1.98
        #expect((json["epsilon"] as? Double ?? 3) <= 2)
        #expect(json["target epsilon"] as? Double == 2)
        let table = try KbdSimRunner.run(Self.gboardLike + ["--target-epsilon", "2"])
        #expect(table.stdout.contains("target epsilon"))
    }

    @Test func helpHasExamplesAndTheAssumptions() throws {
        let r = try KbdSimRunner.run(["privacy", "--help"])
        #expect(r.stdout.contains("Examples:"))
        #expect(r.stdout.contains("Poisson sampling"))
        #expect(r.stdout.contains("1e-10"))
    }

    @Test(arguments: [
        (["--sampling-rate", "1.5", "--noise-multiplier", "1", "--rounds", "10"], "--sampling-rate"),
        (["--sampling-rate", "nan", "--noise-multiplier", "1", "--rounds", "10"], "--sampling-rate"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "0", "--rounds", "10"], "--noise-multiplier"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "inf", "--rounds", "10"], "--noise-multiplier"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "1", "--rounds=-1"], "--rounds"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "1", "--rounds", "ten"], "--rounds"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "1"], "--rounds"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "1", "--rounds", "10", "--delta", "1"], "--delta"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "1", "--rounds", "10", "--delta", "0"], "--delta"),
        (["--cohort", "10", "--devices", "5", "--noise-multiplier", "1", "--rounds", "10"], "--cohort"),
        (["--cohort", "10", "--devices", "0", "--noise-multiplier", "1", "--rounds", "10"], "--devices"),
        (["--cohort", "10", "--noise-multiplier", "1", "--rounds", "10"], "--devices"),
        (["--noise-multiplier", "1", "--rounds", "10"], "--sampling-rate"),
        (["--sampling-rate", "0.1", "--rounds", "10"], "--noise-multiplier"),
        (["--sampling-rate", "0.1", "--rounds", "10", "--target-epsilon", "-2"], "--target-epsilon"),
        (
            ["--sampling-rate", "0.1", "--noise-multiplier", "1", "--rounds", "10", "--target-epsilon", "2"],
            "--target-epsilon"
        ),
        (
            ["--sampling-rate", "0.1", "--noise-multiplier", "1", "--rounds", "10", "--conversion", "tight"],
            "--conversion"
        ),
        (["--sampling-rate", "0.1", "--noise-multiplier", "1", "--rounds", "10", "--orders", "2,0.5"], "--orders"),
        (
            ["--sampling-rate", "0.1", "--noise-multiplier", "1", "--rounds", "10", "--fractional-series", "x"],
            "--fractional-series"
        ),
    ])
    func badInputIsAUsageErrorNamingTheFlag(arguments: [String], flag: String) throws {
        let r = try KbdSimRunner.run(["privacy"] + arguments)
        #expect(r.status == 64, "\(arguments): exit \(r.status)")
        #expect(r.stderr.contains(flag), "\(arguments): \(r.stderr)")
    }

    // MARK: - privacy epsilon / privacy noise

    @Test func epsilonPrintsPLDAndRDPBesideIt() throws {
        let r = try KbdSimRunner.run(
            ["privacy", "epsilon", "--rate", "0.01", "--noise", "1", "--rounds", "100", "--delta", "1e-5", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        // dp_accounting 0.6.0 PLDAccountant: 0.7180367095394373.
        let epsilon = try #require(json["epsilon"] as? Double)
        #expect(abs(epsilon - 0.7180367095394373) / 0.7180367095394373 < 1e-3)
        let rdp = try #require(json["epsilon-rdp"] as? Double)
        #expect(rdp > epsilon)
        #expect(json["order"] is Double)
        #expect(json["sampling"] as? String == "poisson")
        #expect(json["discretization"] as? Double == 1e-4)
        let table = try KbdSimRunner.run(["privacy", "epsilon", "--rate", "0.01", "--noise", "1", "--rounds", "100"])
        #expect(table.status == 0)
        #expect(table.stdout.contains("epsilon-rdp"))
    }

    @Test func epsilonWithoutReplacementAndWithoutSampling() throws {
        let wor = try KbdSimRunner.run(
            [
                "privacy", "epsilon", "--sampling", "without-replacement", "--cohort", "100", "--population", "1000",
                "--noise", "5", "--rounds", "100", "--delta", "1e-5", "--json",
            ]
        ).json()
        #expect(wor["cohort"] as? Int == 100 && wor["population"] as? Int == 1000)
        #expect(wor["q"] as? Double == 0.1)
        #expect((wor["epsilon"] as? Double ?? 0) > 0)
        let none = try KbdSimRunner.run(
            ["privacy", "epsilon", "--sampling", "none", "--noise", "2", "--rounds", "10", "--delta", "1e-5", "--json"]
        ).json()
        // The Gaussian mechanism with μ = √10 / 2: exact ε 7.51117…, dp_accounting 7.511275931182365.
        #expect(abs((none["epsilon"] as? Double ?? 0) - 7.511275931182365) < 1e-3)
    }

    @Test func epsilonOfTheTree() throws {
        let r = try KbdSimRunner.run(
            [
                "privacy", "epsilon", "--mechanism", "tree", "--noise", "7", "--rounds", "2000", "--min-separation",
                "313", "--max-participations", "6", "--json",
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        // Xu et al. 2023: ρ = 0.81, ε = 8.90 at δ = 1e-10.
        #expect(abs((json["rho"] as? Double ?? 0) - 79.0 / 98) < 1e-12)
        #expect(abs((json["epsilon"] as? Double ?? 0) - 8.898605012965975) < 1e-9)
        #expect(json["sensitivity squared"] as? Int == 79)
    }

    @Test func noiseFindsTheSmallestSigma() throws {
        let json = try KbdSimRunner.run(
            [
                "privacy", "noise", "--target-epsilon", "2", "--rate", "0.05", "--rounds", "20", "--delta", "1e-6",
                "--json",
            ]
        ).json()
        let sigma = try #require(json["noise multiplier"] as? Double)
        #expect(sigma > 0.5 && sigma < 2, "σ = \(sigma)")
        #expect((json["epsilon"] as? Double ?? 3) <= 2)
        #expect(json["target epsilon"] as? Double == 2)
        let tree = try KbdSimRunner.run(
            [
                "privacy", "noise", "--target-epsilon", "8.9", "--mechanism", "tree", "--rounds", "2000",
                "--min-separation", "313", "--max-participations", "6", "--json",
            ]
        ).json()
        #expect(abs((tree["noise multiplier"] as? Double ?? 0) - 7) < 0.01)
        #expect((tree["epsilon"] as? Double ?? 9) <= 8.9)
    }

    /// DP n-gram counts: M = 16 trigrams per order, z = 1, one round, δ = 1e-7: Δ = √48, the
    /// derived τ is the smallest with δ_τ ≤ 1e-8, and ε is the composed Gaussian's at
    /// δ − δ_τ plus ln(1/(1 − δ_τ)) (the unit tests check those pieces by hand).
    @Test func epsilonOfDPCounts() throws {
        let json = try KbdSimRunner.run(
            [
                "privacy", "epsilon", "--mechanism", "counts", "--noise", "1", "--max-ngrams", "16", "--rounds", "1",
                "--delta", "1e-7", "--json",
            ]
        ).json()
        #expect(json["mechanism"] as? String == "counts")
        #expect(abs((json["sensitivity"] as? Double ?? 0) - (48.0).squareRoot()) < 1e-12)
        #expect(json["threshold"] as? Int == 45)
        let spent = try #require(json["threshold delta"] as? Double)
        #expect(spent > 0 && spent <= 1e-8)
        let epsilon = try #require(json["epsilon"] as? Double)
        #expect(epsilon > 5.3 && epsilon < 5.4, "ε = \(epsilon)")
        // More rounds cost more; the noise for a target ε lands on it.
        let four = try KbdSimRunner.run(
            [
                "privacy", "epsilon", "--mechanism", "counts", "--noise", "1", "--max-ngrams", "16", "--rounds", "4",
                "--delta", "1e-7", "--json",
            ]
        ).json()
        #expect((four["epsilon"] as? Double ?? 0) > epsilon)
        let noise = try KbdSimRunner.run(
            [
                "privacy", "noise", "--target-epsilon", "4", "--mechanism", "counts", "--max-ngrams", "16", "--rounds",
                "2", "--delta", "1e-7", "--json",
            ]
        ).json()
        let z = try #require(noise["noise multiplier"] as? Double)
        #expect(abs((noise["epsilon"] as? Double ?? 0) - 4) < 1e-3, "z = \(z)")
    }

    @Test func subcommandHelpHasExamples() throws {
        for sub in ["epsilon", "noise"] {
            let r = try KbdSimRunner.run(["privacy", sub, "--help"])
            #expect(r.stdout.contains("Examples:") && r.stdout.contains("kbd-sim privacy \(sub)"))
        }
    }

    static let gaussian = ["--rounds", "10", "--delta", "1e-5"]
    static let tree = ["--mechanism", "tree", "--noise", "1", "--rounds", "100"]

    @Test(arguments: [
        (["epsilon", "--rate", "0.1", "--noise", "0"] + gaussian, "--noise"),
        (["epsilon", "--rate", "0.1", "--noise", "-1"] + gaussian, "--noise"),
        (["epsilon", "--rate", "0.1", "--noise", "1", "--rounds", "10", "--delta", "1"], "--delta"),
        (["epsilon", "--rate", "0.1", "--noise", "1", "--rounds", "10", "--delta", "0"], "--delta"),
        (["epsilon", "--rate", "0", "--noise", "1"] + gaussian, "--rate"),
        (["epsilon", "--rate", "1.5", "--noise", "1"] + gaussian, "--rate"),
        (["epsilon", "--noise", "1"] + gaussian, "--rate"),
        (["epsilon", "--rate", "0.1", "--noise", "1", "--rounds", "0"], "--rounds"),
        (
            ["epsilon", "--sampling", "without-replacement", "--cohort", "10", "--population", "5", "--noise", "1"]
                + gaussian, "--cohort"
        ),
        (["epsilon", "--sampling", "without-replacement", "--rate", "0.1", "--noise", "1"] + gaussian, "--rate"),
        (
            ["epsilon", "--sampling", "without-replacement", "--cohort", "10", "--noise", "1"] + gaussian,
            "--population"
        ),
        (["epsilon", "--sampling", "sometimes", "--noise", "1"] + gaussian, "--sampling"),
        (["epsilon", "--mechanism", "forest", "--noise", "1"] + gaussian, "--mechanism"),
        (tree + ["epsilon", "--min-separation", "50", "--max-participations", "3"], "--min-separation"),
        (tree + ["epsilon", "--min-separation", "101", "--max-participations", "1"], "--min-separation"),
        (tree + ["epsilon"], "--min-separation"),
        (tree + ["epsilon", "--rate", "0.1", "--min-separation", "5", "--max-participations", "2"], "--rate"),
        (tree + ["epsilon", "--min-separation", "5", "--max-participations", "0"], "--max-participations"),
        (["epsilon", "--rate", "0.1", "--noise", "1", "--min-separation", "5"] + gaussian, "--min-separation"),
        (["noise", "--target-epsilon", "0", "--rate", "0.1"] + gaussian, "--target-epsilon"),
        (["epsilon", "--mechanism", "counts", "--noise", "1", "--rounds", "2"], "--max-ngrams"),
        (["epsilon", "--mechanism", "counts", "--noise", "1", "--rounds", "2", "--max-ngrams", "0"], "--max-ngrams"),
        (["epsilon", "--rate", "0.1", "--noise", "1", "--max-ngrams", "8"] + gaussian, "--max-ngrams"),
        (
            ["epsilon", "--mechanism", "counts", "--rate", "0.1", "--noise", "1", "--max-ngrams", "8"] + gaussian,
            "--rate"
        ),
        (
            ["epsilon", "--mechanism", "counts", "--noise", "1", "--max-ngrams", "8", "--threshold", "2"] + gaussian,
            "--threshold"
        ),
        (
            ["epsilon", "--mechanism", "counts", "--noise", "1", "--max-ngrams", "8", "--order", "7"] + gaussian,
            "--order"
        ),
        (["noise", "--target-epsilon", "1e-7", "--sampling", "none"] + gaussian, "--target-epsilon"),
    ])
    func badScheduleIsAUsageErrorNamingTheFlag(arguments: [String], flag: String) throws {
        // `tree + ["epsilon", …]` puts the subcommand after the options; move it first.
        var args = arguments
        if let at = args.firstIndex(where: { $0 == "epsilon" || $0 == "noise" }) {
            let sub = args.remove(at: at)
            args.insert(sub, at: 0)
        }
        let r = try KbdSimRunner.run(["privacy"] + args)
        #expect(r.status == 64, "\(args): exit \(r.status) \(r.stderr)")
        #expect(r.stderr.contains(flag), "\(args): \(r.stderr)")
    }
}
