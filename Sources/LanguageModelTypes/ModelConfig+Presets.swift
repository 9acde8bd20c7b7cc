extension ModelConfig {
    /// The configs that ship in `models/`, built in so the tool works from any folder.
    ///
    /// A test checks that each equals its `models/NAME.json`. `vocabularySize` is the
    /// default `V + 4` for V = 10,000 (for `lstm-tiny`, a toy 36-word vocabulary); training
    /// commands replace it with the size of the vocabulary they build.
    public static let presets: [ModelConfig] = [
        ModelConfig(
            name: "cifg-gboard", vocabularySize: 10_004, embedding: 96, hidden: 670, projection: 96, cell: .cifg),
        ModelConfig(
            name: "cifg-small", vocabularySize: 10_004, embedding: 96, hidden: 256, projection: 96, cell: .cifg),
        ModelConfig(name: "lstm-tiny", vocabularySize: 40, embedding: 8, hidden: 12, projection: 8, cell: .lstm),
    ]

    /// The built-in config called `name`, or nil.
    public static func preset(named name: String) -> ModelConfig? {
        presets.first { $0.name == name }
    }
}
