internal import Foundation
public import KeyboardCorpus

/// The keyboard's classic personal model: a global Kneser-Ney model interpolated with a
/// Kneser-Ney model of the user's own text, `p(w | h) = λ·p_user(w | h) + (1 − λ)·p_global(w | h)`.
///
/// Top-k is exact without scoring the whole vocabulary (Fagin's threshold algorithm): both
/// models list their words best first; walking the two lists in step, every word met is
/// scored exactly, and the walk stops once the k-th best score beats
/// `λ·p_user(next user word) + (1 − λ)·p_global(next global word)`, which bounds every word
/// not yet met. Equal scores rank the lower id (the more frequent word) first, as nwp-v1 asks.
public struct InterpolatedUserModel: NextWordPredictor, Sendable {
    public let global: KneserNeyModel
    public let user: KneserNeyModel
    /// The user model's weight, in 0…1.
    public let lambda: Double
    public var vocabularyCount: Int { global.vocabularyCount }

    /// Builds the user model from `messages` (the user's own text, as ids of `global`'s
    /// vocabulary) with `global`'s order.
    ///
    /// - Throws: ``LanguageModelError`` if the user has no text.
    public init(global: KneserNeyModel, userMessages messages: [[Int32]], lambda: Double) throws {
        precondition(lambda >= 0 && lambda <= 1, "lambda must be in 0…1")
        let counts = NGramCounts(order: global.order, messages: messages)
        user = try KneserNeyModel(counts: counts, vocabulary: global.vocabulary)
        self.global = global
        self.lambda = lambda
    }

    public mutating func predictMessage(
        _ ids: UnsafeBufferPointer<Int32>, k: Int, topK topKOut: UnsafeMutableBufferPointer<Int32>,
        targetLogProbs: UnsafeMutableBufferPointer<Double>
    ) {
        precondition(topKOut.count >= ids.count * k && targetLogProbs.count >= ids.count, "output buffers too small")
        var framed = [Int32](repeating: SpecialToken.bos.rawValue, count: ids.count + 1)
        for i in 0..<ids.count { framed[i + 1] = ids[i] }
        let lambda = lambda
        var bestIDs = [Int32](repeating: -1, count: k)
        var bestScores = [Double](repeating: -.infinity, count: k)
        var lists = (user: [Int32](), userScores: [Double](), global: [Int32](), globalScores: [Double]())
        let order = global.order
        let words = global.vocabularyCount - Int(SpecialToken.firstWordID)
        framed.withUnsafeBufferPointer { f in
            for i in 0..<ids.count {
                let start = max(0, i + 1 - (order - 1))
                let history = UnsafeBufferPointer(rebasing: f[start..<(i + 1)])
                var g = KneserNeyModel.LevelContexts()
                global.findContexts(history: history, into: &g)
                var u = KneserNeyModel.LevelContexts()
                user.findContexts(history: history, into: &u)
                func mixed(_ w: Int32) -> Double {
                    lambda * pow(10, user.log10Probability(of: w, in: u)) + (1 - lambda)
                        * pow(10, global.log10Probability(of: w, in: g))
                }
                for j in 0..<k {
                    bestIDs[j] = -1
                    bestScores[j] = -.infinity
                }
                func offer(_ w: Int32) {
                    for j in 0..<k where bestIDs[j] == w { return }
                    let score = mixed(w)
                    guard
                        bestIDs[k - 1] < 0 || score > bestScores[k - 1]
                            || (score == bestScores[k - 1] && w < bestIDs[k - 1])
                    else { return }
                    var j = k - 1
                    while j > 0
                        && (bestIDs[j - 1] < 0 || score > bestScores[j - 1]
                            || (score == bestScores[j - 1] && w < bestIDs[j - 1]))
                    {
                        bestIDs[j] = bestIDs[j - 1]
                        bestScores[j] = bestScores[j - 1]
                        j -= 1
                    }
                    bestIDs[j] = w
                    bestScores[j] = score
                }
                var m = min(words, 2 * k + 6)
                var depth = 0
                Self.fill(&lists.user, &lists.userScores, from: user, in: u, count: m)
                Self.fill(&lists.global, &lists.globalScores, from: global, in: g, count: m)
                walk: while true {
                    while depth < m {
                        let uw = lists.user[depth]
                        let gw = lists.global[depth]
                        if uw >= 0 { offer(uw) }
                        if gw >= 0 { offer(gw) }
                        if uw < 0 && gw < 0 { break walk }
                        // Every word not met yet scores at most this.
                        let bound =
                            (uw >= 0 ? lambda * pow(10, lists.userScores[depth]) : 0)
                            + (gw >= 0 ? (1 - lambda) * pow(10, lists.globalScores[depth]) : 0)
                        depth += 1
                        if bestIDs[k - 1] >= 0 && bestScores[k - 1] > bound { break walk }
                    }
                    guard m < words else { break }
                    m = min(words, m * 4)
                    Self.fill(&lists.user, &lists.userScores, from: user, in: u, count: m)
                    Self.fill(&lists.global, &lists.globalScores, from: global, in: g, count: m)
                }
                for j in 0..<k { topKOut[i * k + j] = bestIDs[j] }
                targetLogProbs[i] = log(mixed(ids[i]))
            }
        }
    }

    /// One model's best `count` words after a history, best first (-1 past the end).
    static func fill(
        _ ids: inout [Int32], _ scores: inout [Double], from model: KneserNeyModel,
        in found: KneserNeyModel.LevelContexts, count: Int
    ) {
        if ids.count != count {
            ids = [Int32](repeating: -1, count: count)
            scores = [Double](repeating: -.infinity, count: count)
        }
        ids.withUnsafeMutableBufferPointer { i in
            scores.withUnsafeMutableBufferPointer { s in model.topK(in: found, k: count, ids: i, scores: s) }
        }
    }
}
