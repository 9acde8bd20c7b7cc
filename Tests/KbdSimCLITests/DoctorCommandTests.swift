import Foundation
import Testing

/// `kbd-sim doctor` and the kernel-path choice at start-up, through the built binary.
@Suite(.serialized)
struct DoctorCommandTests {
    /// Variables the kernel-path check reads; every run starts from none of them set.
    static let kernelVariables = ["OPENBLAS_CORETYPE", "KBD_SIM_KERNEL_PATH", "KBD_SIM_FAKE_OPENBLAS_CORE"]

    static func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> KbdSimRunner.Result {
        var changes: [String: String?] = [:]
        for name in kernelVariables { changes[name] = .some(nil) }
        for (k, v) in extra { changes[k] = v }
        return try KbdSimRunner.run(KbdSimRunner.executable, arguments, environment: changes)
    }

    @Test func doctorDescribesThisMachine() throws {
        let r = try Self.run(["doctor"])
        #expect(r.status == 0, "\(r.stderr)")
        for key in ["cpu", "flags", "os_support", "openblas_config", "core", "chosen", "own_kernels_target"] {
            #expect(r.stdout.contains("\n\(key) ") || r.stdout.hasPrefix("\(key) "), "no \(key) line")
        }
        let json = try Self.run(["doctor", "--json"]).json()
        #expect(json["openblas_version"] as? String != "unknown")
        #expect(json["chosen"] as? String != nil)
        let help = try Self.run(["doctor", "--help"])
        #expect(help.stdout.contains("Example"))
    }

    @Test func versionNamesTheKernelPath() throws {
        let r = try Self.run(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("0.1.0"))
        #expect(r.stdout.contains("kernel path: OpenBLAS "))
    }

    /// Every OpenBLAS core this CPU can run, forced with OPENBLAS_CORETYPE in the child, runs
    /// the model's products within tolerance, and is the core the child reports.
    @Test func everyRunnableCorePassesTheSgemmCheck() throws {
        let machine = try Self.run(["doctor", "--json"]).json()
        let cores = try #require(machine["runnable_cores"] as? [String])
        #if arch(x86_64)
            #expect(cores.contains("Prescott"))
        #endif
        for core in cores {
            let r = try Self.run(["doctor", "--verify", "--json"], environment: ["OPENBLAS_CORETYPE": core])
            #expect(r.status == 0, "\(core): \(r.stderr)")
            let json = try r.json()
            #expect(json["core"] as? String == core)
            #expect(json["origin"] as? String == "user")
            #expect(json["verify_ok"] as? Bool == true, "\(core): \(json["verify"] ?? "")")
        }
    }

    /// The re-launch end to end: the test hook pretends OpenBLAS picked Prescott; the process
    /// must come back running the best tier this CPU supports, and say kbd-sim chose it.
    @Test func aProcessWhereOpenBLASPickedPrescottRunsTheBestTier() throws {
        let machine = try Self.run(["doctor", "--json"]).json()
        guard let best = machine["best_core"] as? String, best != "none" else { return }  // no AVX2: nothing to gain
        let r = try Self.run(["doctor", "--json"], environment: ["KBD_SIM_FAKE_OPENBLAS_CORE": "Prescott"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        #if os(Linux)
            #expect(json["core"] as? String == best)
            #expect(json["origin"] as? String == "kbd-sim")
            #expect(json["picked_by_openblas"] as? String == "Prescott")
            #expect(json["chosen"] as? String == "chosen by kbd-sim: OpenBLAS picked Prescott, the CPU runs \(best)")
        #else
            #expect(json["origin"] as? String == "openblas")
        #endif
        // The version line of any command says the same.
        let version = try Self.run(["--version"], environment: ["KBD_SIM_FAKE_OPENBLAS_CORE": "Prescott"])
        #if os(Linux)
            #expect(version.stdout.contains("OpenBLAS \(best) (chosen by kbd-sim"))
        #endif
    }

    @Test func aCoreSetByTheUserIsNeverOverridden() throws {
        let r = try Self.run(
            ["doctor", "--json"],
            environment: ["OPENBLAS_CORETYPE": "Prescott", "KBD_SIM_FAKE_OPENBLAS_CORE": "Prescott"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try r.json()
        #expect(json["core"] as? String == "Prescott")
        #expect(json["origin"] as? String == "user")
        #expect(json["chosen"] as? String == "set by you in OPENBLAS_CORETYPE")
    }
}
