/// What the kernel-path check knows when a process starts: everything the decision depends on,
/// so that the decision itself is a pure function (``KernelPathDecision/decide(_:)``).
public struct KernelPathInputs: Sendable, Equatable {
    public var features: CPUFeatures
    /// The core OpenBLAS chose when it loaded (`openblas_get_corename()`).
    public var openBLASCore: String
    /// Whether this OpenBLAS is a DYNAMIC_ARCH build (`openblas_get_config()` says so); only
    /// those read OPENBLAS_CORETYPE.
    public var openBLASDynamicArch: Bool
    /// OPENBLAS_CORETYPE as the process found it (nil: unset).
    public var coretypeVariable: String?
    /// KBD_SIM_KERNEL_PATH as the process found it (nil: unset).
    public var markerVariable: String?
    /// What kbd-sim's own SIMD kernels need (``OwnKernels/requirements``; empty off x86).
    public var ownKernelRequirements: [CPUFeatures.Flag]

    public init(
        features: CPUFeatures, openBLASCore: String, openBLASDynamicArch: Bool = true, coretypeVariable: String? = nil,
        markerVariable: String? = nil, ownKernelRequirements: [CPUFeatures.Flag] = OwnKernels.requirements
    ) {
        self.features = features
        self.openBLASCore = openBLASCore
        self.openBLASDynamicArch = openBLASDynamicArch
        self.coretypeVariable = coretypeVariable
        self.markerVariable = markerVariable
        self.ownKernelRequirements = ownKernelRequirements
    }
}

/// The note a re-launched process finds in KBD_SIM_KERNEL_PATH: kbd-sim set OPENBLAS_CORETYPE
/// to `core` because OpenBLAS had picked `picked`. Its presence also stops any second re-launch.
public struct KernelPathMarker: Sendable, Equatable {
    public static let variable = "KBD_SIM_KERNEL_PATH"

    public var core: String
    public var picked: String

    public init(core: String, picked: String) {
        self.core = core
        self.picked = picked
    }

    /// `auto:<core>;openblas=<picked>`, e.g. `auto:SkylakeX;openblas=Prescott`.
    public var value: String { "auto:\(core);openblas=\(picked)" }

    public init?(parsing value: String) {
        guard value.hasPrefix("auto:") else { return nil }
        let body = value.dropFirst("auto:".count)
        let parts = body.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, !first.isEmpty else { return nil }
        core = String(first)
        if parts.count == 2, parts[1].hasPrefix("openblas=") {
            picked = String(parts[1].dropFirst("openblas=".count))
        } else {
            picked = "?"
        }
    }
}

/// Who chose the OpenBLAS core a process runs.
public enum CoreOrigin: Sendable, Equatable {
    /// OpenBLAS, from the CPU's identity, and kbd-sim agreed (or had nothing better).
    case detectedByOpenBLAS
    /// kbd-sim re-launched the process with OPENBLAS_CORETYPE because OpenBLAS had picked a
    /// weaker core (`picked`).
    case chosenByKbdSim(picked: String)
    /// OPENBLAS_CORETYPE was set before kbd-sim started; kbd-sim never overrides it.
    case setByUser(String)
    /// This OpenBLAS is not a DYNAMIC_ARCH build: its kernels are fixed when it is compiled.
    case fixedByBuild
}

/// What to do about OpenBLAS's kernels.
public enum OpenBLASAction: Sendable, Equatable {
    case keep(CoreOrigin)
    /// Re-launch the process with OPENBLAS_CORETYPE = `core` (OpenBLAS reads it only when it loads).
    case relaunch(core: String)
}

/// The kernel-path decision for one process start.
public struct KernelPathDecision: Sendable, Equatable {
    public var openBLAS: OpenBLASAction
    /// Flags kbd-sim's own kernels need that this CPU or OS lacks; non-empty: refuse to run.
    public var missingForOwnKernels: [CPUFeatures.Flag]
    /// The core the process runs (or will after the re-launch) needs more than the CPU has:
    /// only possible when OPENBLAS_CORETYPE was set by hand (e.g. SkylakeX without AVX-512).
    public var coreBeyondCPU: Bool

    public init(openBLAS: OpenBLASAction, missingForOwnKernels: [CPUFeatures.Flag] = [], coreBeyondCPU: Bool = false) {
        self.openBLAS = openBLAS
        self.missingForOwnKernels = missingForOwnKernels
        self.coreBeyondCPU = coreBeyondCPU
    }

    /// Whether the process must stop before any of kbd-sim's own kernels runs.
    public var refuses: Bool { !missingForOwnKernels.isEmpty }

    /// The decision table (docs/kernels.md, "How kbd-sim chooses"):
    ///
    /// 1. Own kernels: every flag in `ownKernelRequirements` the CPU/OS lacks is listed; any → refuse.
    /// 2. OPENBLAS_CORETYPE set → keep it, even if weaker (it came with KBD_SIM_KERNEL_PATH
    ///    naming the same core → kbd-sim chose it in a parent process).
    /// 3. KBD_SIM_KERNEL_PATH set without OPENBLAS_CORETYPE → keep (never a second re-launch).
    /// 4. Not DYNAMIC_ARCH → keep (OPENBLAS_CORETYPE would be ignored).
    /// 5. The best tier the CPU and OS run (AVX-512, else AVX2) is above the tier of OpenBLAS's
    ///    core → re-launch with that tier's core (SkylakeX or Haswell). Unknown core names,
    ///    and CPUs below AVX2, keep OpenBLAS's choice.
    public static func decide(_ inputs: KernelPathInputs) -> KernelPathDecision {
        let features = inputs.features
        let missing = OwnKernels.missing(on: features, requirements: inputs.ownKernelRequirements)
        func beyond(_ core: String) -> Bool {
            guard let tier = OpenBLASCore.tier(of: core) else { return false }
            return !tier.runs(on: features)
        }
        if let coretype = inputs.coretypeVariable {
            let marker = inputs.markerVariable.flatMap(KernelPathMarker.init(parsing:))
            let origin: CoreOrigin =
                if let marker, marker.core.lowercased() == coretype.lowercased() {
                    .chosenByKbdSim(picked: marker.picked)
                } else {
                    .setByUser(coretype)
                }
            return KernelPathDecision(
                openBLAS: .keep(origin), missingForOwnKernels: missing, coreBeyondCPU: beyond(inputs.openBLASCore))
        }
        let kept = KernelPathDecision(
            openBLAS: .keep(.detectedByOpenBLAS), missingForOwnKernels: missing,
            coreBeyondCPU: beyond(inputs.openBLASCore))
        if inputs.markerVariable != nil { return kept }
        guard inputs.openBLASDynamicArch else {
            return KernelPathDecision(openBLAS: .keep(.fixedByBuild), missingForOwnKernels: missing)
        }
        guard let best = KernelTier.best(for: features), let core = best.preferredCore,
            let picked = OpenBLASCore.tier(of: inputs.openBLASCore), picked < best
        else { return kept }
        return KernelPathDecision(openBLAS: .relaunch(core: core), missingForOwnKernels: missing)
    }

    /// The one line a refusing executable prints, or nil when it may run.
    public func refusal(program: String) -> String? {
        guard refuses else { return nil }
        let names = missingForOwnKernels.map(\.rawValue).joined(separator: ", ")
        let osOnly = missingForOwnKernels.allSatisfy(\.isOSSupport)
        let fix =
            osOnly
            ? "the OS does not enable AVX state (XCR0); use a kernel/hypervisor that does (XSAVE with AVX enabled)"
            : "run it on an x86-64 CPU with AVX2 and FMA (Intel Haswell or AMD Excavator/Zen and later)"
        return
            "\(program): this CPU lacks \(names), which kbd-sim's own kernels need (compiled with -target-cpu "
            + "\(OwnKernels.targetCPU ?? "haswell")); \(fix), or rebuild without -target-cpu (Package.swift "
            + "kernelSettings). Details: kbd-sim doctor"
    }
}
