/// Where a ``ByteWriter`` puts its bytes.
package protocol ByteOutput {
    /// Appends `bytes` after everything written so far.
    mutating func write(_ bytes: UnsafeRawBufferPointer)
}

extension Array: ByteOutput where Element == UInt8 {
    @inlinable
    package mutating func write(_ bytes: UnsafeRawBufferPointer) { append(contentsOf: bytes) }
}

/// Memory the caller owns and has sized: a ``ByteWriter`` over it never checks for room.
package struct UnsafeMemoryOutput: ByteOutput {
    /// The first byte.
    package let base: UnsafeMutableRawPointer
    /// Bytes written so far.
    package private(set) var count = 0

    @inlinable
    package init(base: UnsafeMutableRawPointer) { self.base = base }

    @inlinable
    package mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress else { return }
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }
}

/// The little-endian writer of every kbd-sim binary format: into a growing array (model
/// downloads, n-gram updates, checkpoints, the corpus cache) or into memory the caller has
/// sized (the update header).
package struct ByteWriter<Output: ByteOutput> {
    /// What has been written.
    package var output: Output

    @inlinable
    package init(output: Output) { self.output = output }

    /// Appends `raw` as it is.
    @inlinable
    package mutating func append(_ raw: [UInt8]) { raw.withUnsafeBytes { output.write($0) } }

    /// Appends `value` in little-endian order.
    @inlinable
    package mutating func integer<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { output.write($0) }
    }

    @inlinable package mutating func u8(_ v: UInt8) { integer(v) }
    @inlinable package mutating func u16(_ v: UInt16) { integer(v) }
    @inlinable package mutating func u32(_ v: UInt32) { integer(v) }
    @inlinable package mutating func u64(_ v: UInt64) { integer(v) }
    @inlinable package mutating func i64(_ v: Int64) { integer(v) }

    /// Appends integers in little-endian order (a memcpy on little-endian hosts).
    @inlinable
    package mutating func integers<T: FixedWidthInteger>(_ values: [T]) {
        #if _endian(little)
            values.withUnsafeBytes { output.write($0) }
        #else
            for v in values { integer(v) }
        #endif
    }

    /// Appends float32 values in little-endian order (a memcpy on little-endian hosts).
    @inlinable
    package mutating func floats(_ values: [Float]) {
        #if _endian(little)
            values.withUnsafeBytes { output.write($0) }
        #else
            for v in values { u32(v.bitPattern) }
        #endif
    }
}

extension ByteWriter where Output == [UInt8] {
    /// A writer into a new array with room for `capacity` bytes.
    @inlinable
    package init(capacity: Int = 0) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(capacity)
        self.init(output: bytes)
    }

    /// Everything written so far.
    @inlinable
    package var bytes: [UInt8] { output }

    /// Appends the CRC-32 of everything written so far.
    package mutating func sealWithCRC() { u32(CRC32.checksum(output)) }
}

extension ByteWriter where Output == UnsafeMemoryOutput {
    /// A writer into memory at `base`; the caller guarantees room for everything written.
    @inlinable
    package init(base: UnsafeMutableRawPointer) { self.init(output: UnsafeMemoryOutput(base: base)) }

    /// Bytes written so far.
    @inlinable
    package var offset: Int { output.count }
}
