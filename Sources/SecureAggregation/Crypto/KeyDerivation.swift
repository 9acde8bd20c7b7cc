import Crypto
internal import Foundation

/// The key agreement and key derivation of a round: X25519 shared secrets (RFC 7748) through
/// HKDF-SHA256 (RFC 5869), with the round and both phones in the `info`, so every derived key
/// is bound to (round, purpose, pair) and differs across rounds.
enum KeyDerivation {
    /// HKDF salt: the protocol and its version.
    static let salt = Array("kbd-sim secagg+ v1".utf8)

    /// The 32-byte pairwise mask seed s_uv = HKDF(X25519(s_u, s_v^PK), "mask" ‖ round ‖ min ‖ max).
    static func pairwiseMaskSeed(
        privateKey: Curve25519.KeyAgreement.PrivateKey, peerKey: Curve25519.KeyAgreement.PublicKey, round: UInt64,
        phone: Int, peer: Int
    ) throws(SecureAggregationError) -> SymmetricKey {
        try derive(privateKey: privateKey, peerKey: peerKey, purpose: "mask", round: round, phone: phone, peer: peer)
    }

    /// The 256-bit ChaChaPoly key that encrypts shares between `phone` and `peer` in `round`.
    static func shareEncryptionKey(
        privateKey: Curve25519.KeyAgreement.PrivateKey, peerKey: Curve25519.KeyAgreement.PublicKey, round: UInt64,
        phone: Int, peer: Int
    ) throws(SecureAggregationError) -> SymmetricKey {
        try derive(privateKey: privateKey, peerKey: peerKey, purpose: "share", round: round, phone: phone, peer: peer)
    }

    private static func derive(
        privateKey: Curve25519.KeyAgreement.PrivateKey, peerKey: Curve25519.KeyAgreement.PublicKey, purpose: String,
        round: UInt64, phone: Int, peer: Int
    ) throws(SecureAggregationError) -> SymmetricKey {
        let shared: SharedSecret
        do {
            shared = try privateKey.sharedSecretFromKeyAgreement(with: peerKey)
        } catch {
            throw SecureAggregationError(
                code: .invalidKey, phone: peer,
                message: "X25519 with this phone's key failed (a low-order point); the phone must advertise a fresh key"
            )
        }
        var info = Array(purpose.utf8)
        appendLittleEndian(round, to: &info)
        appendLittleEndian(UInt64(min(phone, peer)), to: &info)
        appendLittleEndian(UInt64(max(phone, peer)), to: &info)
        return shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: salt, sharedInfo: info, outputByteCount: 32)
    }

    /// SHA-256(“self-mask” ‖ round ‖ phone ‖ seed): the commitment to a self-mask seed that lets
    /// the server check a rebuilt seed (it reveals nothing of a uniform 256-bit seed).
    static func selfMaskCommitment(seed: [UInt8], round: UInt64, phone: Int) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array("self-mask".utf8))
        var header: [UInt8] = []
        appendLittleEndian(round, to: &header)
        appendLittleEndian(UInt64(phone), to: &header)
        hasher.update(data: header)
        hasher.update(data: seed)
        return Array(hasher.finalize())
    }

    static func appendLittleEndian(_ value: UInt64, to bytes: inout [UInt8]) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    static func readLittleEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in bytes.prefix(8).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    /// 32 random bytes from `generator`.
    static func randomBytes(using generator: inout some RandomNumberGenerator) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for _ in 0..<4 { appendLittleEndian(generator.next(), to: &out) }
        return out
    }
}
