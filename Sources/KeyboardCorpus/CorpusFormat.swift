/// The file formats kbd-sim reads as users → messages.
public enum CorpusFormat: String, CaseIterable, Sendable {
    /// The NUS SMS Corpus XML, zipped as released or unzipped.
    case nusSMS = "nus-sms"
    /// Tiny Shakespeare: speakers are users, lines of a turn are messages.
    case shakespeare
    /// Plain text, one message per line; a file is one user, a directory one user per file.
    case text
    /// Tab-separated `USER<TAB>MESSAGE` lines.
    case tsv
    /// JSON Lines of `{"user": …, "text": …}`.
    case jsonl
}
