internal import Foundation

/// The nwp-v1 tokenizer: Unicode NFC, lower-cased, then maximal runs of the regular
/// expression `[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*`.
///
/// Everything else (punctuation, emoji, white space, curly quotes) separates tokens and
/// is dropped: `Don't stop!!` gives `don't`, `stop`. An apostrophe joins two runs of
/// letters or digits only when both sides are non-empty, so `'tis'` gives `tis` and
/// `rock'n'roll` stays one token.
///
/// Lower-casing is the full Unicode mapping applied scalar by scalar after NFC (so `İ`
/// becomes `i` + U+0307, which then splits the token, exactly as Python's `str.lower()`
/// followed by the `regex` module does), including the contextual final sigma.
/// Pure-ASCII text (nearly all of an English SMS corpus) takes a byte-level fast path with
/// identical results.
public enum NWPTokenizer {
    /// The name of the metric version whose token rules this type implements.
    public static let metricVersion = "nwp-v1"

    /// Splits one message into nwp-v1 tokens.
    ///
    /// - Complexity: O(n) in the message's UTF-8 length; allocation-free per token for
    ///   ASCII tokens of up to 15 bytes (Swift small strings).
    public static func tokens(of text: String) -> [String] {
        var result: [String] = []
        forEachToken(in: text) { result.append($0) }
        return result
    }

    /// Calls `body` with every token of `text`, in order.
    public static func forEachToken(in text: String, _ body: (String) -> Void) {
        var text = text
        let handledAsASCII: Bool = text.withUTF8 { bytes in
            var isASCII = true
            for byte in bytes where byte >= 0x80 {
                isASCII = false
                break
            }
            guard isASCII else { return false }
            asciiTokens(bytes, body)
            return true
        }
        if !handledAsASCII {
            unicodeTokens(text, body)
        }
    }

    // MARK: - ASCII fast path

    @inline(__always)
    private static func isASCIIAlnum(_ b: UInt8) -> Bool {
        (b &- 0x30) < 10 || ((b | 0x20) &- 0x61) < 26
    }

    private static func asciiTokens(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (String) -> Void) {
        let n = bytes.count
        var i = 0
        var scratch = [UInt8]()
        scratch.reserveCapacity(32)
        while i < n {
            guard isASCIIAlnum(bytes[i]) else {
                i += 1
                continue
            }
            let start = i
            while i < n && isASCIIAlnum(bytes[i]) { i += 1 }
            // Extend over `'` followed by another run, as often as it repeats.
            while i + 1 < n && bytes[i] == 0x27 && isASCIIAlnum(bytes[i + 1]) {
                i += 1
                while i < n && isASCIIAlnum(bytes[i]) { i += 1 }
            }
            scratch.removeAll(keepingCapacity: true)
            for j in start..<i {
                let b = bytes[j]
                scratch.append((b &- 0x41) < 26 ? b | 0x20 : b)
            }
            body(String(decoding: scratch, as: UTF8.self))
        }
    }

    // MARK: - General Unicode path

    @inline(__always)
    static func isTokenScalar(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x80 { return isASCIIAlnum(UInt8(s.value)) }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    private static func unicodeTokens(_ text: String, _ body: (String) -> Void) {
        let scalars = lowercasedScalars(of: text.precomposedStringWithCanonicalMapping)
        let n = scalars.count
        var i = 0
        while i < n {
            guard isTokenScalar(scalars[i]) else {
                i += 1
                continue
            }
            let start = i
            while i < n && isTokenScalar(scalars[i]) { i += 1 }
            while i + 1 < n && scalars[i] == "'" && isTokenScalar(scalars[i + 1]) {
                i += 1
                while i < n && isTokenScalar(scalars[i]) { i += 1 }
            }
            var token = String.UnicodeScalarView()
            token.append(contentsOf: scalars[start..<i])
            body(String(token))
        }
    }

    /// Full Unicode lower-casing scalar by scalar, with Python's contextual final sigma.
    static func lowercasedScalars(of text: String) -> [Unicode.Scalar] {
        let source = Array(text.unicodeScalars)
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(source.count)
        for (index, scalar) in source.enumerated() {
            if scalar.value == 0x03A3 {
                out.append(isFinalSigma(at: index, in: source) ? "\u{03C2}" : "\u{03C3}")
                continue
            }
            if scalar.value < 0x80 {
                let v = scalar.value
                out.append((v &- 0x41) < 26 ? Unicode.Scalar(UInt8(v | 0x20)) : scalar)
                continue
            }
            out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        }
        return out
    }

    /// Unicode's Final_Sigma condition: a cased letter before (skipping case-ignorable
    /// scalars) and no cased letter after.
    private static func isFinalSigma(at index: Int, in scalars: [Unicode.Scalar]) -> Bool {
        var j = index - 1
        while j >= 0 && scalars[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0, scalars[j].properties.isCased else { return false }
        var k = index + 1
        while k < scalars.count && scalars[k].properties.isCaseIgnorable { k += 1 }
        return !(k < scalars.count && scalars[k].properties.isCased)
    }
}
