import FederationProtocol
import LanguageModels

// The fleet's one place that looks at which kind of model a run trains; everything else on
// the devices works through ``DeviceModel``.

extension RunConfiguration {
    /// What a phone of this run does in a round (train or count, and encode).
    func makeDeviceModel(vocabularyCount: Int, attack: DeviceAttack? = nil) throws -> any DeviceModel {
        switch model {
        case .neural(let config):
            NeuralDeviceModel(config: config, configuration: self, attack: attack)
        case .ngram(let order):
            NGramDeviceModel(
                order: order, vocabularyCount: vocabularyCount,
                bound: privacy?.countBounds.map {
                    .init(maximumPerOrder: $0.maximumNGramsPerOrder, maximumCount: $0.maximumCount)
                })
        }
    }
}
