import CBLAS
import LanguageModelTypes

/// Next-word prediction with cached recurrent state: each ``feed(_:)`` costs one LSTM step
/// and one output layer, independent of the prefix length.
///
/// The distribution is the softmax over every id except `<pad>` (0) and `<s>` (2), whose
/// logits are excluded (probability exactly 0): that is the vocabulary words, `<unk>` and
/// `</s>`, as nwp-v1 defines it and exactly what training optimizes. Suggestions
/// (``topK(_:)``) never include a special id; equal scores rank the lower id first.
///
/// A class because it owns scratch buffers; not thread-safe, use one per thread.
public final class LSTMPredictor: NextWordPredictor {
    /// The model served.
    public let model: LSTMLanguageModel
    private let e: Int, h: Int, g: Int, d: Int, v: Int
    private let hState: UnsafeMutablePointer<Float>
    private let cState: UnsafeMutablePointer<Float>
    private let gates: UnsafeMutablePointer<Float>
    private let y: UnsafeMutablePointer<Float>
    private let logitsBuffer: UnsafeMutablePointer<Float>
    private let scratch: UnsafeMutablePointer<Float>
    private var logSumExp: Float = 0
    private var messageGraph: LSTMGraph<Float>?
    private let offsets: (emb: Int, wx: Int, wh: Int, bias: Int, proj: Int?, outBias: Int)

    /// Creates a predictor in the state after `<s>`.
    public init(model: LSTMLanguageModel) {
        self.model = model
        let c = model.config
        e = c.embedding
        h = c.hidden
        g = c.cell.gateBlockCount * c.hidden
        d = c.outputWidth
        v = c.vocabularySize
        let l = model.layout
        offsets = (
            l.requireTensor(named: "embedding").offset, l.requireTensor(named: "lstm.input_kernel").offset,
            l.requireTensor(named: "lstm.recurrent_kernel").offset, l.requireTensor(named: "lstm.bias").offset,
            l.tensor(named: "projection.kernel")?.offset, l.requireTensor(named: "output.bias").offset
        )
        hState = .allocate(capacity: h)
        cState = .allocate(capacity: h)
        gates = .allocate(capacity: g)
        y = .allocate(capacity: d)
        logitsBuffer = .allocate(capacity: v)
        scratch = .allocate(capacity: v)
        openblas_set_num_threads(1)
        reset()
    }

    deinit {
        for p in [hState, cState, gates, y, logitsBuffer, scratch] { p.deallocate() }
    }

    /// The number of ids, `V + 4`.
    public var vocabularyCount: Int { v }

    /// Clears the state and feeds `<s>`: the predictor then predicts a message's first word.
    public func reset() {
        hState.update(repeating: 0, count: h)
        cState.update(repeating: 0, count: h)
        step(SpecialTokenIDs.bos, first: true)
    }

    /// Advances the state by one token (a word id, `<unk>` or `</s>`).
    public func feed(_ id: Int32) {
        precondition(id >= 0 && Int(id) < v, "token id out of range")
        step(id, first: false)
    }

    /// The natural log-probability of `id` as the next token (−∞ for `<pad>` and `<s>`).
    public func logProbability(of id: Int32) -> Float {
        if id == SpecialTokenIDs.pad || id == SpecialTokenIDs.bos { return -.infinity }
        return logitsBuffer[Int(id)] - logSumExp
    }

    /// The `k` most probable next words (ids ≥ 4), most probable first, ties to the lower id.
    public func topK(_ k: Int) -> [Int32] {
        var out = [Int32](repeating: 0, count: k)
        out.withUnsafeMutableBufferPointer { selectTopK(k: k, into: $0.baseAddress!) }
        return out
    }

    public func predictMessage(
        _ ids: UnsafeBufferPointer<Int32>, k: Int, topK: UnsafeMutableBufferPointer<Int32>,
        targetLogProbs: UnsafeMutableBufferPointer<Double>
    ) {
        precondition(topK.count >= ids.count * k && targetLogProbs.count >= ids.count, "output buffers too small")
        if ids.count >= 2 && ids.allSatisfy({ $0 > 0 && Int($0) < v && $0 != SpecialTokenIDs.bos }) {
            // Whole message at once: the output layer becomes one GEMM over all positions
            // instead of one matrix-vector product per word. Same numbers up to rounding.
            let graph = messageGraph ?? LSTMGraph<Float>(config: model.config, softmaxChunkRows: 64)
            messageGraph = graph
            graph.prepare([Array(ids)])
            let scratch = self.scratch
            let v = self.v
            let topBase = topK.baseAddress!
            model.parameters.withUnsafeBufferPointer { pb in
                _ = graph.run(parameters: pb.baseAddress!, gradients: nil, lossScale: 1) { row, logits in
                    guard row < ids.count else { return }  // the last row predicts </s>
                    Self.selectTopK(k: k, logits: logits, v: v, into: topBase + row * k)
                    let target = ids[row]
                    scratch.update(from: logits, count: v)
                    let lse = FastMath.softmaxExcludingPadAndBOS(scratch, count: v)
                    targetLogProbs[row] =
                        target == SpecialTokenIDs.pad || target == SpecialTokenIDs.bos
                        ? -.infinity : Double(logits[Int(target)] - lse)
                }
            }
            return
        }
        reset()
        for (i, id) in ids.enumerated() {
            selectTopK(k: k, into: topK.baseAddress! + i * k)
            targetLogProbs[i] = Double(logProbability(of: id))
            if i + 1 < ids.count { feed(id) }
        }
    }

    private func selectTopK(k: Int, into out: UnsafeMutablePointer<Int32>) {
        Self.selectTopK(k: k, logits: logitsBuffer, v: v, into: out)
    }

    private static func selectTopK(
        k: Int, logits: UnsafeMutablePointer<Float>, v: Int, into out: UnsafeMutablePointer<Int32>
    ) {
        precondition(k >= 1 && k <= v - 4, "k must be in 1...V")
        if k <= 32 {
            // Insertion into a sorted list of k; scanning ids upwards with a strict `>` keeps
            // the lower id ahead on ties.
            var ids = [Int32](repeating: -1, count: k)
            var scores = [Float](repeating: -.infinity, count: k)
            var filled = 0
            for id in 4..<v {
                let s = logits[id]
                if filled == k && !(s > scores[k - 1]) { continue }
                var pos = filled == k ? k - 1 : filled
                while pos > 0 && s > scores[pos - 1] {
                    scores[pos] = scores[pos - 1]
                    ids[pos] = ids[pos - 1]
                    pos -= 1
                }
                scores[pos] = s
                ids[pos] = Int32(id)
                if filled < k { filled += 1 }
            }
            for i in 0..<k { out[i] = ids[i] }
        } else {
            let order = (4..<v).sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
            for i in 0..<k { out[i] = Int32(order[i]) }
        }
    }

    private func step(_ id: Int32, first: Bool) {
        model.parameters.withUnsafeBufferPointer { pb in
            let p = pb.baseAddress!
            let x = p + offsets.emb + Int(id) * e
            gates.update(from: p + offsets.bias, count: g)
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(e), Int32(g), 1, p + offsets.wx, Int32(g), x, 1, 1, gates, 1)
            if !first {
                cblas_sgemv(
                    CblasRowMajor, CblasTrans, Int32(h), Int32(g), 1, p + offsets.wh, Int32(g), hState, 1, 1, gates, 1)
            }
            FastMath.sigmoid(gates, count: g - h)
            FastMath.tanh(gates + g - h, count: h)
            switch model.config.cell {
            case .cifg:
                let f = gates
                let gg = gates + 2 * h
                for j in 0..<h { cState[j] = f[j] * cState[j] + (1 - f[j]) * gg[j] }
            case .lstm:
                let i = gates
                let f = gates + h
                let gg = gates + 3 * h
                for j in 0..<h { cState[j] = f[j] * cState[j] + i[j] * gg[j] }
            }
            hState.update(from: cState, count: h)
            FastMath.tanh(hState, count: h)
            let o = gates + (model.config.cell == .cifg ? h : 2 * h)
            for j in 0..<h { hState[j] *= o[j] }
            let out: UnsafePointer<Float>
            if let po = offsets.proj {
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(h), Int32(d), 1, p + po, Int32(d), hState, 1, 0, y, 1)
                out = UnsafePointer(y)
            } else {
                out = UnsafePointer(hState)
            }
            logitsBuffer.update(from: p + offsets.outBias, count: v)
            cblas_sgemv(
                CblasRowMajor, CblasNoTrans, Int32(v), Int32(d), 1, p + offsets.emb, Int32(d), out, 1, 1, logitsBuffer,
                1)
            scratch.update(from: logitsBuffer, count: v)
            logSumExp = FastMath.softmaxExcludingPadAndBOS(scratch, count: v)
        }
    }
}
