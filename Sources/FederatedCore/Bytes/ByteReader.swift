/// Why a ``ByteReader`` read failed; its owner turns it into its own error and message.
package enum ByteReadProblem: Sendable, Equatable {
    /// `needed` bytes were asked for at `offset` and only `remaining` are left (`needed` may
    /// be negative when a length field is).
    case truncated(needed: Int, offset: Int, remaining: Int)
    /// `count` values of `width` bytes each were asked for at `offset` and only `remaining`
    /// bytes are left.
    case truncatedValues(count: Int, width: Int, offset: Int, remaining: Int)
    /// Value `index` of a float run is NaN or infinite.
    case nonFinite(index: Int)
}

/// The bounds-checked little-endian reader of every kbd-sim binary format.
///
/// It never traps on short input: a read past the end throws the error its owner's
/// `failure` closure makes from the ``ByteReadProblem``, so each format keeps its own error
/// type and messages. With `Failure == Never` (``init(_:offset:)``) it reads bytes the caller
/// has already bounds-checked, and a read past the end traps.
package struct ByteReader<Bytes: RandomAccessCollection<UInt8>, Failure: Error> where Bytes.Index == Int {
    /// The bytes read.
    package let bytes: Bytes
    /// The offset of the next read, from `bytes.startIndex`.
    package var offset: Int
    @usableFromInline let failure: (ByteReadProblem) -> Failure

    /// A reader of `bytes` from `offset`, whose failed reads throw `failure(problem)`.
    @inlinable
    package init(_ bytes: Bytes, offset: Int = 0, failure: @escaping (ByteReadProblem) -> Failure) {
        self.bytes = bytes
        self.offset = offset
        self.failure = failure
    }

    /// Bytes left after ``offset``.
    @inlinable
    package var remaining: Int { bytes.count - offset }

    /// The integer at `position` (from `bytes.startIndex`), without moving ``offset``.
    @inlinable
    package func integer<T: FixedWidthInteger>(_: T.Type = T.self, at position: Int) throws(Failure) -> T {
        let size = MemoryLayout<T>.size
        guard position >= 0, size <= bytes.count - position else {
            throw failure(.truncated(needed: size, offset: position, remaining: max(0, bytes.count - position)))
        }
        let start = bytes.startIndex + position
        var value: T = 0
        for i in 0..<size { value |= T(truncatingIfNeeded: bytes[start + i]) << (8 * i) }
        return value
    }

    /// The next little-endian integer.
    @inlinable
    package mutating func integer<T: FixedWidthInteger>(_: T.Type = T.self) throws(Failure) -> T {
        let value = try integer(T.self, at: offset)
        offset += MemoryLayout<T>.size
        return value
    }

    @inlinable package mutating func u8() throws(Failure) -> UInt8 { try integer() }
    @inlinable package mutating func u16() throws(Failure) -> UInt16 { try integer() }
    @inlinable package mutating func u32() throws(Failure) -> UInt32 { try integer() }
    @inlinable package mutating func u64() throws(Failure) -> UInt64 { try integer() }
    @inlinable package mutating func i64() throws(Failure) -> Int64 { try integer() }

    /// The next `n` bytes as they are.
    @inlinable
    package mutating func raw(_ n: Int) throws(Failure) -> [UInt8] {
        guard n >= 0, n <= remaining else {
            throw failure(.truncated(needed: n, offset: offset, remaining: remaining))
        }
        let start = bytes.startIndex + offset
        offset += n
        return Array(bytes[start..<(start + n)])
    }

    /// The next `count` little-endian integers (a memcpy on little-endian hosts).
    @inlinable
    package mutating func integers<T: FixedWidthInteger>(_: T.Type, count: Int) throws(Failure) -> [T] {
        let size = MemoryLayout<T>.size
        guard count >= 0, count <= remaining / size else {
            throw failure(.truncatedValues(count: count, width: size, offset: offset, remaining: remaining))
        }
        let start = offset
        let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let copied: Void? = bytes.withContiguousStorageIfAvailable { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(
                        rebasing: UnsafeRawBufferPointer(source)[start..<(start + count * size)]))
            }
            if copied == nil {
                for i in 0..<count {
                    var value: T = 0
                    let first = bytes.startIndex + start + i * size
                    for b in 0..<size { value |= T(truncatingIfNeeded: bytes[first + b]) << (8 * b) }
                    // Stored as on the wire, like the memcpy above; converted below.
                    (buffer.baseAddress! + i).initialize(to: value.littleEndian)
                }
            }
            initialized = count
        }
        offset += count * size
        return values.map { T(littleEndian: $0) }
    }

    /// The next `count` float32 values, refusing NaN and infinities.
    @inlinable
    package mutating func floats(_ count: Int) throws(Failure) -> [Float] {
        guard count >= 0, count <= remaining / 4 else {
            throw failure(.truncatedValues(count: count, width: 4, offset: offset, remaining: remaining))
        }
        var out = [Float](repeating: 0, count: count)
        let start = offset
        let firstBad: Int?
        if let bad = bytes.withContiguousStorageIfAvailable({ source in
            out.withUnsafeMutableBufferPointer { destination in
                Self.copyFinite(from: UnsafeRawBufferPointer(source), at: start, into: destination)
            }
        }) {
            firstBad = bad
        } else {
            let copy = Array(bytes[(bytes.startIndex + start)..<(bytes.startIndex + start + 4 * count)])
            firstBad = copy.withUnsafeBytes { source in
                out.withUnsafeMutableBufferPointer { Self.copyFinite(from: source, at: 0, into: $0) }
            }
        }
        if let i = firstBad { throw failure(.nonFinite(index: i)) }
        offset += 4 * count
        return out
    }

    /// Copies `destination.count` little-endian float32 values from `source` at `start`; the
    /// index of the first non-finite one, if any.
    @inlinable
    static func copyFinite(
        from source: UnsafeRawBufferPointer, at start: Int, into destination: UnsafeMutableBufferPointer<Float>
    ) -> Int? {
        for i in 0..<destination.count {
            let v = Float(bitPattern: source.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self).littleEndian)
            guard v.isFinite else { return i }
            destination[i] = v
        }
        return nil
    }
}

extension ByteReader where Failure == Never {
    /// A reader of bytes the caller has already bounds-checked: a read past the end traps.
    @inlinable
    package init(_ bytes: Bytes, offset: Int = 0) {
        self.init(bytes, offset: offset) { problem in preconditionFailure("read past the checked bounds: \(problem)") }
    }
}
