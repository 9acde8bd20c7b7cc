import Testing

@testable import KeyboardCorpus

struct TokenizerTests {
    @Test(
        "nwp-v1 hand-worked cases",
        arguments: [
            ("Don't stop!!", ["don't", "stop"]),
            ("", []),
            ("   \t  ", []),
            ("!!! ... ???", []),
            // Apostrophes inside words join; at the edges they separate.
            ("'tis the season'", ["tis", "the", "season"]),
            ("rock'n'roll", ["rock'n'roll"]),
            ("dogs' bones", ["dogs", "bones"]),
            ("can''t", ["can", "t"]),
            ("o'", ["o"]),
            // Only U+0027 joins; a typographic apostrophe separates.
            ("don\u{2019}t", ["don", "t"]),
            // Digits are token characters, and mix with letters.
            ("call me at 9pm or 10:30", ["call", "me", "at", "9pm", "or", "10", "30"]),
            ("3.14", ["3", "14"]),
            ("4u 2nite", ["4u", "2nite"]),
            // Lower-casing and accents (precomposed and combining forms normalise alike).
            ("CAFÉ Café", ["café", "café"]),
            ("cafe\u{301}", ["café"]),
            ("Straße ÆSIR", ["straße", "æsir"]),
            // Non-Latin letters and numbers.
            ("你好 世界", ["你好", "世界"]),
            ("Привет, мир", ["привет", "мир"]),
            ("ΟΔΟΣ", ["οδος"]),
            ("٣ apples", ["٣", "apples"]),
            // Emoji and symbols separate and are dropped.
            ("ok👍see u", ["ok", "see", "u"]),
            ("love ❤️ you", ["love", "you"]),
            // CRLF and other white space.
            ("line one\r\nline two", ["line", "one", "line", "two"]),
            ("tab\there", ["tab", "here"]),
        ] as [(String, [String])])
    func tokenizes(_ text: String, _ expected: [String]) {
        #expect(NWPTokenizer.tokens(of: text) == expected)
    }

    @Test func finalSigmaFollowsPythonLower() {
        // Python: "ΣΑΣ ΟΔΟΣ".lower() == "σας οδος"; a lone capital sigma is σ.
        #expect(NWPTokenizer.tokens(of: "ΣΑΣ ΟΔΟΣ Σ") == ["σας", "οδος", "σ"])
    }

    @Test func dottedCapitalISplitsLikePython() {
        // "İ".lower() is "i" + U+0307 (a combining mark, not \p{L}), which separates tokens.
        #expect(NWPTokenizer.tokens(of: "İstanbul") == ["i", "stanbul"])
    }

    @Test func asciiFastPathMatchesGeneralPath() {
        let samples = ["Hello, World! It's 9am", "a'b'c d''e 'f' g'", "MiXeD CaSe 123abc ABC'DEF"]
        for text in samples {
            // Appending a non-ASCII separator forces the general path without adding tokens.
            #expect(NWPTokenizer.tokens(of: text) == NWPTokenizer.tokens(of: text + " \u{00A0}"))
        }
    }
}
