import KernelPaths
import Testing

/// The kernel-path decision table (docs/kernels.md, "How kbd-sim chooses"), case by case.
struct KernelPathDecisionTests {
    static let haswellOwnKernels: [CPUFeatures.Flag] = [
        .sse3, .ssse3, .sse41, .sse42, .popcnt, .avx, .avx2, .fma, .f16c, .bmi1, .bmi2, .lzcnt, .movbe, .osAVX,
    ]
    static let sse: Set<CPUFeatures.Flag> = [.sse3, .ssse3, .sse41, .sse42, .popcnt]
    /// An AVX2 machine like the EPYC this was written on (no AVX-512).
    static let avx2 = sse.union([.avx, .avx2, .fma, .f16c, .bmi1, .bmi2, .lzcnt, .movbe, .osAVX])
    static let avx512Instructions: Set<CPUFeatures.Flag> = [.avx512f, .avx512cd, .avx512bw, .avx512dq, .avx512vl]
    /// The VM of issue 20: "Intel(R) Xeon(R) Processor", AVX-512 and FMA, OS support for both.
    static let avx512 = avx2.union(avx512Instructions).union([.osAVX512])

    static func decide(
        _ flags: Set<CPUFeatures.Flag>, core: String, coretype: String? = nil, marker: String? = nil,
        dynamicArch: Bool = true, isX86: Bool = true, own: [CPUFeatures.Flag] = haswellOwnKernels
    ) -> KernelPathDecision {
        KernelPathDecision.decide(
            KernelPathInputs(
                features: CPUFeatures(isX86: isX86, vendor: "GenuineIntel", flags: flags), openBLASCore: core,
                openBLASDynamicArch: dynamicArch, coretypeVariable: coretype, markerVariable: marker,
                ownKernelRequirements: own))
    }

    @Test func prescottOnAnAVX512CPURelaunchesWithSkylakeX() {
        let d = Self.decide(Self.avx512, core: "Prescott")
        #expect(d.openBLAS == .relaunch(core: "SkylakeX"))
        #expect(!d.refuses)
    }

    @Test func prescottOnAnAVX2CPURelaunchesWithHaswell() {
        #expect(Self.decide(Self.avx2, core: "Prescott").openBLAS == .relaunch(core: "Haswell"))
        #expect(Self.decide(Self.avx2, core: "Sandybridge").openBLAS == .relaunch(core: "Haswell"))
    }

    @Test func haswellOnAnAVX512CPURelaunchesWithSkylakeX() {
        #expect(Self.decide(Self.avx512, core: "Haswell").openBLAS == .relaunch(core: "SkylakeX"))
    }

    @Test func zenAndHaswellOnAnAVX2CPUAreKept() {
        #expect(Self.decide(Self.avx2, core: "Zen").openBLAS == .keep(.detectedByOpenBLAS))
        #expect(Self.decide(Self.avx2, core: "Haswell").openBLAS == .keep(.detectedByOpenBLAS))
        #expect(Self.decide(Self.avx2, core: "ZEN").openBLAS == .keep(.detectedByOpenBLAS))
    }

    @Test func theBestTierIsKept() {
        #expect(Self.decide(Self.avx512, core: "SkylakeX").openBLAS == .keep(.detectedByOpenBLAS))
        #expect(Self.decide(Self.avx512, core: "Cooperlake").openBLAS == .keep(.detectedByOpenBLAS))
    }

    @Test func aVariableAlreadySetIsKeptEvenIfWeaker() {
        let d = Self.decide(Self.avx512, core: "Prescott", coretype: "Prescott")
        #expect(d.openBLAS == .keep(.setByUser("Prescott")))
        #expect(!d.coreBeyondCPU)
        // Even empty: OpenBLAS saw it set, so it is the user's.
        #expect(Self.decide(Self.avx512, core: "Haswell", coretype: "").openBLAS == .keep(.setByUser("")))
    }

    @Test func aUserCoreBeyondTheCPUIsKeptButFlagged() {
        let d = Self.decide(Self.avx2, core: "SkylakeX", coretype: "SkylakeX")
        #expect(d.openBLAS == .keep(.setByUser("SkylakeX")))
        #expect(d.coreBeyondCPU)
    }

    @Test func avx512FlagsWithoutOSSupportGiveTheHaswellTier() {
        let noOSState = Self.avx2.union(Self.avx512Instructions)
        #expect(Self.decide(noOSState, core: "Prescott").openBLAS == .relaunch(core: "Haswell"))
        #expect(Self.decide(noOSState, core: "Haswell").openBLAS == .keep(.detectedByOpenBLAS))
        // One AVX-512 subset missing (no VL) is not the SkylakeX tier either.
        var noVL = Self.avx512
        noVL.remove(.avx512vl)
        #expect(Self.decide(noVL, core: "Prescott").openBLAS == .relaunch(core: "Haswell"))
    }

    @Test func avxInstructionsWithoutOSSupportRefuseAndNeverRelaunch() {
        var flags = Self.avx512
        flags.remove(.osAVX)
        flags.remove(.osAVX512)
        let d = Self.decide(flags, core: "Prescott")
        #expect(d.openBLAS == .keep(.detectedByOpenBLAS))
        #expect(d.missingForOwnKernels == [.osAVX])
        #expect(d.refusal(program: "kbd-sim")?.contains("OS does not enable AVX state") == true)
    }

    @Test func noAVX2RefusesForOurKernels() {
        let sandyBridge = Self.sse.union([.avx, .f16c, .osAVX])
        let d = Self.decide(sandyBridge, core: "Sandybridge")
        #expect(d.refuses)
        #expect(d.missingForOwnKernels == [.avx2, .fma, .bmi1, .bmi2, .lzcnt, .movbe])
        #expect(d.openBLAS == .keep(.detectedByOpenBLAS))
        let line = try? #require(d.refusal(program: "lstm-bench"))
        #expect(line?.hasPrefix("lstm-bench: this CPU lacks avx2, fma, bmi1") == true)
        #expect(line?.contains("\n") == false)
        #expect(line?.contains("kbd-sim doctor") == true)
        // Built without -target-cpu (arm64, or x86 with the flag dropped): nothing to refuse.
        #expect(!Self.decide(sandyBridge, core: "Sandybridge", own: []).refuses)
    }

    @Test func aMarkedChildKeepsAndNamesKbdSim() {
        let marker = KernelPathMarker(core: "SkylakeX", picked: "Prescott").value
        #expect(marker == "auto:SkylakeX;openblas=Prescott")
        let child = Self.decide(Self.avx512, core: "SkylakeX", coretype: "SkylakeX", marker: marker)
        #expect(child.openBLAS == .keep(.chosenByKbdSim(picked: "Prescott")))
        // The user replaced the value kbd-sim set: it is theirs now.
        let changed = Self.decide(Self.avx512, core: "Haswell", coretype: "Haswell", marker: marker)
        #expect(changed.openBLAS == .keep(.setByUser("Haswell")))
        // A marker without OPENBLAS_CORETYPE never re-launches again (no loop).
        #expect(Self.decide(Self.avx512, core: "Prescott", marker: marker).openBLAS == .keep(.detectedByOpenBLAS))
    }

    @Test func markersParse() {
        #expect(
            KernelPathMarker(parsing: "auto:Haswell;openblas=Prescott")
                == KernelPathMarker(core: "Haswell", picked: "Prescott"))
        #expect(KernelPathMarker(parsing: "auto:Haswell") == KernelPathMarker(core: "Haswell", picked: "?"))
        #expect(KernelPathMarker(parsing: "Haswell") == nil)
        #expect(KernelPathMarker(parsing: "auto:") == nil)
    }

    @Test func unknownCoresFixedBuildsAndOtherArchitecturesAreKept() {
        #expect(Self.decide(Self.avx512, core: "Zen7").openBLAS == .keep(.detectedByOpenBLAS))
        #expect(Self.decide(Self.avx512, core: "Prescott", dynamicArch: false).openBLAS == .keep(.fixedByBuild))
        let arm = Self.decide([], core: "NEOVERSEN1", isX86: false, own: [])
        #expect(arm.openBLAS == .keep(.detectedByOpenBLAS))
        #expect(!arm.refuses)
    }

    @Test func tiersOfOpenBLASCores() {
        #expect(OpenBLASCore.tier(of: "Prescott") == .sse)
        #expect(OpenBLASCore.tier(of: "Sandybridge") == .avx)
        #expect(OpenBLASCore.tier(of: "Zen") == OpenBLASCore.tier(of: "Haswell"))
        #expect(OpenBLASCore.tier(of: "skylakex") == .avx512)
        #expect(OpenBLASCore.tier(of: "generic") == nil)
        let cpu = CPUFeatures(flags: Self.avx2)
        #expect(OpenBLASCore.verifiableCores(on: cpu) == ["Prescott", "Haswell", "Zen"])
        #expect(
            OpenBLASCore.verifiableCores(on: CPUFeatures(flags: Self.avx512))
                == ["Prescott", "Haswell", "Zen", "SkylakeX"])
        #expect(OpenBLASCore.verifiableCores(on: CPUFeatures(isX86: false, flags: [])).isEmpty)
    }

    @Test func thisMachineIsDetectedConsistently() {
        let cpu = CPUFeatures.detect()
        #if arch(x86_64)
            #expect(cpu.isX86)
            #expect(!cpu.vendor.isEmpty)
            #expect(cpu.has(.sse3))
            // OS support never exceeds what XCR0 says.
            #expect(cpu.has(.osAVX) == (cpu.xcr0 & 0x6 == 0x6))
            #expect(cpu.has(.osAVX512) == (cpu.xcr0 & 0xE6 == 0xE6))
        #else
            #expect(!cpu.isX86)
            #expect(cpu.flags.isEmpty)
        #endif
    }
}
