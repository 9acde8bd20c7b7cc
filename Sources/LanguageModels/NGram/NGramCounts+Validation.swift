import KeyboardCorpus

extension NGramCounts {
    /// Count tables received from an untrusted device, checked before the server merges them.
    ///
    /// Counting real messages (``init(order:messages:)``) always yields tables that pass; a
    /// table that does not is malformed or forged, and the Kneser-Ney builder must never see
    /// it. Checked, per order `n`: keys strictly increasing, ids in `1..<vocabularyCount`
    /// (never `<pad>`), id slots beyond `n` zero, `<s>` only first and `</s>` only last,
    /// counts ≥ 1; for `n ≥ 2`, both the `(n−1)`-gram prefix and suffix of every n-gram are
    /// present one order down (every real n-gram's parts were counted too; the prefix `<s>` alone
    /// is the one exception, since `<s>` is never a target).
    ///
    /// - Throws: ``LanguageModelError/Code/invalidCounts`` naming the order and entry.
    public init(order: Int, keys: [[NGramKey]], counts: [[UInt32]], vocabularyCount: Int) throws {
        guard (1...NGramKey.maximumLength).contains(order) else {
            throw LanguageModelError(.invalidOrder, "n-gram counts of order \(order); kbd-sim reads orders 1…5")
        }
        guard keys.count == order, counts.count == order else {
            throw LanguageModelError(
                .invalidCounts,
                "order \(order) needs \(order) key and count tables (got \(keys.count) and \(counts.count))")
        }
        let bos = SpecialToken.bos.rawValue
        let eos = SpecialToken.eos.rawValue
        for n in 1...order {
            let level = keys[n - 1]
            guard counts[n - 1].count == level.count else {
                throw LanguageModelError(
                    .invalidCounts, "order \(n): \(level.count) keys but \(counts[n - 1].count) counts")
            }
            for (i, key) in level.enumerated() {
                func fail(_ why: String) -> LanguageModelError {
                    LanguageModelError(.invalidCounts, "order \(n), entry \(i): \(why)")
                }
                if i > 0, !(level[i - 1] < key) { throw fail("keys are not strictly increasing") }
                if counts[n - 1][i] == 0 { throw fail("count is 0") }
                for position in 0..<NGramKey.maximumLength {
                    let id = key.id(at: position)
                    if position >= n {
                        if id != 0 { throw fail("id slot \(position) beyond the order is not zero") }
                        continue
                    }
                    guard id >= 1, Int(id) < vocabularyCount else {
                        throw fail("id \(id) is outside 1..<\(vocabularyCount)")
                    }
                    if id == bos, position != 0 { throw fail("<s> is not the first word") }
                    if id == eos, position != n - 1 { throw fail("</s> is not the last word") }
                }
                if n == 1, key.id(at: 0) == bos { throw fail("<s> is never a unigram target") }
                if n >= 2 {
                    let lower = keys[n - 2]
                    let prefixIsBOS = n == 2 && key.id(at: 0) == bos  // `<s>` alone is never counted
                    guard prefixIsBOS || lower.binarySearch(key.prefix(ofLength: n - 1)) != nil else {
                        throw fail("its \(n - 1)-gram prefix is missing")
                    }
                    guard lower.binarySearch(key.droppingFirst(ofLength: n)) != nil else {
                        throw fail("its \(n - 1)-gram suffix is missing")
                    }
                }
            }
        }
        self.init(order: order)
        self.keys = keys
        self.counts = counts
    }

    /// The number of target tokens counted (the order-1 total).
    public var tokenCount: Int { counts.first.map { $0.reduce(0) { $0 + Int($1) } } ?? 0 }

    /// Whether no n-gram was counted.
    public var isEmpty: Bool { keys.allSatisfy(\.isEmpty) }
}
