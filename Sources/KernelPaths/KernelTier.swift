/// The instruction sets an OpenBLAS x86 kernel family is written for, weakest first.
///
/// OpenBLAS's DYNAMIC_ARCH builds carry one kernel family per CPU generation and pick one
/// when the library loads (``OpenBLASCore``). kbd-sim only cares about the tier: "Zen" and
/// "Haswell" are both AVX2+FMA kernels, "SkylakeX", "Cooperlake" and "SapphireRapids" all
/// AVX-512.
public enum KernelTier: Int, Comparable, CaseIterable, Sendable {
    /// SSE2/SSE3 kernels (Prescott, Core2, Nehalem, Opteron, ...).
    case sse = 1
    /// AVX or FMA4 without AVX2 (Sandybridge, Bulldozer, Piledriver, Steamroller, Excavator).
    case avx
    /// AVX2 and FMA (Haswell, Zen).
    case avx2
    /// AVX-512 F, CD, BW, DQ and VL (SkylakeX, Cooperlake, SapphireRapids).
    case avx512

    public static func < (a: KernelTier, b: KernelTier) -> Bool { a.rawValue < b.rawValue }

    public var name: String {
        switch self {
        case .sse: "sse"
        case .avx: "avx"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }

    /// The OpenBLAS core kbd-sim asks for when it moves a process to this tier (nil: never).
    public var preferredCore: String? {
        switch self {
        case .sse, .avx: nil
        case .avx2: "Haswell"
        case .avx512: "SkylakeX"
        }
    }

    /// What the CPU and the OS must provide for this tier's kernels not to fault.
    public var requirements: [CPUFeatures.Flag] {
        switch self {
        case .sse: [.sse3]
        case .avx: [.avx, .osAVX]
        case .avx2: [.avx, .avx2, .fma, .osAVX]
        case .avx512: [.avx, .avx2, .fma, .osAVX, .avx512f, .avx512cd, .avx512bw, .avx512dq, .avx512vl, .osAVX512]
        }
    }

    /// Whether a CPU with these features can run this tier's kernels.
    public func runs(on features: CPUFeatures) -> Bool {
        features.isX86 && requirements.allSatisfy(features.has)
    }

    /// The best tier kbd-sim would move OpenBLAS to on this CPU: AVX-512 or AVX2, or nil
    /// (not x86, or no AVX2+FMA: then OpenBLAS's own choice stands).
    public static func best(for features: CPUFeatures) -> KernelTier? {
        [.avx512, .avx2].first { $0.runs(on: features) }
    }
}

/// OpenBLAS core names (as `openblas_get_corename()` spells them) and their tiers.
public enum OpenBLASCore {
    /// The x86 cores of OpenBLAS 0.3.21's DYNAMIC_ARCH table (driver/others/dynamic.c).
    static let tiers: [String: KernelTier] = [
        "katmai": .sse, "coppermine": .sse, "northwood": .sse, "prescott": .sse, "banias": .sse, "atom": .sse,
        "core2": .sse, "penryn": .sse, "dunnington": .sse, "nehalem": .sse, "athlon": .sse, "opteron": .sse,
        "opteron_sse3": .sse, "barcelona": .sse, "nano": .sse,
        "sandybridge": .avx, "bulldozer": .avx, "piledriver": .avx, "steamroller": .avx, "excavator": .avx,
        "haswell": .avx2, "zen": .avx2,
        "skylakex": .avx512, "cooperlake": .avx512, "sapphirerapids": .avx512,
    ]

    /// The tier of an OpenBLAS core name (any case), or nil for a name kbd-sim does not know
    /// ("generic", a future core, a non-x86 core): kbd-sim never overrides those.
    public static func tier(of core: String) -> KernelTier? { tiers[core.lowercased()] }

    /// The cores `kbd-sim doctor --verify` checks on this CPU: Prescott always, Haswell and
    /// Zen with AVX2+FMA, SkylakeX with AVX-512 and the OS support for it.
    public static func verifiableCores(on features: CPUFeatures) -> [String] {
        guard features.isX86 else { return [] }
        var cores: [String] = []
        if KernelTier.sse.runs(on: features) { cores.append("Prescott") }
        if KernelTier.avx2.runs(on: features) { cores += ["Haswell", "Zen"] }
        if KernelTier.avx512.runs(on: features) { cores.append("SkylakeX") }
        return cores
    }
}
