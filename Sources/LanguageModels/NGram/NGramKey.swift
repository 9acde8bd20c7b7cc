/// Up to five token ids packed into 128 bits, ordered like the id sequence.
///
/// Each id takes 21 bits: ids 0–2 in `hi` (most significant first), ids 3–4 in `lo`.
/// Keys of the same length therefore sort lexicographically by their ids, so all
/// n-grams sharing a context are contiguous in a sorted array with their last word
/// ascending — the layout every n-gram table in this module relies on.
public struct NGramKey: Hashable, Comparable, Sendable {
    /// Ids 0, 1, 2 at bit offsets 42, 21, 0.
    public var hi: UInt64
    /// Ids 3, 4 at bit offsets 42, 21.
    public var lo: UInt64

    /// Bits per id: vocabularies up to 2,097,152 ids.
    public static let bitsPerID = 21
    /// The largest id that fits.
    public static let maximumID: Int32 = (1 << 21) - 1
    /// The longest sequence a key holds.
    public static let maximumLength = 5

    @inlinable
    public init(hi: UInt64 = 0, lo: UInt64 = 0) {
        self.hi = hi
        self.lo = lo
    }

    /// Packs `ids` (at most five, each `0...maximumID`).
    @inlinable
    public init(_ ids: UnsafeBufferPointer<Int32>) {
        hi = 0
        lo = 0
        for (i, id) in ids.enumerated() { self = setting(i, to: id) }
    }

    /// Packs `ids` (at most five, each `0...maximumID`).
    @inlinable
    public init(_ ids: [Int32]) {
        self = ids.withUnsafeBufferPointer { NGramKey($0) }
    }

    @inlinable
    func setting(_ position: Int, to id: Int32) -> NGramKey {
        var k = self
        let v = UInt64(UInt32(bitPattern: id))
        if position < 3 {
            k.hi |= v << UInt64(42 - 21 * position)
        } else {
            k.lo |= v << UInt64(42 - 21 * (position - 3))
        }
        return k
    }

    /// The id at `position`.
    @inlinable
    public func id(at position: Int) -> Int32 {
        let mask: UInt64 = (1 << 21) - 1
        if position < 3 { return Int32(truncatingIfNeeded: (hi >> UInt64(42 - 21 * position)) & mask) }
        return Int32(truncatingIfNeeded: (lo >> UInt64(42 - 21 * (position - 3))) & mask)
    }

    /// The first `length` ids of this key (for a key of `n` ids, `prefix(ofLength: n - 1)` is its context).
    @inlinable
    public func prefix(ofLength length: Int) -> NGramKey {
        var k = NGramKey()
        for i in 0..<length { k = k.setting(i, to: id(at: i)) }
        return k
    }

    /// The last `length - 1` ids of a key of `length` ids, shifted to the front.
    @inlinable
    public func droppingFirst(ofLength length: Int) -> NGramKey {
        var k = NGramKey()
        for i in 1..<max(length, 1) { k = k.setting(i - 1, to: id(at: i)) }
        return k
    }

    /// The ids of a key of `length` ids.
    public func ids(length: Int) -> [Int32] { (0..<length).map { id(at: $0) } }

    @inlinable
    public static func < (a: NGramKey, b: NGramKey) -> Bool {
        a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo
    }
}

extension Array where Element == NGramKey {
    /// The index of `key` in this sorted array, or nil.
    @inlinable
    func binarySearch(_ key: NGramKey) -> Int? {
        withUnsafeBufferPointer { buf in
            var low = 0
            var high = buf.count
            while low < high {
                let mid = (low + high) >> 1
                if buf[mid] < key { low = mid + 1 } else { high = mid }
            }
            return low < buf.count && buf[low] == key ? low : nil
        }
    }
}
