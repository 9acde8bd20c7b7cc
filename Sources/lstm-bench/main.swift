// Benchmark and export helper for the neural keyboard model, driven by tools/bench_lstm.py
// and tools/check_safetensors.py; kbd-sim train/eval are the user-facing commands.
//
//   lstm-bench train CONFIG.json BATCH single|dataParallel|independent STEPS [--corpus PATH]
//   lstm-bench profile CONFIG.json BATCH STEPS [--corpus PATH]
//   lstm-bench peak
//   lstm-bench infer CONFIG.json WORDS
//   lstm-bench export-check CONFIG.json OUTDIR     (trains briefly, writes model.safetensors
//                                                   and contexts.json with kbd-sim's top-3)
import Foundation
import KernelPaths
import KeyboardCorpus
import LanguageModelTypes
import LanguageModels

// First, before any kernel runs: refuse a CPU our SIMD kernels cannot run on, or re-launch
// with better OpenBLAS kernels (docs/kernels.md).
KernelPath.prepareProcess(program: "lstm-bench")

let usage = """
    usage: lstm-bench train CONFIG.json BATCH single|dataParallel|independent STEPS [OPTIONS]
           lstm-bench profile CONFIG.json BATCH STEPS [OPTIONS]
           lstm-bench peak
           lstm-bench infer CONFIG.json WORDS
           lstm-bench export-check CONFIG.json OUTDIR

    train: training tokens/s (target tokens incl. </s>), best of 3 timed repeats of STEPS steps
      (after 2 warm-up steps); single = one trainer on one thread, dataParallel = the batch
      split over 2 threads, independent = 2 trainers on 1 thread each (tokens/s summed). Also
      the matrix products' GFLOP/s (6n(e·g + h·d + d·V) + 6(n − b)·h·g per step of n target
      tokens and b messages), this core's FMA peak measured in the same run (lstm-bench
      peak) and their ratio, share_of_peak.
    profile: one trainer, one thread; where the time of the timed steps of all repeats goes
      (packing, embedding, cell products, cell elementwise, projection, output products,
      softmax, optimizer, other), as a table on stdout and one JSON line.
    peak: single-thread FMA throughput (GFLOP/s), best of 5 runs.
    products CONFIG [ROWS...]: GFLOP/s of the recurrent step's two products (gates += h·Wh,
      dh += dgates·Whᵀ) through OpenBLAS sgemm and through kbd-sim's small-row kernel,
      alternating, median of 5 rounds; KBD_SIM_SMALL_ROW_GEMM=0 makes training use sgemm.
    softmax CONFIG [ROWS...]: µs per row of the softmax layer's elementwise work, the unfused
      passes against the fused kernel, alternating, median of 7 rounds.
    infer: ms per word (feed one word + top-3), one thread.
    export-check: trains briefly, writes model.safetensors, model.kbdlstm, contexts.json and
      loss.json to OUTDIR for tools/check_safetensors.py.

    CONFIG is a model JSON file (models/*.json) or a built-in name (cifg-small, cifg-gboard).
    Options of train and profile:
      --corpus PATH           real messages instead of the fixed-length synthetic ones: a corpus
                              as kbd-sim train --corpus reads it (e.g. the NUS SMS corpus zip,
                              obtain from the National University of Singapore's SMS corpus
                              page, or synthetic): the training users' messages of the user
                              split, shuffled (seed 1), cut to 64 words, in batches of BATCH.
                              The model's vocabulary becomes the corpus's (--vocab words + 4).
      --vocab N               vocabulary size for --corpus (default 10000)
      --repeats N             timed repeats (default 3)
      --export-batches FILE   write the batches as JSON ({"vocabularySize", "batches"}) for
                              tools/torch_lstm.py, so PyTorch trains on the same batches
    infer: ms per word (feed one word + top-3), one thread.
    export-check: trains briefly, writes model.safetensors, model.kbdlstm, contexts.json and
      loss.json to OUTDIR for tools/check_safetensors.py.

    Prints one JSON line on stdout, after a header line on stderr naming the kernel path
    (OpenBLAS core and who chose it; see kbd-sim doctor and docs/kernels.md).

    Example:
      OPENBLAS_NUM_THREADS=1 lstm-bench train models/cifg-small.json 8 single 20
    """
let args = CommandLine.arguments
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(64)
}
if args.count == 2, ["--help", "-h", "help"].contains(args[1]) {
    print(usage)
    exit(0)
}
let kernelPath = KernelPath.report()
if args.count == 2, args[1] == "peak" {
    FileHandle.standardError.write(Data("lstm-bench peak: kernel path: \(kernelPath.summaryLine)\n".utf8))
    let peak = PeakFLOPS.measureGFLOPS()
    print("{\"kind\":\"peak\",\"peak_gflops\":\(peak),\"openblas_core\":\"\(kernelPath.core)\"}")
    exit(0)
}
guard args.count >= 3 else {
    fail("usage: lstm-bench train|profile|peak|infer|export-check CONFIG ... (lstm-bench --help)")
}
FileHandle.standardError.write(Data("lstm-bench \(args[1]): kernel path: \(kernelPath.summaryLine)\n".utf8))
var config: ModelConfig
if let preset = ModelConfig.preset(named: args[2]) {
    config = preset
} else {
    do { config = try ModelConfig.load(contentsOf: URL(fileURLWithPath: args[2])) } catch { fail("\(error)") }
}

/// The options after the positional arguments of train and profile.
struct BatchOptions {
    var corpus: String?
    var vocab = 10_000
    var repeats = 3
    var exportBatches: String?

    init(_ rest: ArraySlice<String>) {
        var i = rest.startIndex
        func value() -> String {
            guard i + 1 < rest.endIndex else { fail("\(rest[i]) needs a value (lstm-bench --help)") }
            i += 1
            return rest[i]
        }
        while i < rest.endIndex {
            switch rest[i] {
            case "--corpus": corpus = value()
            case "--vocab":
                guard let n = Int(value()), n >= 1 else { fail("--vocab needs a positive integer") }
                vocab = n
            case "--repeats":
                guard let n = Int(value()), n >= 1 else { fail("--repeats needs a positive integer") }
                repeats = n
            case "--export-batches": exportBatches = value()
            default: fail("unknown option \(rest[i]) (lstm-bench --help)")
            }
            i += 1
        }
    }

    /// The batches to time (2 warm-up + `steps`), and the config with the corpus's vocabulary.
    func batches(config: ModelConfig, batchSize: Int, steps: Int) throws -> (ModelConfig, [[[Int32]]], String) {
        guard let corpus else {
            return (
                config, LSTMBenchmark.syntheticBatches(config: config, batchSize: batchSize, count: steps + 2), "fixed"
            )
        }
        let loaded = try CorpusLoader().load(path: corpus)
        let data = try EncodedSplit(corpus: loaded, split: .users, vocabularySize: vocab)
        var config = config
        config.vocabularySize = data.vocabulary.count
        let batches = LSTMBenchmark.corpusBatches(messages: data.trainMessages, batchSize: batchSize, count: steps + 2)
        return (config, batches, corpus)
    }

    func export(_ batches: [[[Int32]]], config: ModelConfig) throws {
        guard let exportBatches else { return }
        let rows = batches.map { b in "[" + b.map { "\($0)" }.joined(separator: ",") + "]" }
        let text =
            "{\"vocabularySize\":\(config.vocabularySize),\"batches\":[\n" + rows.joined(separator: ",\n") + "\n]}\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: exportBatches))
    }
}

/// The messages' name for the JSON line: "fixed" (synthetic, fixed lengths) or the corpus path's last part.
func sourceName(_ source: String) -> String {
    source == "fixed" || source.hasPrefix("synthetic") ? source : URL(fileURLWithPath: source).lastPathComponent
}

switch args[1] {
case "train":
    guard args.count >= 6, let batch = Int(args[3]), batch >= 1,
        let mode = LSTMBenchmark.Parallelism(rawValue: args[4]),
        let steps = Int(args[5]), steps >= 1
    else {
        fail("usage: lstm-bench train CONFIG BATCH MODE STEPS [--corpus PATH] (lstm-bench --help)")
    }
    let options = BatchOptions(args[6...])
    let (trainConfig, batches, source) = try options.batches(config: config, batchSize: batch, steps: steps)
    try options.export(batches, config: trainConfig)
    // The peak before and after the training run, best kept: both in this process, this run.
    let peakBefore = PeakFLOPS.measureGFLOPS()
    let r = try LSTMBenchmark.measureTraining(
        config: trainConfig, batches: batches, parallelism: mode, repeats: options.repeats)
    let peak = max(peakBefore, PeakFLOPS.measureGFLOPS())
    let threads = mode == .single ? 1 : 2
    let share = r.matrixGFLOPS / (peak * Double(threads))
    FileHandle.standardError.write(
        Data(
            "lstm-bench train: \(config.name) batch \(batch) \(mode.rawValue), \(sourceName(source)) messages: \(Int(r.tokensPerSecond)) tokens/s, \(String(format: "%.1f", r.matrixGFLOPS)) GFLOP/s in matrix products, peak \(String(format: "%.1f", peak)) GFLOP/s per core (FMA loop, this run): \(String(format: "%.1f", share * 100))% of peak\n"
                .utf8))
    print(
        "{\"kind\":\"train\",\"model\":\"\(config.name)\",\"batch\":\(batch),\"mode\":\"\(mode.rawValue)\",\"messages\":\"\(sourceName(source))\",\"tokens_per_s\":\(r.tokensPerSecond),\"s_per_step\":\(r.secondsPerStep),\"tokens_per_step\":\(r.tokensPerStep),\"train_gflops\":\(r.matrixGFLOPS),\"peak_gflops\":\(peak),\"share_of_peak\":\(share),\"openblas_core\":\"\(kernelPath.core)\"}"
    )
case "profile":
    guard args.count >= 5, let batch = Int(args[3]), batch >= 1, let steps = Int(args[4]), steps >= 1 else {
        fail("usage: lstm-bench profile CONFIG BATCH STEPS [--corpus PATH] (lstm-bench --help)")
    }
    let options = BatchOptions(args[5...])
    let (trainConfig, batches, source) = try options.batches(config: config, batchSize: batch, steps: steps)
    let profile = TrainingProfile()
    let r = try LSTMBenchmark.measureTraining(
        config: trainConfig, batches: batches, parallelism: .single, repeats: options.repeats, profile: profile)
    let total = profile.totalSeconds
    print("| phase | ms/step | share |")
    print("| --- | ---: | ---: |")
    var parts: [String] = []
    for phase in TrainingProfile.Phase.allCases {
        let s = profile.seconds(phase)
        print(
            "| \(phase) | \(String(format: "%.2f", s * 1000 / Double(profile.steps))) | \(String(format: "%.1f", s / total * 100))% |"
        )
        parts.append("\"\(phase)\":\(s / Double(profile.steps))")
    }
    print(
        "| total | \(String(format: "%.2f", total * 1000 / Double(profile.steps))) | \(Int(Double(profile.tokens) / total)) tokens/s (\(String(format: "%.1f", Double(profile.tokens) / Double(profile.steps))) tokens/step) |"
    )
    print(
        "{\"kind\":\"profile\",\"model\":\"\(config.name)\",\"batch\":\(batch),\"messages\":\"\(sourceName(source))\",\"steps\":\(profile.steps),\"tokens_per_step\":\(Double(profile.tokens) / Double(profile.steps)),\"profiled_tokens_per_s\":\(Double(profile.tokens) / total),\"best_tokens_per_s\":\(r.tokensPerSecond),\"s_per_step\":{\(parts.joined(separator: ","))},\"openblas_core\":\"\(kernelPath.core)\"}"
    )
case "products":
    // lstm-bench products CONFIG [ROWS...]: the recurrent step's products, sgemm vs own kernel.
    let rowsList = args.count > 3 ? args[3...].compactMap { Int($0) } : [1, 2, 4, 8, 16, 32, 64]
    print(
        "| rows | forward sgemm | forward own | own/sgemm | backward sgemm | backward own | own/sgemm | max rel. diff |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rows in rowsList {
        let r = LSTMBenchmark.compareRecurrentProducts(config: config, rows: rows)
        func f(_ x: Double) -> String { String(format: "%.1f", x) }
        print(
            "| \(rows) | \(f(r.forwardOpenBLAS)) | \(f(r.forwardOwn)) | \(String(format: "%.2f", r.forwardOwn / r.forwardOpenBLAS))× | \(f(r.backwardOpenBLAS)) | \(f(r.backwardOwn)) | \(String(format: "%.2f", r.backwardOwn / r.backwardOpenBLAS))× | \(String(format: "%.1e", r.maxRelativeDifference)) |"
        )
    }
case "softmax":
    // lstm-bench softmax CONFIG [ROWS...]: the softmax layer's elementwise work, unfused vs fused.
    for rows in (args.count > 3 ? args[3...].compactMap { Int($0) } : [52, 104, 256]) {
        let r = LSTMBenchmark.compareSoftmax(rows: rows, vocabularySize: config.vocabularySize)
        print(
            "| \(rows) | \(String(format: "%.1f", r.unfused * 1e6)) µs/row | \(String(format: "%.1f", r.fused * 1e6)) µs/row | \(String(format: "%.2f", r.unfused / r.fused))× |"
        )
    }
case "infer":
    guard args.count == 4, let words = Int(args[3]) else { fail("usage: lstm-bench infer CONFIG WORDS") }
    let s = try LSTMBenchmark.measureInference(config: config, words: words)
    print(
        "{\"kind\":\"infer\",\"model\":\"\(config.name)\",\"ms_per_word\":\(s * 1000),\"openblas_core\":\"\(kernelPath.core)\"}"
    )
case "export-check":
    guard args.count == 4 else { fail("usage: lstm-bench export-check CONFIG OUTDIR") }
    let out = URL(fileURLWithPath: args[3])
    try? FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    // Train briefly on structured synthetic data so the top-3 are well separated.
    let messages = (0..<400).map { LSTMBenchmark.message($0, vocabularySize: min(config.vocabularySize, 200)) }
    let trainer = LSTMTrainer(
        model: try LSTMLanguageModel(config: config),
        options: TrainingOptions(batchSize: 16, learningRate: 0.003, optimizer: .adam(clipNorm: 5), seed: 1))
    _ = trainer.train(messages, epochs: 2)
    let model = trainer.model
    try model.exportSafetensors(to: out.appendingPathComponent("model.safetensors"))
    try model.write(to: out.appendingPathComponent("model.kbdlstm"))
    let predictor = LSTMPredictor(model: model)
    var rows: [String] = []
    for i in 0..<100 {
        let context = Array(LSTMBenchmark.message(1000 + i, vocabularySize: config.vocabularySize).prefix(i % 12))
        predictor.reset()
        for id in context { predictor.feed(id) }
        let top = predictor.topK(3)
        let lp = top.map { predictor.logProbability(of: $0) }
        rows.append("{\"context\":\(context),\"top3\":\(top),\"logprobs\":\(lp)}")
    }
    try Data(("[\n" + rows.joined(separator: ",\n") + "\n]\n").utf8).write(
        to: out.appendingPathComponent("contexts.json"))
    let lossMessages = (0..<32).map { LSTMBenchmark.message($0, vocabularySize: config.vocabularySize) }
    let meanLoss = model.meanLoss(on: lossMessages, batchSize: 32)
    try Data("{\"messages\":\(lossMessages),\"mean_loss\":\(meanLoss)}\n".utf8).write(
        to: out.appendingPathComponent("loss.json"))
    print("wrote \(out.path)/model.safetensors and contexts.json (layout \(String(model.layoutHash, radix: 16)))")
default:
    fail("unknown command \(args[1])")
}
