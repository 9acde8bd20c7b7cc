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
}
