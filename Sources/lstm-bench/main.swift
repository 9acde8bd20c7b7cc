// Benchmark and export helper for the neural keyboard model, driven by tools/bench_lstm.py
// and tools/check_safetensors.py. The integrator may fold it into `kbd-sim bench lstm`.
//
//   lstm-bench train CONFIG.json BATCH single|dataParallel|independent STEPS
//   lstm-bench infer CONFIG.json WORDS
//   lstm-bench train-ids CONFIG.json IDS.json EPOCHS LR BATCH OUT.kbdlstm
//                                                  (centralized Adam training on pre-tokenized ids
//                                                   from tools/nus_sms_ids.py, nwp-v1 eval per epoch)
//   lstm-bench eval-ids MODEL.kbdlstm IDS.json      (nwp-v1 acc@1/acc@3/acc@1-iv/ppl on the test users)
//   lstm-bench export-check CONFIG.json OUTDIR     (trains briefly, writes model.safetensors
//                                                   and contexts.json with kbd-sim's top-3)
import Foundation
import LanguageModels


/// nwp-v1 figures of a model on pre-tokenized evaluation messages, via NextWordPredictor.
func evaluate(_ model: LSTMLanguageModel, on test: [[Int32]]) -> (Int, Int, Int, Int, Int, Double, Double) {
    let start = Date()
    let predictor = LSTMPredictor(model: model)
    var hits1 = 0, hits3 = 0, hitsIV = 0, iv = 0, n = 0
    var nll = 0.0
    for m in test where !m.isEmpty {
        var top = [Int32](repeating: 0, count: m.count * 3)
        var lp = [Double](repeating: 0, count: m.count)
        m.withUnsafeBufferPointer { ids in
            top.withUnsafeMutableBufferPointer { t in lp.withUnsafeMutableBufferPointer { predictor.predictMessage(ids, k: 3, topK: t, targetLogProbs: $0) } }
        }
        for i in 0..<m.count {
            n += 1
            nll -= lp[i]
            if m[i] == 1 { continue }
            iv += 1
            if top[3 * i] == m[i] { hits1 += 1; hitsIV += 1 }
            if top[3 * i..<3 * i + 3].contains(m[i]) { hits3 += 1 }
        }
    }
    return (hits1, hits3, hitsIV, iv, n, nll, Date().timeIntervalSince(start))
}

let args = CommandLine.arguments
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(64)
}
guard args.count >= 3 else { fail("usage: lstm-bench train|infer|export-check|train-ids CONFIG ... | eval-ids MODEL IDS") }
let config: ModelConfig
if args[1] == "eval-ids" {
    config = ModelConfig(name: "-", vocabularySize: 5, embedding: 1, hidden: 1, projection: 0, cell: .cifg)
} else {
    do { config = try ModelConfig.load(contentsOf: URL(fileURLWithPath: args[2])) } catch { fail("\(error)") }
}

switch args[1] {
case "train":
    guard args.count == 6, let batch = Int(args[3]), let mode = LSTMBenchmark.Parallelism(rawValue: args[4]), let steps = Int(args[5]) else {
        fail("usage: lstm-bench train CONFIG BATCH MODE STEPS")
    }
    let r = try LSTMBenchmark.measureTraining(config: config, batchSize: batch, parallelism: mode, steps: steps)
    print("{\"kind\":\"train\",\"model\":\"\(config.name)\",\"batch\":\(batch),\"mode\":\"\(mode.rawValue)\",\"tokens_per_s\":\(r.tokensPerSecond),\"s_per_step\":\(r.secondsPerStep)}")
case "infer":
    guard args.count == 4, let words = Int(args[3]) else { fail("usage: lstm-bench infer CONFIG WORDS") }
    let s = try LSTMBenchmark.measureInference(config: config, words: words)
    print("{\"kind\":\"infer\",\"model\":\"\(config.name)\",\"ms_per_word\":\(s * 1000)}")
case "eval-ids":
    guard args.count == 4 else { fail("usage: lstm-bench eval-ids MODEL.kbdlstm IDS.json") }
    let model = try LSTMLanguageModel(contentsOf: URL(fileURLWithPath: args[2]))
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: args[3]))) as! [String: Any]
    let test = (json["test"] as! [[Int]]).map { $0.map(Int32.init) }
    let (hits1, hits3, hitsIV, iv, n, nll, seconds) = evaluate(model, on: test)
    print("acc@1 \(Double(hits1) / Double(n)) acc@3 \(Double(hits3) / Double(n)) acc@1-iv \(Double(hitsIV) / Double(iv)) ppl \(exp(nll / Double(n))) over \(n) predictions (\(String(format: "%.1f", seconds)) s)")
case "export-check":
    guard args.count == 4 else { fail("usage: lstm-bench export-check CONFIG OUTDIR") }
    let out = URL(fileURLWithPath: args[3])
    try? FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    // Train briefly on structured synthetic data so the top-3 are well separated.
    let messages = (0..<400).map { LSTMBenchmark.message($0, vocabularySize: min(config.vocabularySize, 200)) }
    let trainer = LSTMTrainer(model: try LSTMLanguageModel(config: config), options: TrainingOptions(batchSize: 16, learningRate: 0.003, optimizer: .adam(clipNorm: 5), seed: 1))
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
    try Data(("[\n" + rows.joined(separator: ",\n") + "\n]\n").utf8).write(to: out.appendingPathComponent("contexts.json"))
    let lossMessages = (0..<32).map { LSTMBenchmark.message($0, vocabularySize: config.vocabularySize) }
    let meanLoss = model.meanLoss(on: lossMessages, batchSize: 32)
    try Data("{\"messages\":\(lossMessages),\"mean_loss\":\(meanLoss)}\n".utf8).write(to: out.appendingPathComponent("loss.json"))
    print("wrote \(out.path)/model.safetensors and contexts.json (layout \(String(model.layoutHash, radix: 16)))")
case "train-ids":
    guard args.count == 8, let epochs = Int(args[4]), let lr = Float(args[5]), let batch = Int(args[6]) else {
        fail("usage: lstm-bench train-ids CONFIG IDS.json EPOCHS LR BATCH OUT")
    }
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: args[3]))) as! [String: Any]
    let train = (json["train"] as! [[Int]]).map { $0.map(Int32.init) }
    let test = (json["test"] as! [[Int]]).map { $0.map(Int32.init) }
    var cfg = config
    cfg.vocabularySize = json["vocabularySize"] as! Int
    var initial = try LSTMLanguageModel(config: cfg)
    if ProcessInfo.processInfo.environment["KBD_UNIGRAM_BIAS"] != nil { initial.initializeOutputBiasFromUnigram(of: train) }
    var trainOptions = TrainingOptions(batchSize: batch, learningRate: lr, optimizer: .adam(clipNorm: 5), seed: 1)
    if let d = ProcessInfo.processInfo.environment["KBD_DROPOUT"].flatMap(Float.init) { trainOptions.dropout = d }
    if let d = ProcessInfo.processInfo.environment["KBD_LR_DECAY"].flatMap(Float.init) { trainOptions.learningRateDecay = d }
    let trainer = LSTMTrainer(model: initial, options: trainOptions)
    for epoch in 0..<epochs {
        let start = Date()
        let loss = trainer.trainEpoch(train, epoch: epoch)
        let trainSeconds = Date().timeIntervalSince(start)
        let (hits1, hits3, hitsIV, iv, n, nll, _) = evaluate(trainer.model, on: test)
        FileHandle.standardOutput.write(Data(("epoch \(epoch + 1): train loss \(loss) nats/token (\(Int(trainSeconds)) s); eval acc@1 \(Double(hits1) / Double(n)) acc@3 \(Double(hits3) / Double(n)) acc@1-iv \(Double(hitsIV) / Double(iv)) ppl \(exp(nll / Double(n))) over \(n) predictions\n").utf8))
        FileHandle.standardOutput.synchronizeFile()
    }
    try trainer.model.write(to: URL(fileURLWithPath: args[7]))
default:
    fail("unknown command \(args[1])")
}
