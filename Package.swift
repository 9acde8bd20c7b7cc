// swift-tools-version: 6.2
import PackageDescription

/// Upcoming-feature flags every target builds with (as swift-nio and Hummingbird do).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// Numeric kernels are compiled for AVX2/FMA: without `-target-cpu`, SIMD `addingProduct`
/// lowers to libm `fmaf` calls and runs ~50x slower (docs/kernels.md).
/// x86-64 only, so arm64 builds. SwiftPM has no architecture condition and this `#if` is
/// evaluated on the build host: a cross-build from x86-64 to arm64 must drop the flag (docs/kernels.md).
#if arch(x86_64)
let kernelCPUFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
/// Tells KernelPaths (compiled for the baseline, so it can refuse cleanly) what the kernels need.
let kernelCPUDefine: [SwiftSetting] = [.define("KBD_SIM_KERNELS_HASWELL")]
#else
let kernelCPUFlags: [SwiftSetting] = []
let kernelCPUDefine: [SwiftSetting] = []
#endif
let kernelSettings: [SwiftSetting] = strictSettings + kernelCPUFlags

let package = Package(
    name: "kbd-sim",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kbd-sim", targets: ["kbd-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Already in Hummingbird's graph; named so FederationHTTP can import the modules whose
        // types its code names (Logger, ByteBuffer, HTTPField, UnixSignal).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // X25519, HKDF, ChaChaPoly and the AES-CTR keystream of secure aggregation (never our own crypto).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // L0: C shims and shared nouns (FederatedCore: also the byte reader, writer and CRC-32 every format uses).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", providers: [.apt(["libopenblas-dev"])]),
        .target(name: "FederatedCore", dependencies: ["CZlib"], swiftSettings: strictSettings),
        // CPU features (cpuid, xgetbv) and the choice of OpenBLAS kernels (docs/kernels.md).
        .target(name: "CCPUFeatures", path: "Sources/CCPUFeatures"),
        .target(name: "KernelPaths", dependencies: ["CCPUFeatures", "CBLAS"], swiftSettings: strictSettings + kernelCPUDefine),
        .target(name: "KeyboardCorpus", dependencies: ["CZlib", "FederatedCore"], swiftSettings: kernelSettings),
        // L0: the language models' small value types that cross the wire (the neural model's
        // shape and layout, training options, nwp-v1 metrics), without their code, so the round
        // protocol's messages build without the LSTM library.
        .target(name: "LanguageModelTypes", swiftSettings: strictSettings),
        // L1: models and the update codec.
        .target(
            name: "LanguageModels",
            dependencies: ["KeyboardCorpus", "FederatedCore", "LanguageModelTypes", "CBLAS"],
            swiftSettings: kernelSettings
        ),
        .target(name: "UpdateCodec", dependencies: ["FederatedCore", "CZlib"], swiftSettings: kernelSettings),
        .target(name: "Aggregation", dependencies: ["FederatedCore"], swiftSettings: kernelSettings),
        // L1: the user-level DP accountant (RDP of the Poisson-sampled Gaussian mechanism).
        .target(name: "Privacy", dependencies: ["FederatedCore"], swiftSettings: kernelSettings),
        // L1: secure aggregation (SecAgg+): masked sums over Z_2^m, Shamir shares, the
        // neighbour graph and the phone and server state machines (docs/secure-aggregation.md).
        .target(
            name: "SecureAggregation",
            dependencies: [
                "FederatedCore", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: kernelSettings
        ),
        .target(
            name: "RunStore",
            dependencies: ["FederatedCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSettings
        ),
        // L2: HTML reports on stored runs (inline SVG charts).
        .target(name: "RunReport", dependencies: ["RunStore"], swiftSettings: strictSettings),
        // L2: the fleet of virtual phones.
        .target(name: "Fleet", dependencies: ["FederatedCore", "KeyboardCorpus"], swiftSettings: kernelSettings),
        // L2: the round protocol's messages and configuration, and the transport protocol: what the
        // server and the fleet exchange, without the LSTM library or the server's code.
        .target(
            name: "FederationProtocol",
            dependencies: ["FederatedCore", "LanguageModelTypes", "UpdateCodec", "Aggregation", "SecureAggregation"],
            swiftSettings: strictSettings
        ),
        // L3: what both roles of a federated run share: the run's data (evaluation users, devices'
        // text) and the model kinds' wire formats (model downloads, n-gram count updates).
        .target(
            name: "Federation",
            dependencies: [
                "FederatedCore", "FederationProtocol", "KeyboardCorpus", "LanguageModelTypes", "LanguageModels", "UpdateCodec",
                "Fleet", "CZlib",
            ],
            swiftSettings: strictSettings
        ),
        // L4: the aggregation server: runs, rounds, the server side of each model kind, the
        // aggregation stages, checkpoints and commits, and the in-process transport.
        .target(
            name: "FederationServer",
            dependencies: [
                "Federation", "FederationProtocol", "FederatedCore", "KeyboardCorpus", "LanguageModelTypes", "LanguageModels",
                "UpdateCodec", "Aggregation", "RunStore", "Privacy", "SecureAggregation",
            ],
            swiftSettings: strictSettings
        ),
        // L4: the fleet side: the round driver, the devices' side of each model kind, local
        // training on all cores.
        .target(
            name: "FederationFleet",
            dependencies: [
                "Federation", "FederationProtocol", "FederatedCore", "KeyboardCorpus", "LanguageModelTypes", "LanguageModels",
                "UpdateCodec", "Fleet", "SecureAggregation",
            ],
            swiftSettings: strictSettings
        ),
        // L5: the quantization benchmark (`kbd-sim bench quant`): in-process runs per codec, beside
        // the command line that drives it.
        .target(
            name: "QuantizationBench",
            dependencies: [
                "Federation", "FederationServer", "FederationFleet", "FederationProtocol", "FederatedCore", "LanguageModels",
                "UpdateCodec", "RunStore",
            ],
            swiftSettings: strictSettings
        ),
        // L5: the round protocol over HTTP: the server (the only target that sees Hummingbird), the
        // fleet's URLSession client, and the one table from refusal reason to HTTP status.
        .target(
            name: "FederationHTTP",
            dependencies: [
                "Federation", "FederationServer", "FederationFleet", "FederationProtocol", "RunStore", "KeyboardCorpus",
                "LanguageModelTypes", "UpdateCodec", "Aggregation", "SecureAggregation",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // L6: the command line.
        .target(
            name: "KbdSimCLI",
            dependencies: [
                "KeyboardCorpus", "LanguageModelTypes", "LanguageModels", "UpdateCodec", "FederatedCore", "Fleet",
                "FederationProtocol", "Federation", "FederationServer", "FederationFleet", "FederationHTTP",
                "QuantizationBench", "RunStore", "RunReport", "Aggregation", "Privacy", "KernelPaths",
                "SecureAggregation", "CZlib",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "KeyboardCorpusTests", dependencies: ["KeyboardCorpus", "CZlib"], swiftSettings: strictSettings),
        .testTarget(
            name: "LanguageModelsTests",
            dependencies: ["LanguageModels", "LanguageModelTypes", "KeyboardCorpus"],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "RunStoreTests", dependencies: ["RunStore"], swiftSettings: strictSettings),
        .testTarget(name: "RunReportTests", dependencies: ["RunReport", "RunStore"], swiftSettings: strictSettings),
        .testTarget(name: "AggregationTests", dependencies: ["Aggregation"], swiftSettings: strictSettings),
        .testTarget(name: "PrivacyTests", dependencies: ["Privacy", "FederatedCore"], swiftSettings: strictSettings),
        .testTarget(
            name: "SecureAggregationTests", dependencies: ["SecureAggregation", "FederatedCore"],
            swiftSettings: strictSettings),
        .testTarget(name: "KbdSimCLITests", dependencies: ["KbdSimCLI", "kbd-sim", "RunStore", "RunReport"], swiftSettings: strictSettings),
        .testTarget(
            name: "FederationHTTPTests",
            dependencies: [
                "FederationHTTP", "Federation", "FederationServer", "FederationFleet", "FederationProtocol", "RunStore",
                "UpdateCodec", "LanguageModelTypes", "LanguageModels", "Aggregation", "SecureAggregation",
                "FederatedCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "KernelPathsTests", dependencies: ["KernelPaths"], swiftSettings: strictSettings),
        .testTarget(
            name: "UpdateCodecTests", dependencies: ["UpdateCodec", "Aggregation"], swiftSettings: strictSettings),
        .testTarget(name: "FleetTests", dependencies: ["Fleet", "KeyboardCorpus"], swiftSettings: strictSettings),
        .testTarget(
            name: "FederationTests",
            dependencies: [
                "FederationTestSupport", "Federation", "FederationServer", "FederationFleet", "FederationProtocol", "FederationHTTP",
                "LanguageModelTypes", "LanguageModels", "RunStore", "UpdateCodec", "KeyboardCorpus", "Fleet",
            ],
            swiftSettings: strictSettings
        ),
        // Fixtures the federation test targets share (public API only, so it builds in any
        // configuration).
        .target(
            name: "FederationTestSupport",
            dependencies: ["FederationServer", "FederationProtocol", "LanguageModelTypes", "RunStore", "FederatedCore"],
            path: "Tests/FederationTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "QuantizationBenchTests",
            dependencies: [
                "FederationTestSupport", "QuantizationBench", "Federation", "FederationServer", "FederationFleet", "FederationProtocol",
                "LanguageModelTypes", "LanguageModels", "RunStore", "FederatedCore", "Fleet",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "SyntheticCorpusTests", dependencies: ["KeyboardCorpus"], swiftSettings: strictSettings),
        // Neural-model benchmark and export helper for tools/bench_lstm.py (see Sources/lstm-bench).
        .executableTarget(
            name: "lstm-bench", dependencies: ["LanguageModels", "LanguageModelTypes", "KernelPaths", "KeyboardCorpus"],
            swiftSettings: strictSettings),
        .executableTarget(name: "kbd-sim", dependencies: ["KbdSimCLI", "KernelPaths", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strictSettings),
    ]
)
