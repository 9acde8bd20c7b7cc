import ArgumentParser
import KbdSimCLI

/// The `kbd-sim` executable: everything lives in `KbdSimCLI` so tests can reach it.
@main
extension KbdSimCommand {}
