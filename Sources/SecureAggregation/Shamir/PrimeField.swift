/// An element of GF(p) for the Mersenne prime p = 2^61 − 1, the field of the Shamir shares.
///
/// Products reduce with two shift-and-add folds (2^61 ≡ 1 mod p) instead of a division.
public struct FieldElement: Sendable, Hashable, CustomStringConvertible {
    /// p = 2^61 − 1.
    public static let modulus: UInt64 = (1 << 61) - 1

    /// The canonical representative, in 0..<p.
    public let value: UInt64

    /// The element congruent to `value` modulo p.
    @inlinable
    public init(_ value: UInt64) {
        var v = (value & Self.modulus) + (value >> 61)
        if v >= Self.modulus { v -= Self.modulus }
        self.value = v
    }

    /// 0.
    public static let zero = FieldElement(0)
    /// 1.
    public static let one = FieldElement(1)

    public var description: String { "\(value)" }

    /// Sum modulo p.
    @inlinable
    public static func + (a: Self, b: Self) -> Self {
        // Both < 2^61, so the sum fits in 62 bits.
        FieldElement(a.value + b.value)
    }

    /// Difference modulo p.
    @inlinable
    public static func - (a: Self, b: Self) -> Self {
        FieldElement(a.value + (modulus - b.value))
    }

    /// Product modulo p.
    @inlinable
    public static func * (a: Self, b: Self) -> Self {
        let (high, low) = a.value.multipliedFullWidth(by: b.value)
        // a·b = high·2^64 + low = (high·8 + low>>61)·2^61 + (low mod 2^61) ≡ high·8 + low>>61 + low mod 2^61.
        let folded = (low & modulus) + (low >> 61) + (high << 3)
        return FieldElement(folded)
    }

    /// `self`^`exponent` by square and multiply.
    public func power(_ exponent: UInt64) -> Self {
        var result = Self.one
        var base = self
        var e = exponent
        while e > 0 {
            if e & 1 == 1 { result = result * base }
            base = base * base
            e >>= 1
        }
        return result
    }

    /// The multiplicative inverse (Fermat: a^(p−2)); the caller ensures `self` is not zero.
    public var inverse: Self {
        precondition(value != 0, "zero has no inverse")
        return power(Self.modulus - 2)
    }
}
