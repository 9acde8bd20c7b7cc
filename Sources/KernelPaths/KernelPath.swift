import CBLAS

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The kernel-path check at the top of kbd-sim's executables, and what it found.
///
/// OpenBLAS (DYNAMIC_ARCH builds) picks its kernels from the CPU's identity in a load-time
/// constructor, before `main`, reading OPENBLAS_CORETYPE only then. So when OpenBLAS has picked a
/// weaker core than the CPU runs, ``prepareProcess(program:allowMissingOwnKernelSupport:)`` sets
/// OPENBLAS_CORETYPE and KBD_SIM_KERNEL_PATH and re-executes the same binary (Linux:
/// `/proc/self/exe`); the child keeps what it finds. docs/kernels.md has the whole story.
public enum KernelPath {
    public static let coretypeVariable = "OPENBLAS_CORETYPE"
    /// Test-only hook: pretend OpenBLAS picked this core (e.g. `Prescott`) when deciding, to
    /// exercise the re-launch on a CPU where OpenBLAS picks well. Ignored when
    /// OPENBLAS_CORETYPE is set, like any OpenBLAS choice.
    public static let fakeCoreVariable = "KBD_SIM_FAKE_OPENBLAS_CORE"

    /// Whether this platform can re-execute the running binary (Linux's /proc/self/exe).
    public static var canRelaunch: Bool {
        #if os(Linux)
            true
        #else
            false
        #endif
    }

    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// The core OpenBLAS runs, as it names it ("Zen", "Prescott", ...).
    public static var openBLASCore: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's build configuration, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var openBLASConfig: String {
        guard let config = openblas_get_config() else { return "" }
        return String(cString: config).trimmingSpaces
    }

    /// This process's inputs to the decision (the fake-core hook applied).
    public static func currentInputs(features: CPUFeatures = .detect()) -> KernelPathInputs {
        let coretype = environment(coretypeVariable)
        // The hook stands in for OpenBLAS's own choice, so it has no say once OPENBLAS_CORETYPE is set.
        let fake = coretype == nil ? environment(fakeCoreVariable).flatMap { $0.isEmpty ? nil : $0 } : nil
        return KernelPathInputs(
            features: features, openBLASCore: fake ?? openBLASCore,
            openBLASDynamicArch: openBLASConfig.split(separator: " ").contains("DYNAMIC_ARCH"),
            coretypeVariable: coretype, markerVariable: environment(KernelPathMarker.variable))
    }

    /// Call first thing in `main`, before any of kbd-sim's own kernels or OpenBLAS runs.
    ///
    /// - Refuses (one line on stderr, exit 69) when the CPU lacks what kbd-sim's own SIMD
    ///   kernels were compiled for, unless `allowMissingOwnKernelSupport` (`kbd-sim doctor`,
    ///   which runs none of them and explains).
    /// - Re-executes the binary with OPENBLAS_CORETYPE set when OpenBLAS picked a weaker core
    ///   than the CPU runs; if that is impossible here, carries on with OpenBLAS's choice.
    /// - Warns (one line) when OPENBLAS_CORETYPE asks for kernels this CPU cannot run.
    public static func prepareProcess(program: String, allowMissingOwnKernelSupport: Bool = false) {
        let inputs = currentInputs()
        let decision = KernelPathDecision.decide(inputs)
        if let refusal = decision.refusal(program: program), !allowMissingOwnKernelSupport {
            printError(refusal)
            exit(69)  // EX_UNAVAILABLE
        }
        if decision.coreBeyondCPU {
            printError(
                "\(program): warning: OpenBLAS runs \(openBLASCore) kernels (OPENBLAS_CORETYPE="
                    + "\(inputs.coretypeVariable ?? "unset")), which this CPU or OS cannot run: expect a crash "
                    + "(illegal instruction); unset OPENBLAS_CORETYPE or see kbd-sim doctor")
        }
        guard case .relaunch(let core) = decision.openBLAS, canRelaunch else { return }
        relaunch(core: core, picked: inputs.openBLASCore, program: program)
    }

    private static func relaunch(core: String, picked: String, program: String) {
        #if os(Linux)
            let marker = KernelPathMarker(core: core, picked: picked)
            setenv(coretypeVariable, core, 1)
            setenv(KernelPathMarker.variable, marker.value, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // Still here: exec failed. Undo, so neither this process nor its children claim a
            // choice that did not happen, and carry on with OpenBLAS's kernels.
            let error = errno
            unsetenv(coretypeVariable)
            unsetenv(KernelPathMarker.variable)
            printError(
                "\(program): could not re-launch with \(coretypeVariable)=\(core) (errno \(error)); "
                    + "running OpenBLAS's \(picked) kernels")
        #endif
    }

    static func printError(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// What this process runs, for `kbd-sim doctor`, `--version` and benchmark headers.
    public static func report(features: CPUFeatures = .detect()) -> KernelPathReport {
        let inputs = currentInputs(features: features)
        return KernelPathReport(
            inputs: inputs, decision: KernelPathDecision.decide(inputs), core: openBLASCore, config: openBLASConfig,
            fakeCore: environment(fakeCoreVariable))
    }
}

/// The kernel paths of one process: the CPU, OpenBLAS's core and who chose it, and kbd-sim's
/// own SIMD kernels.
public struct KernelPathReport: Sendable {
    public var inputs: KernelPathInputs
    public var decision: KernelPathDecision
    /// The core OpenBLAS really runs.
    public var core: String
    public var config: String
    /// KBD_SIM_FAKE_OPENBLAS_CORE, when the test hook is in use.
    public var fakeCore: String?

    public var features: CPUFeatures { inputs.features }

    /// "0.3.21", from the config string.
    public var openBLASVersion: String {
        let words = config.split(separator: " ")
        guard let i = words.firstIndex(of: "OpenBLAS"), i + 1 < words.count else { return "unknown" }
        return String(words[i + 1])
    }

    /// The best tier the CPU and OS run, and the core kbd-sim would ask for there.
    public var bestTier: KernelTier? { KernelTier.best(for: features) }

    /// "openblas", "kbd-sim", "user", "build" (the `origin` key of `kbd-sim doctor --json`).
    public var originKey: String {
        switch decision.openBLAS {
        case .keep(.detectedByOpenBLAS), .relaunch: "openblas"
        case .keep(.chosenByKbdSim): "kbd-sim"
        case .keep(.setByUser): "user"
        case .keep(.fixedByBuild): "build"
        }
    }

    /// How the core was chosen, in words.
    public var how: String {
        switch decision.openBLAS {
        case .keep(.detectedByOpenBLAS):
            return "detected by OpenBLAS"
        case .keep(.chosenByKbdSim(let picked)):
            let asked = inputs.coretypeVariable ?? core
            if asked.lowercased() != core.lowercased() {
                return
                    "chosen by kbd-sim: OpenBLAS picked \(picked); kbd-sim asked for \(asked) but OpenBLAS runs \(core)"
            }
            return "chosen by kbd-sim: OpenBLAS picked \(picked), the CPU runs \(core)"
        case .keep(.setByUser(let value)):
            if value.lowercased() != core.lowercased() {
                return "set by you in OPENBLAS_CORETYPE (=\(value); OpenBLAS runs \(core))"
            }
            return "set by you in OPENBLAS_CORETYPE"
        case .keep(.fixedByBuild):
            return "fixed when this OpenBLAS was built (not DYNAMIC_ARCH)"
        case .relaunch(let better):
            return "detected by OpenBLAS; the CPU runs \(better) but kbd-sim could not re-launch (not Linux, or "
                + "exec failed): set OPENBLAS_CORETYPE=\(better) yourself"
        }
    }

    /// One line: "OpenBLAS Zen (detected by OpenBLAS); own SIMD kernels: haswell".
    public var summaryLine: String {
        "OpenBLAS \(core) (\(how)); own SIMD kernels: \(OwnKernels.targetDescription)"
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
