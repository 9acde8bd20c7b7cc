public import FederatedCore
import KeyboardCorpus

/// Differentially private n-gram counts: a phone's bounded contribution, and the noisy,
/// thresholded release of a round's sum (the Gaussian sparse histogram mechanism; its
/// accounting is `SparseHistogramAccountant` in the Privacy module).
extension NGramCounts {
    /// What one phone may contribute to one round: at most `maximumPerOrder` distinct
    /// n-grams of each order, each counted at most `maximumCount` times. The contribution's
    /// L2 norm is then at most ``sensitivity(order:)``.
    public struct ContributionBound: Sendable, Equatable {
        public var maximumPerOrder: Int
        public var maximumCount: Int

        public init(maximumPerOrder: Int, maximumCount: Int) {
            precondition(maximumPerOrder >= 1 && maximumCount >= 1, "contribution bounds must be at least 1")
            self.maximumPerOrder = maximumPerOrder
            self.maximumCount = maximumCount
        }

        /// Δ = c·√(N·M): the largest L2 norm a bounded contribution of order N can have.
        public func sensitivity(order: Int) -> Double {
            Double(maximumCount) * Double(order * maximumPerOrder).squareRoot()
        }

        /// N·M: the most distinct n-grams a bounded contribution holds.
        public func keys(order: Int) -> Int { order * maximumPerOrder }
    }

    /// What bounding did to a count set.
    public struct BoundingEffect: Sendable, Equatable {
        /// Distinct n-grams dropped (over the per-order limit, or left without a prefix or
        /// suffix by an earlier drop).
        public var droppedNGrams = 0
        /// Counts lowered to the limit.
        public var cappedCounts = 0

        public var changed: Bool { droppedNGrams > 0 || cappedCounts > 0 }

        public init() {}
    }

    /// These counts cut to `bound`: order by order from 1 up, keep the n-grams whose
    /// (n−1)-gram prefix and suffix were kept, the `maximumPerOrder` most frequent of them
    /// (ties by key), each count capped at `maximumCount`. The result is closed under prefix
    /// and suffix (it passes the server's check), and bounding a bounded set changes nothing.
    public func bounded(by bound: ContributionBound) -> (counts: NGramCounts, effect: BoundingEffect) {
        var result = NGramCounts(order: order)
        var effect = BoundingEffect()
        let bos = SpecialToken.bos.rawValue
        for n in 1...order {
            let level = keys[n - 1]
            var candidates: [Int] = []
            candidates.reserveCapacity(level.count)
            for i in level.indices {
                if n >= 2 {
                    let lower = result.keys[n - 2]
                    let prefixIsBOS = n == 2 && level[i].id(at: 0) == bos
                    guard prefixIsBOS || lower.binarySearch(level[i].prefix(ofLength: n - 1)) != nil,
                        lower.binarySearch(level[i].droppingFirst(ofLength: n)) != nil
                    else { continue }
                }
                candidates.append(i)
            }
            if candidates.count > bound.maximumPerOrder {
                let c = counts[n - 1]
                // The most frequent first; among equal counts the smaller key (deterministic).
                candidates.sort { c[$0] != c[$1] ? c[$0] > c[$1] : $0 < $1 }
                candidates.removeSubrange(bound.maximumPerOrder...)
                candidates.sort()
            }
            effect.droppedNGrams += level.count - candidates.count
            var k: [NGramKey] = []
            var v: [UInt32] = []
            k.reserveCapacity(candidates.count)
            v.reserveCapacity(candidates.count)
            let limit = UInt32(clamping: bound.maximumCount)
            for i in candidates {
                k.append(level[i])
                let count = counts[n - 1][i]
                if count > limit { effect.cappedCounts += 1 }
                v.append(Swift.min(count, limit))
            }
            result.keys[n - 1] = k
            result.counts[n - 1] = v
        }
        return (result, effect)
    }

    /// What a noisy release kept.
    public struct ReleaseEffect: Sendable, Equatable {
        /// Distinct n-grams in the sum before noise.
        public var summedNGrams = 0
        /// Distinct n-grams released.
        public var releasedNGrams = 0
        /// Of those under the threshold after noise, or without a released prefix or suffix.
        public var droppedNGrams: Int { summedNGrams - releasedNGrams }

        public init() {}
    }

    /// The Gaussian sparse histogram mechanism on these (summed) counts: every n-gram's
    /// count plus N(0, `standardDeviation`²), rounded to the nearest integer, kept if at least
    /// `threshold`; then, order by order, only the n-grams whose prefix and suffix were kept
    /// (post-processing, so that the released counts form a valid Kneser-Ney table).
    ///
    /// Every present n-gram draws its noise whether or not it is kept, in key order, so the
    /// draws do not depend on which n-grams survive.
    public func noisyRelease(standardDeviation: Double, threshold: Int, rng: inout SplitMix64)
        -> (counts: NGramCounts, effect: ReleaseEffect)
    {
        precondition(standardDeviation >= 0 && threshold >= 1, "invalid noisy-release settings")
        var result = NGramCounts(order: order)
        var effect = ReleaseEffect()
        let bos = SpecialToken.bos.rawValue
        let tau = Double(threshold)
        for n in 1...order {
            let level = keys[n - 1]
            effect.summedNGrams += level.count
            var k: [NGramKey] = []
            var v: [UInt32] = []
            for i in level.indices {
                let noisy = (Double(counts[n - 1][i]) + standardDeviation * rng.nextStandardNormal()).rounded()
                guard noisy >= tau else { continue }
                if n >= 2 {
                    let lower = result.keys[n - 2]
                    let prefixIsBOS = n == 2 && level[i].id(at: 0) == bos
                    guard prefixIsBOS || lower.binarySearch(level[i].prefix(ofLength: n - 1)) != nil,
                        lower.binarySearch(level[i].droppingFirst(ofLength: n)) != nil
                    else { continue }
                }
                k.append(level[i])
                v.append(UInt32(Swift.min(noisy, Double(UInt32.max))))
            }
            effect.releasedNGrams += k.count
            result.keys[n - 1] = k
            result.counts[n - 1] = v
        }
        return (result, effect)
    }
}
