/// Reads tiny Shakespeare as users → messages: a speaker is a user.
///
/// Each turn is a block of non-blank lines between blank lines. Its first line has the
/// form `NAME:` and names the speaker; every following line of the block is one message
/// of that speaker (nwp-v1; docs/README.md states the contract). Lines inside a turn may
/// also end with a colon ("thus accused it:"); keying on the block structure keeps them
/// messages.
struct ShakespeareReader {
    let path: String

    func read(text: String) throws -> TokenizedCorpus {
        var builder = TokenizedCorpusBuilder(format: "shakespeare", source: path)
        var speaker: String?
        var atBlockStart = true
        var lineNumber = 0
        for rawLine in text.fileLines() {
            lineNumber += 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.allSatisfy(\.isWhitespace) {
                atBlockStart = true
                continue
            }
            if atBlockStart {
                atBlockStart = false
                guard line.hasSuffix(":"), line.count > 1 else {
                    throw CorpusError(
                        .malformedRecord,
                        "line \(lineNumber) starts a turn but is not a 'NAME:' speaker line; tiny Shakespeare turns begin with the speaker's name and a colon",
                        path: path, location: lineNumber)
                }
                speaker = String(line.dropLast()).trimmingWhitespace()
                continue
            }
            guard let speaker else { continue }
            builder.appendMessage(user: speaker, text: String(line))
        }
        return builder.build()
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
