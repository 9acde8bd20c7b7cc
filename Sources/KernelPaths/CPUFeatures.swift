import CCPUFeatures

/// What the CPU can run (cpuid) and what the operating system has enabled (XCR0, via xgetbv).
///
/// A CPU may report AVX or AVX-512 while the OS does not save the wider registers on a
/// context switch (XCR0 bits 1–2 for AVX, 5–7 as well for AVX-512); those instructions then
/// fault, so `os-avx` and `os-avx512` are flags of their own. Off x86, ``detect()`` reports
/// no flags at all.
public struct CPUFeatures: Sendable, Equatable {
    /// An instruction-set extension, or the OS state support that makes one usable.
    public enum Flag: String, CaseIterable, Sendable {
        case sse3
        case ssse3
        case sse41 = "sse4.1"
        case sse42 = "sse4.2"
        case popcnt
        case avx
        case avx2
        case fma
        case f16c
        case bmi1
        case bmi2
        case lzcnt
        case movbe
        case avx512f
        case avx512cd
        case avx512bw
        case avx512dq
        case avx512vl
        /// XCR0 bits 1 and 2: the OS saves SSE and AVX (YMM) state.
        case osAVX = "os-avx"
        /// XCR0 bits 1, 2, 5, 6 and 7: the OS also saves AVX-512 opmask and ZMM state.
        case osAVX512 = "os-avx512"

        /// Whether this flag is OS state support rather than an instruction set.
        public var isOSSupport: Bool { self == .osAVX || self == .osAVX512 }
    }

    /// The architecture kbd-sim was built for ("x86_64", "arm64", ...).
    public var architecture: String
    /// Whether the features come from cpuid (false off x86: then everything below is empty).
    public var isX86: Bool
    public var vendor: String
    public var brand: String
    public var family: Int
    public var model: Int
    public var stepping: Int
    public var flags: Set<Flag>
    /// XCR0 as read by xgetbv(0); 0 when the OS has not enabled XSAVE.
    public var xcr0: UInt64

    public init(
        architecture: String = "x86_64", isX86: Bool = true, vendor: String = "", brand: String = "", family: Int = 0,
        model: Int = 0, stepping: Int = 0, flags: Set<Flag>, xcr0: UInt64 = 0
    ) {
        self.architecture = architecture
        self.isX86 = isX86
        self.vendor = vendor
        self.brand = brand
        self.family = family
        self.model = model
        self.stepping = stepping
        self.flags = flags
        self.xcr0 = xcr0
    }

    public func has(_ flag: Flag) -> Bool { flags.contains(flag) }

    /// The flags present, in ``Flag/allCases`` order (instruction sets, then OS support).
    public var sortedFlags: [Flag] { Flag.allCases.filter(flags.contains) }

    /// The architecture this binary was compiled for.
    public static var buildArchitecture: String {
        #if arch(x86_64)
            "x86_64"
        #elseif arch(i386)
            "i386"
        #elseif arch(arm64)
            "arm64"
        #else
            "other"
        #endif
    }

    /// Reads this machine's CPU (a few cpuid instructions and one xgetbv: microseconds).
    public static func detect() -> CPUFeatures {
        var raw = ccpu_features()
        ccpu_detect(&raw)
        let bits: [(UInt64, Flag)] = [
            (UInt64(CCPU_SSE3), .sse3), (UInt64(CCPU_SSSE3), .ssse3), (UInt64(CCPU_SSE4_1), .sse41),
            (UInt64(CCPU_SSE4_2), .sse42), (UInt64(CCPU_POPCNT), .popcnt), (UInt64(CCPU_AVX), .avx),
            (UInt64(CCPU_AVX2), .avx2), (UInt64(CCPU_FMA), .fma), (UInt64(CCPU_F16C), .f16c),
            (UInt64(CCPU_BMI1), .bmi1), (UInt64(CCPU_BMI2), .bmi2), (UInt64(CCPU_LZCNT), .lzcnt),
            (UInt64(CCPU_MOVBE), .movbe), (UInt64(CCPU_AVX512F), .avx512f), (UInt64(CCPU_AVX512CD), .avx512cd),
            (UInt64(CCPU_AVX512BW), .avx512bw), (UInt64(CCPU_AVX512DQ), .avx512dq),
            (UInt64(CCPU_AVX512VL), .avx512vl), (UInt64(CCPU_OS_AVX), .osAVX), (UInt64(CCPU_OS_AVX512), .osAVX512),
        ]
        let flags = Set(bits.filter { raw.flags & $0.0 != 0 }.map(\.1))
        let vendor = withUnsafeBytes(of: raw.vendor) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let brand = withUnsafeBytes(of: raw.brand) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return CPUFeatures(
            architecture: buildArchitecture, isX86: raw.is_x86 != 0, vendor: vendor, brand: brand,
            family: Int(raw.family), model: Int(raw.model), stepping: Int(raw.stepping), flags: flags,
            xcr0: raw.xcr0)
    }
}
