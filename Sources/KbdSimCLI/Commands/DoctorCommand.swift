import ArgumentParser
import Foundation
import KernelPaths

/// `kbd-sim doctor`: the CPU, the kernels it runs and who chose them.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Show the CPU, its features, and the kernel paths kbd-sim runs (OpenBLAS core and own SIMD kernels).",
        discussion: """
            Prints the CPU (cpuid), its instruction-set flags and what the OS enables (XCR0), \
            OpenBLAS's version and build, the core OpenBLAS runs and how it was chosen \
            ("detected by OpenBLAS", "chosen by kbd-sim: ...", "set by you in OPENBLAS_CORETYPE"), \
            and the target kbd-sim's own SIMD kernels were compiled for.

            kbd-sim re-launches itself with OPENBLAS_CORETYPE when OpenBLAS picked weaker \
            kernels than the CPU runs (e.g. Prescott on an AVX-512 Xeon); a value you set \
            yourself is never overridden. --verify runs cblas_sgemm on the model's shapes \
            against a Double-precision product and fails (exit 1) beyond a relative error of \
            1e-4. Details: docs/kernels.md.

            Examples:
              kbd-sim doctor
              kbd-sim doctor --verify --json
              OPENBLAS_CORETYPE=Prescott kbd-sim doctor --verify
            """
    )

    @Flag(help: "Check OpenBLAS's sgemm on the model's shapes against a Double-precision reference.")
    var verify = false

    @Flag(help: "Print one JSON document on stdout instead of the list.")
    var json = false

    func run() throws {
        let report = KernelPath.report()
        let features = report.features
        let checks = verify ? GemmCheck.modelShapes.map { GemmCheck.run($0) } : []
        let missing = report.decision.missingForOwnKernels.map(\.rawValue)
        let instructionFlags = features.sortedFlags.filter { !$0.isOSSupport }.map(\.rawValue)
        let osFlags = features.sortedFlags.filter(\.isOSSupport).map(\.rawValue)
        let xcr0 = "0x" + String(features.xcr0, radix: 16)
        let runnable = OpenBLASCore.verifiableCores(on: features)
        let picked: String? =
            switch report.decision.openBLAS {
            case .keep(.chosenByKbdSim(let picked)): picked
            default: nil
            }

        if json {
            var document: [String: Any] = [
                "cpu": features.brand, "vendor": features.vendor, "family": features.family,
                "model": features.model, "stepping": features.stepping, "architecture": features.architecture,
                "flags": instructionFlags, "os_support": osFlags, "xcr0": xcr0,
                "best_tier": report.bestTier?.name ?? "none", "best_core": report.bestTier?.preferredCore ?? "none",
                "runnable_cores": runnable,
                "openblas_version": report.openBLASVersion, "openblas_config": report.config,
                "core": report.core, "origin": report.originKey, "chosen": report.how,
                "own_kernels_target": OwnKernels.targetDescription, "own_kernels_missing": missing,
            ]
            if let picked { document["picked_by_openblas"] = picked }
            if let fake = report.fakeCore { document["fake_core"] = fake }
            if verify {
                document["verify"] = checks.map {
                    [
                        "use": $0.shape.use, "shape": $0.shape.label, "max_rel_error": $0.maxRelativeError,
                        "ok": $0.passed,
                    ] as [String: Any]
                }
                document["verify_ok"] = checks.allSatisfy(\.passed)
                document["verify_tolerance"] = GemmCheck.tolerance
            }
            printJSON(document)
        } else {
            let cpu = features.isX86 ? features.brand : "not x86 (\(features.architecture)): no cpuid"
            var lines: [(String, String)] = [
                (
                    "cpu",
                    features.isX86
                        ? "\(cpu) (\(features.vendor), family \(features.family), model \(features.model), "
                            + "stepping \(features.stepping), \(features.architecture))" : cpu
                ),
                ("flags", instructionFlags.isEmpty ? "none detected" : instructionFlags.joined(separator: " ")),
                (
                    "os_support",
                    (osFlags.isEmpty ? "none" : osFlags.joined(separator: " "))
                        + " (XCR0 \(xcr0): AVX state \(features.has(.osAVX) ? "saved" : "NOT saved"), AVX-512 state "
                        + "\(features.has(.osAVX512) ? "saved" : "not saved"))"
                ),
                ("best_tier", report.bestTier.map { "\($0.name) (OpenBLAS \($0.preferredCore ?? "?"))" } ?? "none"),
                ("runnable_cores", runnable.isEmpty ? "none" : runnable.joined(separator: " ")),
                ("openblas_version", report.openBLASVersion),
                ("openblas_config", report.config),
                ("core", report.core),
                ("chosen", report.how),
                ("own_kernels_target", OwnKernels.targetDescription),
                (
                    "own_kernels_missing",
                    missing.isEmpty
                        ? "none"
                        : missing.joined(separator: " ") + ": kbd-sim refuses every other command on this CPU"
                ),
            ]
            if let fake = report.fakeCore {
                lines.append(
                    ("fake_core", "\(fake) (\(KernelPath.fakeCoreVariable): test hook, not OpenBLAS's choice)"))
            }
            let width = lines.map(\.0.count).max() ?? 0
            for (key, value) in lines {
                print(key + String(repeating: " ", count: width - key.count + 2) + value)
            }
            if verify {
                var table = SummaryTable(columns: ["use", "shape", "max_rel_error", "ok"])
                for check in checks {
                    table.append([
                        check.shape.use, check.shape.label, String(format: "%.2e", check.maxRelativeError),
                        check.passed ? "yes" : "NO",
                    ])
                }
                print("")
                print(table.render())
                let failed = checks.filter { !$0.passed }.count
                print(
                    failed == 0
                        ? "sgemm on OpenBLAS \(report.core): all \(checks.count) shapes within "
                            + "\(GemmCheck.tolerance) of the Double reference"
                        : "sgemm on OpenBLAS \(report.core): \(failed) of \(checks.count) shapes FAILED "
                            + "(relative error above \(GemmCheck.tolerance))")
            }
        }
        if verify && !checks.allSatisfy(\.passed) { throw ExitCode(1) }
    }
}
