import FederatedCore
import Foundation
import LanguageModelTypes

/// The forward pass and backpropagation through time of the LSTM language model over one
/// batch of messages, in scalar type `S`.
///
/// Batches are *packed* rather than padded (like PyTorch's `PackedSequence`): messages are
/// sorted by length, longest first, and step `t` holds the rows of the messages still
/// running, `activeCount[t]` of them, starting at row `stepOffset[t]`. This is a padded
/// time-major batch with its mask applied structurally: padded positions are neither
/// computed nor trained on, so every GEMM and the softmax see only real positions.
///
/// Each message `w1..wn` becomes inputs `<s> w1..wn` and targets `w1..wn </s>`. The loss is
/// the sum over real positions of `−log p(target)`, where `p` is the softmax over every id
/// except `<pad>` and `<s>`; gradients are of `lossScale ×` that sum.
///
/// Not thread-safe: one graph per worker. Scratch buffers grow to the largest batch seen.
final class LSTMGraph<S: LSTMScalar> {
    let vocabularySize: Int
    let embeddingWidth: Int
    let hiddenWidth: Int
    let projectionWidth: Int
    let outputWidth: Int
    let gateWidth: Int
    let cell: RecurrentCellKind
    let layout: ParameterLayout
    /// Rows of the softmax layer processed at once, so the logits stay in cache.
    let softmaxChunkRows: Int

    // Offsets of the tensors in the flat parameter / gradient buffers.
    let embeddingOffset: Int
    let inputKernelOffset: Int
    let recurrentKernelOffset: Int
    let biasOffset: Int
    let projectionOffset: Int?
    let outputBiasOffset: Int

    // Batch structure.
    private(set) var stepCount = 0
    private(set) var messageCount = 0
    private(set) var rowCount = 0
    private(set) var stepOffset: [Int] = []
    private(set) var activeCount: [Int] = []
    private(set) var inputIDs: [Int32] = []
    private(set) var targetIDs: [Int32] = []

    // Scratch, grown on demand.
    private var capacityRows = 0
    private var capacityMessages = 0
    private var x: UnsafeMutablePointer<S>
    private var gates: UnsafeMutablePointer<S>
    private var cells: UnsafeMutablePointer<S>
    private var tanhCells: UnsafeMutablePointer<S>
    private var hs: UnsafeMutablePointer<S>
    private var hPrev: UnsafeMutablePointer<S>
    private var ys: UnsafeMutablePointer<S>
    private var dYs: UnsafeMutablePointer<S>
    private var dHs: UnsafeMutablePointer<S>
    private var dGates: UnsafeMutablePointer<S>
    private var dX: UnsafeMutablePointer<S>
    private var dcNext: UnsafeMutablePointer<S>
    private let logits: UnsafeMutablePointer<S>
    /// The recurrent kernel transposed (`g × h`), so the forward step's product reads rows.
    private let recurrentTransposed: UnsafeMutablePointer<S>
    private var maskX: UnsafeMutablePointer<S>
    private var maskY: UnsafeMutablePointer<S>

    /// Inverted-dropout rate on the embedding output and on the input of the softmax layer
    /// (Zaremba et al. 2014), applied only when gradients are requested; 0 disables it.
    var dropout: S = 0
    /// Seeds this run's dropout masks (SplitMix64), so training stays bit-reproducible.
    var dropoutSeed: UInt64 = 0
    /// When set, ``run(parameters:gradients:lossScale:inspectLogits:)`` charges its time to
    /// the profile's phases (the caller starts the clock); nil reads no clock.
    var profile: TrainingProfile?

    init(config: ModelConfig, softmaxChunkRows: Int = LSTMGraph.defaultSoftmaxChunkRows) {
        precondition((try? config.validate()) != nil, "invalid model config")
        vocabularySize = config.vocabularySize
        embeddingWidth = config.embedding
        hiddenWidth = config.hidden
        projectionWidth = config.projection
        outputWidth = config.outputWidth
        gateWidth = config.cell.gateBlockCount * config.hidden
        cell = config.cell
        layout = ParameterLayout(config: config)
        self.softmaxChunkRows = softmaxChunkRows
        embeddingOffset = layout.requireTensor(named: "embedding").offset
        inputKernelOffset = layout.requireTensor(named: "lstm.input_kernel").offset
        recurrentKernelOffset = layout.requireTensor(named: "lstm.recurrent_kernel").offset
        biasOffset = layout.requireTensor(named: "lstm.bias").offset
        projectionOffset = layout.tensor(named: "projection.kernel")?.offset
        outputBiasOffset = layout.requireTensor(named: "output.bias").offset
        x = .allocate(capacity: 1)
        gates = .allocate(capacity: 1)
        cells = .allocate(capacity: 1)
        tanhCells = .allocate(capacity: 1)
        hs = .allocate(capacity: 1)
        hPrev = .allocate(capacity: 1)
        ys = .allocate(capacity: 1)
        dYs = .allocate(capacity: 1)
        dHs = .allocate(capacity: 1)
        dGates = .allocate(capacity: 1)
        dX = .allocate(capacity: 1)
        dcNext = .allocate(capacity: 1)
        logits = .allocate(capacity: softmaxChunkRows * config.vocabularySize)
        recurrentTransposed = .allocate(capacity: gateWidth * hiddenWidth)
        maskX = .allocate(capacity: 1)
        maskY = .allocate(capacity: 1)
    }

    /// Tuning knob for experiments: `KBD_SOFTMAX_CHUNK` overrides the default.
    static var defaultSoftmaxChunkRows: Int {
        if let s = getenv("KBD_SOFTMAX_CHUNK"), let n = Int(String(cString: s)), n > 0 { return n }
        // Measured on cifg-small (tools/bench_lstm.py): 128–256 rows beat 32/64 (more passes
        // over the [V, d] embedding gradient) and whole-batch chunks (logits fall out of cache).
        return 256
    }

    deinit {
        for p in [
            x, gates, cells, tanhCells, hs, hPrev, ys, dYs, dHs, dGates, dX, dcNext, logits, maskX, maskY,
            recurrentTransposed,
        ] {
            p.deallocate()
        }
    }

    private func reserve(rows: Int, messages: Int) {
        if rows > capacityRows {
            let n = max(rows, capacityRows * 3 / 2)
            func grow(_ p: inout UnsafeMutablePointer<S>, _ width: Int) {
                p.deallocate()
                p = .allocate(capacity: n * width)
            }
            grow(&x, embeddingWidth)
            grow(&gates, gateWidth)
            grow(&cells, hiddenWidth)
            grow(&tanhCells, hiddenWidth)
            grow(&hs, hiddenWidth)
            grow(&hPrev, hiddenWidth)
            grow(&ys, outputWidth)
            grow(&dYs, outputWidth)
            grow(&dHs, hiddenWidth)
            grow(&dGates, gateWidth)
            grow(&dX, embeddingWidth)
            grow(&maskX, embeddingWidth)
            grow(&maskY, outputWidth)
            capacityRows = n
        }
        if messages > capacityMessages {
            dcNext.deallocate()
            dcNext = .allocate(capacity: messages * hiddenWidth)
            capacityMessages = messages
        }
    }

    /// Packs a batch. Each message is word ids without `<s>`/`</s>`; ids must be in
    /// `1..<vocabularySize` and not `<s>`.
    func prepare(_ messages: some Collection<some Collection<Int32>>) {
        let lengths = messages.map { $0.count + 1 }
        let order = lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] > lengths[$1] : $0 < $1 }
        let all = Array(messages)
        messageCount = all.count
        stepCount = lengths.max() ?? 0
        rowCount = lengths.reduce(0, +)
        stepOffset = [Int](repeating: 0, count: stepCount + 1)
        activeCount = [Int](repeating: 0, count: stepCount)
        for length in lengths {
            for t in 0..<length { activeCount[t] += 1 }
        }
        for t in 0..<stepCount { stepOffset[t + 1] = stepOffset[t] + activeCount[t] }
        inputIDs = [Int32](repeating: SpecialTokenIDs.bos, count: rowCount)
        targetIDs = [Int32](repeating: SpecialTokenIDs.eos, count: rowCount)
        let v = Int32(vocabularySize)
        for (slot, m) in order.enumerated() {
            var t = 0
            for id in all[m] {
                precondition(id > 0 && id < v && id != SpecialTokenIDs.bos, "token id out of range")
                targetIDs[stepOffset[t] + slot] = id
                inputIDs[stepOffset[t + 1] + slot] = id
                t += 1
            }
        }
        reserve(rows: rowCount, messages: messageCount)
    }

    /// Runs the forward pass (and, if `gradients` is non-nil, the backward pass) over the
    /// prepared batch.
    ///
    /// - Parameters:
    ///   - parameters: the flat parameter buffer (``ParameterLayout``).
    ///   - gradients: receives `lossScale · ∂(sum CE)/∂parameters`, overwriting every element.
    /// - Returns: the summed cross-entropy (nats) over all real positions.
    @discardableResult
    func run(
        parameters: UnsafePointer<S>, gradients: UnsafeMutablePointer<S>?, lossScale: S,
        inspectLogits: ((_ row: Int, _ logits: UnsafeMutablePointer<S>) -> Void)? = nil
    ) -> Double {
        let n = rowCount
        // Class properties are read once here: no exclusivity checks in the loops below.
        let x = self.x
        let gates = self.gates
        let cells = self.cells
        let tanhCells = self.tanhCells
        let hs = self.hs
        let hPrev = self.hPrev
        let ys = self.ys
        let dYs = self.dYs
        let dHs = self.dHs
        let dGates = self.dGates
        let dX = self.dX
        let dcNext = self.dcNext
        let logits = self.logits
        let stepOffset = self.stepOffset
        let activeCount = self.activeCount
        let inputIDs = self.inputIDs
        let targetIDs = self.targetIDs
        let stepCount = self.stepCount
        let messageCount = self.messageCount
        let cell = self.cell
        let softmaxChunkRows = self.softmaxChunkRows
        let projectionOffset = self.projectionOffset
        let maskX = self.maskX
        let maskY = self.maskY
        let profile = self.profile
        let useDropout = gradients != nil && dropout > 0
        if useDropout {
            var rng = SplitMix64(seed: dropoutSeed)
            let keep = 1 / (1 - dropout)
            let p = Float(dropout)
            for i in 0..<(n * embeddingWidth) { maskX[i] = rng.nextUnitFloat() < p ? 0 : keep }
            for i in 0..<(n * outputWidth) { maskY[i] = rng.nextUnitFloat() < p ? 0 : keep }
        }
        profile?.lap(.embedding)
        if n == 0 {
            if let gradients { gradients.update(repeating: 0, count: layout.parameterCount) }
            return 0
        }
        let e = embeddingWidth
        let h = hiddenWidth
        let g = gateWidth
        let d = outputWidth
        let v = vocabularySize
        let emb = parameters + embeddingOffset
        let wx = parameters + inputKernelOffset
        let wh = parameters + recurrentKernelOffset
        let bias = parameters + biasOffset
        let outBias = parameters + outputBiasOffset

        // Embedding lookup and input pre-activations for all steps: one GEMM.
        for r in 0..<n {
            (x + r * e).update(from: emb + Int(inputIDs[r]) * e, count: e)
            (gates + r * g).update(from: bias, count: g)
        }
        if useDropout { for i in 0..<(n * e) { x[i] *= maskX[i] } }
        profile?.lap(.embedding)
        S.gemm(
            transA: false, transB: false, m: n, n: g, k: e, alpha: 1, a: x, lda: e, b: wx, ldb: g, beta: 1, c: gates,
            ldc: g)
        profile?.lap(.cellProducts)

        // Recurrence.
        let whT = recurrentTransposed
        let fewRowLimits = S.fewRowLimits
        if stepCount > 1 && fewRowLimits.forward > 0 { transpose(wh, rows: h, columns: g, into: whT) }
        profile?.lap(.cellProducts)
        let sigmoidWidth = g - h
        for t in 0..<stepCount {
            let r0 = stepOffset[t]
            let bt = activeCount[t]
            if t > 0 {
                let p0 = stepOffset[t - 1]
                if bt <= fewRowLimits.forward {
                    S.gemmFewRows(m: bt, n: g, k: h, a: hs + p0 * h, lda: h, b: whT, ldb: h, c: gates + r0 * g, ldc: g)
                } else {
                    S.gemm(
                        transA: false, transB: false, m: bt, n: g, k: h, alpha: 1, a: hs + p0 * h, lda: h, b: wh,
                        ldb: g, beta: 1, c: gates + r0 * g, ldc: g)
                }
                profile?.lap(.cellProducts)
                if gradients != nil { (hPrev + r0 * h).update(from: hs + p0 * h, count: bt * h) }
            }
            for b in 0..<bt {
                let row = gates + (r0 + b) * g
                S.sigmoidInPlace(row, count: sigmoidWidth)
                S.tanhInPlace(row + sigmoidWidth, count: h)
            }
            let cPrevBase: UnsafeMutablePointer<S>? = t > 0 ? cells + stepOffset[t - 1] * h : nil
            for b in 0..<bt {
                let row = gates + (r0 + b) * g
                let c = cells + (r0 + b) * h
                let cp = cPrevBase.map { $0 + b * h }
                switch cell {
                case .cifg:
                    let f = row
                    let gg = row + 2 * h
                    if let cp {
                        for j in 0..<h { c[j] = f[j] * cp[j] + (1 - f[j]) * gg[j] }
                    } else {
                        for j in 0..<h { c[j] = (1 - f[j]) * gg[j] }
                    }
                case .lstm:
                    let i = row
                    let f = row + h
                    let gg = row + 3 * h
                    if let cp {
                        for j in 0..<h { c[j] = f[j] * cp[j] + i[j] * gg[j] }
                    } else {
                        for j in 0..<h { c[j] = i[j] * gg[j] }
                    }
                }
            }
            (tanhCells + r0 * h).update(from: cells + r0 * h, count: bt * h)
            S.tanhInPlace(tanhCells + r0 * h, count: bt * h)
            let outGate = cell == .cifg ? h : 2 * h
            for b in 0..<bt {
                let o = gates + (r0 + b) * g + outGate
                let tc = tanhCells + (r0 + b) * h
                let hh = hs + (r0 + b) * h
                for j in 0..<h { hh[j] = o[j] * tc[j] }
            }
            profile?.lap(.cellElementwise)
        }

        // Projection.
        let y: UnsafeMutablePointer<S>
        if let po = projectionOffset {
            S.gemm(
                transA: false, transB: false, m: n, n: d, k: h, alpha: 1, a: hs, lda: h, b: parameters + po, ldb: d,
                beta: 0, c: ys, ldc: d)
            y = ys
            profile?.lap(.projectionProducts)
        } else if useDropout {
            ys.update(from: hs, count: n * h)
            y = ys
        } else {
            y = hs
        }
        if useDropout { for i in 0..<(n * d) { y[i] *= maskY[i] } }
        profile?.lap(.embedding)

        // Tied softmax layer, chunk by chunk, with fused cross-entropy and its gradient.
        var loss = 0.0
        let gEmb = gradients.map { $0 + embeddingOffset }
        let gOutBias = gradients.map { $0 + outputBiasOffset }
        if let gOutBias { gOutBias.update(repeating: 0, count: v) }
        profile?.lap(.softmax)
        var chunkStart = 0
        while chunkStart < n {
            let rows = min(softmaxChunkRows, n - chunkStart)
            if let inspectLogits {
                // Someone looks at the logits (bias included): the unfused path.
                for r in 0..<rows { (logits + r * v).update(from: outBias, count: v) }
                S.gemm(
                    transA: false, transB: true, m: rows, n: v, k: d, alpha: 1, a: y + chunkStart * d, lda: d, b: emb,
                    ldb: d, beta: 1, c: logits, ldc: v)
                profile?.lap(.outputProducts)
                for r in 0..<rows {
                    let row = logits + r * v
                    let target = Int(targetIDs[chunkStart + r])
                    inspectLogits(chunkStart + r, row)
                    let targetLogit = row[target]
                    let lse = S.softmaxExcludingPadAndBOS(row, count: v)
                    loss += Double(lse - targetLogit)
                    if gradients != nil {
                        row[target] -= 1
                        if lossScale != 1 { for j in 0..<v { row[j] *= lossScale } }
                    }
                }
                if let gOutBias {
                    for r in 0..<rows {
                        let row = logits + r * v
                        for j in 0..<v { gOutBias[j] += row[j] }
                    }
                }
            } else {
                // Logits without the bias (beta 0: no copy pass, the product does not read C),
                // then softmax + cross-entropy + gradient + bias gradient fused per row.
                S.gemm(
                    transA: false, transB: true, m: rows, n: v, k: d, alpha: 1, a: y + chunkStart * d, lda: d, b: emb,
                    ldb: d, beta: 0, c: logits, ldc: v)
                profile?.lap(.outputProducts)
                for r in 0..<rows {
                    let ce = S.softmaxCrossEntropy(
                        logits + r * v, bias: outBias, count: v, target: Int(targetIDs[chunkStart + r]),
                        gradientScale: lossScale, biasGradient: gOutBias)
                    loss += Double(ce)
                }
            }
            if let gEmb {
                profile?.lap(.softmax)
                S.gemm(
                    transA: true, transB: false, m: v, n: d, k: rows, alpha: 1, a: logits, lda: v,
                    b: y + chunkStart * d, ldb: d, beta: chunkStart == 0 ? 0 : 1, c: gEmb, ldc: d)
                S.gemm(
                    transA: false, transB: false, m: rows, n: d, k: v, alpha: 1, a: logits, lda: v, b: emb, ldb: d,
                    beta: 0, c: dYs + chunkStart * d, ldc: d)
                profile?.lap(.outputProducts)
            } else {
                profile?.lap(.softmax)
            }
            chunkStart += rows
        }
        guard let gradients else { return loss }

        if useDropout { for i in 0..<(n * d) { dYs[i] *= maskY[i] } }
        profile?.lap(.embedding)

        // Projection backward.
        if let po = projectionOffset {
            S.gemm(
                transA: true, transB: false, m: h, n: d, k: n, alpha: 1, a: hs, lda: h, b: dYs, ldb: d, beta: 0,
                c: gradients + po, ldc: d)
            S.gemm(
                transA: false, transB: true, m: n, n: h, k: d, alpha: 1, a: dYs, lda: d, b: parameters + po, ldb: d,
                beta: 0, c: dHs, ldc: h)
            profile?.lap(.projectionProducts)
        } else {
            dHs.update(from: dYs, count: n * h)
            profile?.lap(.cellElementwise)
        }

        // Backpropagation through time.
        dcNext.update(repeating: 0, count: messageCount * h)
        for t in stride(from: stepCount - 1, through: 0, by: -1) {
            let r0 = stepOffset[t]
            let bt = activeCount[t]
            let cPrevBase: UnsafeMutablePointer<S>? = t > 0 ? cells + stepOffset[t - 1] * h : nil
            for b in 0..<bt {
                let r = r0 + b
                let gr = gates + r * g
                let dg = dGates + r * g
                let dh = dHs + r * h
                let tc = tanhCells + r * h
                let dcn = dcNext + b * h
                let cp = cPrevBase.map { $0 + b * h }
                switch cell {
                case .cifg:
                    let f = gr
                    let o = gr + h
                    let gg = gr + 2 * h
                    let df = dg
                    let dO = dg + h
                    let dG = dg + 2 * h
                    for j in 0..<h {
                        let tcj = tc[j]
                        let oj = o[j]
                        let fj = f[j]
                        let gj = gg[j]
                        let dc = dh[j] * oj * (1 - tcj * tcj) + dcn[j]
                        let cpj: S = cp?[j] ?? 0
                        dO[j] = dh[j] * tcj * oj * (1 - oj)
                        df[j] = dc * (cpj - gj) * fj * (1 - fj)
                        dG[j] = dc * (1 - fj) * (1 - gj * gj)
                        dcn[j] = dc * fj
                    }
                case .lstm:
                    let i = gr
                    let f = gr + h
                    let o = gr + 2 * h
                    let gg = gr + 3 * h
                    let dI = dg
                    let df = dg + h
                    let dO = dg + 2 * h
                    let dG = dg + 3 * h
                    for j in 0..<h {
                        let tcj = tc[j]
                        let oj = o[j]
                        let fj = f[j]
                        let gj = gg[j]
                        let ij = i[j]
                        let dc = dh[j] * oj * (1 - tcj * tcj) + dcn[j]
                        let cpj: S = cp?[j] ?? 0
                        dO[j] = dh[j] * tcj * oj * (1 - oj)
                        dI[j] = dc * gj * ij * (1 - ij)
                        df[j] = dc * cpj * fj * (1 - fj)
                        dG[j] = dc * ij * (1 - gj * gj)
                        dcn[j] = dc * fj
                    }
                }
            }
            profile?.lap(.cellElementwise)
            if t > 0 {
                if bt <= fewRowLimits.backward {
                    S.gemmFewRows(
                        m: bt, n: h, k: g, a: dGates + r0 * g, lda: g, b: wh, ldb: g, c: dHs + stepOffset[t - 1] * h,
                        ldc: h)
                } else {
                    S.gemm(
                        transA: false, transB: true, m: bt, n: h, k: g, alpha: 1, a: dGates + r0 * g, lda: g, b: wh,
                        ldb: g, beta: 1, c: dHs + stepOffset[t - 1] * h, ldc: h)
                }
                profile?.lap(.cellProducts)
            }
        }

        // Weight gradients of the cell: one GEMM each over all rows.
        S.gemm(
            transA: true, transB: false, m: e, n: g, k: n, alpha: 1, a: x, lda: e, b: dGates, ldb: g, beta: 0,
            c: gradients + inputKernelOffset, ldc: g)
        let firstRecurrentRow = stepCount > 1 ? stepOffset[1] : n
        if n - firstRecurrentRow > 0 {
            S.gemm(
                transA: true, transB: false, m: h, n: g, k: n - firstRecurrentRow, alpha: 1,
                a: hPrev + firstRecurrentRow * h, lda: h, b: dGates + firstRecurrentRow * g, ldb: g, beta: 0,
                c: gradients + recurrentKernelOffset, ldc: g)
        } else {
            (gradients + recurrentKernelOffset).update(repeating: 0, count: h * g)
        }
        profile?.lap(.cellProducts)
        let gBias = gradients + biasOffset
        gBias.update(from: dGates, count: g)
        for r in 1..<max(n, 1) {
            let row = dGates + r * g
            for j in 0..<g { gBias[j] += row[j] }
        }
        profile?.lap(.cellElementwise)

        // Input embedding gradient: dX = dGates · Wxᵀ, scattered by input id.
        S.gemm(
            transA: false, transB: true, m: n, n: e, k: g, alpha: 1, a: dGates, lda: g, b: wx, ldb: g, beta: 0, c: dX,
            ldc: e)
        profile?.lap(.cellProducts)
        let gE = gradients + embeddingOffset
        for r in 0..<n {
            let dst = gE + Int(inputIDs[r]) * e
            let src = dX + r * e
            if useDropout {
                let m = maskX + r * e
                for j in 0..<e { dst[j] += src[j] * m[j] }
            } else {
                for j in 0..<e { dst[j] += src[j] }
            }
        }
        profile?.lap(.embedding)
        return loss
    }
}

/// `out[j][i] = m[i][j]` for a row-major `rows × columns` matrix, in 8 × 8 blocks.
func transpose<S>(
    _ m: UnsafePointer<S>, rows: Int, columns: Int, into out: UnsafeMutablePointer<S>
) {
    var i0 = 0
    while i0 < rows {
        let i1 = min(rows, i0 + 8)
        var j0 = 0
        while j0 < columns {
            let j1 = min(columns, j0 + 8)
            for i in i0..<i1 {
                for j in j0..<j1 { out[j * rows + i] = m[i * columns + j] }
            }
            j0 = j1
        }
        i0 = i1
    }
}

/// The special ids as `Int32`, for hot loops.
enum SpecialTokenIDs {
    static let pad: Int32 = 0
    static let unk: Int32 = 1
    static let bos: Int32 = 2
    static let eos: Int32 = 3
}
