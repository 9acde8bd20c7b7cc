public import FederatedCore

/// A codec scheme is a run setting (`--codec`): parsed once, kept with its spelling in a
/// ``ParsedSetting``.
extension CodecScheme: TextParsable {}
