/// One holder's share of a 32-byte secret: its x coordinate and the polynomials' values there.
///
/// The secret is cut into ``ShamirSharing/chunkCount`` chunks of 7 bytes (56 bits < 61), each
/// shared by its own random polynomial of degree t − 1 over GF(2^61 − 1); `values[j]` is
/// chunk j's polynomial at `x`.
public struct ShamirShare: Sendable, Hashable {
    /// The holder's x coordinate: its phone index + 1 (never 0, where the secret is).
    public var x: UInt64
    /// The chunks' polynomials at `x`, ``ShamirSharing/chunkCount`` of them.
    public var values: [FieldElement]

    /// Creates a share.
    public init(x: UInt64, values: [FieldElement]) {
        self.x = x
        self.values = values
    }

    /// Bytes on the wire: the x coordinate (4) and 8 per value.
    public var wireByteCount: Int { 4 + 8 * values.count }
}

/// Shamir's t-of-n secret sharing (Shamir 1979) of 32-byte secrets over GF(2^61 − 1).
///
/// Any t shares rebuild the secret by Lagrange interpolation at 0; any t − 1 shares are
/// uniformly distributed whatever the secret, so they say nothing about it.
public enum ShamirSharing {
    /// Bytes per secret.
    public static let secretByteCount = 32
    /// Bytes per field chunk of the secret (7 × 8 = 56 bits, below the field's 61).
    public static let chunkBytes = 7
    /// Chunks per secret: ⌈32 / 7⌉ = 5.
    public static let chunkCount = (secretByteCount + chunkBytes - 1) / chunkBytes

    /// Splits `secret` into one share per x in `holders` (distinct, ≥ 1, < p), any `threshold`
    /// of which rebuild it.
    ///
    /// - Parameters:
    ///   - secret: 32 bytes.
    ///   - threshold: t, 1 ≤ t ≤ holders.count.
    ///   - holders: the x coordinates, distinct and non-zero.
    ///   - generator: the source of the polynomials' random coefficients (a CSPRNG outside
    ///     simulations).
    public static func split(
        _ secret: [UInt8], threshold: Int, holders: [UInt64], using generator: inout some RandomNumberGenerator
    ) -> [ShamirShare] {
        precondition(secret.count == secretByteCount, "Shamir secrets are \(secretByteCount) bytes")
        precondition(threshold >= 1 && threshold <= holders.count, "need 1 ≤ t ≤ holders")
        let chunks = Self.chunks(of: secret)
        // coefficients[j] = chunk j's polynomial: [secret chunk, a1, …, a(t−1)].
        var coefficients: [[FieldElement]] = []
        coefficients.reserveCapacity(chunkCount)
        for chunk in chunks {
            var poly = [chunk]
            for _ in 1..<threshold { poly.append(uniformElement(using: &generator)) }
            coefficients.append(poly)
        }
        return holders.map { x in
            precondition(x != 0 && x < FieldElement.modulus, "share x coordinates are in 1..<p")
            let point = FieldElement(x)
            let values = coefficients.map { poly in
                // Horner.
                var y = FieldElement.zero
                for c in poly.reversed() { y = y * point + c }
                return y
            }
            return ShamirShare(x: x, values: values)
        }
    }

    /// Rebuilds the secret from exactly the given shares (at least t of them, distinct x).
    ///
    /// With fewer than t shares the result is some 32-byte string unrelated to the secret; the
    /// caller counts shares against t first (and checks the result against a commitment).
    /// Returns nil when two shares have the same x, a share has the wrong number of values, or
    /// the interpolated chunks do not fit in 7 bytes (the shares are not of one secret).
    public static func reconstruct(_ shares: [ShamirShare]) -> [UInt8]? {
        guard !shares.isEmpty, Set(shares.map(\.x)).count == shares.count,
            shares.allSatisfy({ $0.values.count == chunkCount && $0.x != 0 && $0.x < FieldElement.modulus })
        else { return nil }
        let weights = lagrangeWeightsAtZero(shares.map { FieldElement($0.x) })
        var secret: [UInt8] = []
        secret.reserveCapacity(chunkCount * chunkBytes)
        for j in 0..<chunkCount {
            var value = FieldElement.zero
            for (i, share) in shares.enumerated() { value = value + weights[i] * share.values[j] }
            guard value.value >> (8 * UInt64(chunkBytes)) == 0 else { return nil }
            for b in 0..<chunkBytes { secret.append(UInt8(truncatingIfNeeded: value.value >> (8 * UInt64(b)))) }
        }
        // The last chunk's padding bytes must be zero.
        guard secret[secretByteCount...].allSatisfy({ $0 == 0 }) else { return nil }
        return Array(secret[..<secretByteCount])
    }

    /// The value at `x` of the polynomial through `shares` (exactly t of them), per chunk: used to
    /// check that further shares agree with the first t.
    public static func evaluate(_ shares: [ShamirShare], at x: UInt64) -> [FieldElement] {
        Interpolator(shares).values(at: x)
    }

    /// The polynomials through t shares, ready to be evaluated anywhere in O(t) per chunk.
    ///
    /// The denominators Π_{j≠i} (x_i − x_j) are inverted once; the numerators at a point come
    /// from prefix and suffix products, with no inversion.
    public struct Interpolator: Sendable {
        let shares: [ShamirShare]
        let xs: [FieldElement]
        let inverseDenominators: [FieldElement]

        /// Prepares the polynomials through `shares` (distinct x).
        public init(_ shares: [ShamirShare]) {
            self.shares = shares
            let xs = shares.map { FieldElement($0.x) }
            self.xs = xs
            self.inverseDenominators = xs.indices.map { i in
                var d = FieldElement.one
                for j in xs.indices where j != i { d = d * (xs[i] - xs[j]) }
                return d.inverse
            }
        }

        /// Each chunk's polynomial at `x`.
        public func values(at x: UInt64) -> [FieldElement] {
            let target = FieldElement(x)
            let n = xs.count
            var prefix = [FieldElement](repeating: .one, count: n + 1)
            for i in 0..<n { prefix[i + 1] = prefix[i] * (target - xs[i]) }
            var suffix = FieldElement.one
            var weights = [FieldElement](repeating: .zero, count: n)
            for i in stride(from: n - 1, through: 0, by: -1) {
                weights[i] = prefix[i] * suffix * inverseDenominators[i]
                suffix = suffix * (target - xs[i])
            }
            return (0..<chunkCount).map { c in
                var v = FieldElement.zero
                for i in 0..<n { v = v + weights[i] * shares[i].values[c] }
                return v
            }
        }
    }

    /// A uniform element of GF(p): 61 random bits, redrawn in the one case (all ones) that is p.
    static func uniformElement(using generator: inout some RandomNumberGenerator) -> FieldElement {
        while true {
            let v = generator.next() >> 3
            if v < FieldElement.modulus { return FieldElement(v) }
        }
    }

    /// The secret's chunks as field elements (little-endian bytes, the last chunk zero-padded).
    static func chunks(of secret: [UInt8]) -> [FieldElement] {
        (0..<chunkCount).map { j in
            var v: UInt64 = 0
            for b in 0..<chunkBytes {
                let index = j * chunkBytes + b
                if index < secret.count { v |= UInt64(secret[index]) << (8 * UInt64(b)) }
            }
            return FieldElement(v)
        }
    }

    /// λ_i = Π_{j≠i} x_j / (x_j − x_i): the secret is Σ λ_i y_i. One inversion per share.
    static func lagrangeWeightsAtZero(_ xs: [FieldElement]) -> [FieldElement] {
        xs.indices.map { i in
            var num = FieldElement.one
            var den = FieldElement.one
            for j in xs.indices where j != i {
                num = num * xs[j]
                den = den * (xs[j] - xs[i])
            }
            return num * den.inverse
        }
    }
}
