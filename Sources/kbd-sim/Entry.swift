import ArgumentParser
import KbdSimCLI
import KernelPaths

/// The `kbd-sim` executable: everything lives in `KbdSimCLI` so tests can reach it.
@main
enum Entry {
    static func main() async {
        // First, before any kernel runs: refuse a CPU our SIMD kernels cannot run on, or
        // re-launch with better OpenBLAS kernels (docs/kernels.md). `doctor` runs none of our
        // kernels and explains a refusal instead.
        KernelPath.prepareProcess(
            program: "kbd-sim", allowMissingOwnKernelSupport: CommandLine.arguments.dropFirst().first == "doctor")
        await KbdSimCommand.main()
    }
}
