// Benchmark and export helper for the neural keyboard model, driven by tools/bench_lstm.py
// and tools/check_safetensors.py; kbd-sim train/eval are the user-facing commands.
//
//   lstm-bench train CONFIG.json BATCH single|dataParallel|independent STEPS
//   lstm-bench infer CONFIG.json WORDS
//   lstm-bench export-check CONFIG.json OUTDIR     (trains briefly, writes model.safetensors
//                                                   and contexts.json with kbd-sim's top-3)
import Foundation
import KernelPaths
import LanguageModelTypes
import LanguageModels

// First, before any kernel runs: refuse a CPU our SIMD kernels cannot run on, or re-launch
// with better OpenBLAS kernels (docs/kernels.md).
KernelPath.prepareProcess(program: "lstm-bench")

let usage = """
    usage: lstm-bench train CONFIG.json BATCH single|dataParallel|independent STEPS
           lstm-bench infer CONFIG.json WORDS
           lstm-bench export-check CONFIG.json OUTDIR

    train: training tokens/s (target tokens incl. </s>), best of 3 timed repeats of STEPS steps
      on synthetic messages; single = one trainer on one thread, dataParallel = the batch split
      over 2 threads, independent = 2 trainers on 1 thread each (tokens/s summed).
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
guard args.count >= 3 else { fail("usage: lstm-bench train|infer|export-check CONFIG ... (lstm-bench --help)") }
let kernelPath = KernelPath.report()
FileHandle.standardError.write(Data("lstm-bench \(args[1]): kernel path: \(kernelPath.summaryLine)\n".utf8))
let config: ModelConfig
do { config = try ModelConfig.load(contentsOf: URL(fileURLWithPath: args[2])) } catch { fail("\(error)") }

switch args[1] {
case "train":
    guard args.count == 6, let batch = Int(args[3]), let mode = LSTMBenchmark.Parallelism(rawValue: args[4]),
        let steps = Int(args[5])
    else {
        fail("usage: lstm-bench train CONFIG BATCH MODE STEPS")
    }
    let r = try LSTMBenchmark.measureTraining(config: config, batchSize: batch, parallelism: mode, steps: steps)
    print(
        "{\"kind\":\"train\",\"model\":\"\(config.name)\",\"batch\":\(batch),\"mode\":\"\(mode.rawValue)\",\"tokens_per_s\":\(r.tokensPerSecond),\"s_per_step\":\(r.secondsPerStep),\"openblas_core\":\"\(kernelPath.core)\"}"
    )
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
