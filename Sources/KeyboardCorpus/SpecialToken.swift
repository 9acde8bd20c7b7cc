/// The four special symbols of nwp-v1 and their fixed ids.
///
/// Every vocabulary in kbd-sim lays ids out the same way: the special symbols first,
/// then the `V` words in rank order (the most frequent word has id 4). A lower id
/// therefore always means a higher vocabulary rank, which is how nwp-v1 breaks ties.
public enum SpecialToken: Int32, CaseIterable, Sendable {
    /// Padding in batched tensors; never a prediction and never a target.
    case pad = 0
    /// Any token outside the vocabulary.
    case unk = 1
    /// The start of a message: the context of the first word.
    case bos = 2
    /// The end of a message: may be trained on, never an accuracy target.
    case eos = 3

    /// The id of the first (most frequent) vocabulary word.
    public static let firstWordID: Int32 = 4

    /// The symbol as written in ARPA files and reports.
    public var symbol: String {
        switch self {
        case .pad: "<pad>"
        case .unk: "<unk>"
        case .bos: "<s>"
        case .eos: "</s>"
        }
    }
}
