import FederatedCore
import Federation
import Fleet

/// The devices' text in one round: each device's sample drawn once (by run seed, round and
/// device), so the fleet's timing and the device's training see the same messages.
final class RoundText {
    let dataset: FederatedDataset
    let population: DevicePopulation
    /// Virtual time the round selected at.
    let start: Int
    let round: Int
    let seed: UInt64
    let limit: Int?
    private var sampled: [Int: [[Int32]]] = [:]

    init(dataset: FederatedDataset, population: DevicePopulation, start: Int, round: Int, seed: UInt64, limit: Int?) {
        self.dataset = dataset
        self.population = population
        self.start = start
        self.round = round
        self.seed = seed
        self.limit = limit
    }

    /// The device's messages this round: at most ``limit`` of its cached text.
    func messages(of device: Int) -> [[Int32]] {
        if let m = sampled[device] { return m }
        let m = Self.sample(
            dataset.trainingMessages(of: device, at: start, population: population), atMost: limit,
            seed: SplitMix64.derivedSeed(seed, streams: 0x5A3B1E, UInt64(round), UInt64(device)))
        sampled[device] = m
        return m
    }

    /// The device's text typed after local day `sinceDay` (all of it for nil).
    func messages(of device: Int, sinceDay: Int?) -> [[Int32]] {
        dataset.trainingMessages(of: device, at: start, population: population, sinceDay: sinceDay)
    }

    /// The local day the device's text is current to.
    func currentDay(of device: Int) -> Int { dataset.currentDay(of: device, at: start, population: population) }

    /// Training tokens of the device's messages this round (each message's words and `</s>`).
    func tokens(of device: Int) -> Int { messages(of: device).reduce(0) { $0 + $1.count + 1 } }

    /// At most `limit` of `messages`, drawn without replacement by `seed` and kept in their
    /// original order; all of them if there are no more than `limit` (or no limit).
    static func sample(_ messages: [[Int32]], atMost limit: Int?, seed: UInt64) -> [[Int32]] {
        guard let limit, messages.count > limit else { return messages }
        var rng = SplitMix64(seed: seed)
        var order = Array(0..<messages.count)
        for i in 0..<limit {
            let j = i + Int(rng.next() % UInt64(messages.count - i))
            order.swapAt(i, j)
        }
        return order[..<limit].sorted().map { messages[$0] }
    }
}
