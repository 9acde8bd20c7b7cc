/// What kbd-sim's own SIMD kernels (the targets built with Package.swift's `kernelSettings`)
/// were compiled for.
///
/// Package.swift passes `-target-cpu haswell` to those targets on x86-64 only, together with
/// the `KBD_SIM_KERNELS_HASWELL` condition for this target, which is itself compiled for the
/// architecture's baseline so that it can refuse cleanly on a CPU the kernels cannot run on.
public enum OwnKernels {
    #if KBD_SIM_KERNELS_HASWELL
        /// The `-target-cpu` of the kernel targets, or nil for the architecture's default.
        public static let targetCPU: String? = "haswell"
        /// The CPU features `-target-cpu haswell` lets the compiler use (LLVM's Haswell: AVX2,
        /// FMA, F16C, BMI1/2, LZCNT, MOVBE on top of SSE4.2/POPCNT/AVX), and the OS support
        /// AVX needs.
        public static let requirements: [CPUFeatures.Flag] = [
            .sse3, .ssse3, .sse41, .sse42, .popcnt, .avx, .avx2, .fma, .f16c, .bmi1, .bmi2, .lzcnt, .movbe, .osAVX,
        ]
    #else
        public static let targetCPU: String? = nil
        public static let requirements: [CPUFeatures.Flag] = []
    #endif

    /// "haswell", or "baseline (arm64)" when built without `-target-cpu`.
    public static var targetDescription: String {
        targetCPU ?? "baseline (\(CPUFeatures.buildArchitecture))"
    }

    /// The requirements this CPU lacks (empty: the kernels can run here).
    public static func missing(on features: CPUFeatures, requirements: [CPUFeatures.Flag] = requirements)
        -> [CPUFeatures.Flag]
    {
        requirements.filter { !features.has($0) }
    }
}
