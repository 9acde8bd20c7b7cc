import FederatedCore
import Federation
import FederationProtocol
import Foundation

/// The compromised phones of a run and what they do (`--attackers`, `--attack`).
///
/// Which phones are compromised is fixed when the population is made, from the run's seed
/// alone, so a resumed run or the same run on another machine has the same attackers; they
/// take part only when eligible and selected, like every phone. The attack happens on the
/// phone: its text before training (backdoor data) and its delta before encoding.
struct DeviceAttack: Sendable {
    let kind: AttackKind
    /// The compromised devices.
    let compromised: Set<Int>
    /// The backdoor the text carries, for kinds that poison text.
    let backdoor: Backdoor?
    /// For ``AttackKind/adaptive(bound:)``: the norm the delta is scaled to.
    let adaptiveNorm: Double?

    /// The attack of `configuration` over its fleet, or nil when it has no attackers.
    init?(configuration c: RunConfiguration, backdoor: Backdoor?) {
        guard let kind = c.attack?.value, let share = c.attackers, share > 0 else { return nil }
        let count = min(c.devices, Self.count(share, devices: c.devices))
        guard count > 0 else { return nil }
        self.kind = kind
        compromised = Self.choose(count, of: c.devices, seed: c.seed)
        self.backdoor = kind.poisonsText ? backdoor : nil
        if case .adaptive(let bound) = kind {
            adaptiveNorm = 0.99 * (bound ?? c.chainNormBound ?? 1)
        } else {
            adaptiveNorm = nil
        }
    }

    /// Phones compromised for a share (`0.1`: a tenth of the fleet; `5`: five phones).
    static func count(_ share: Double, devices: Int) -> Int {
        share < 1 ? Int((share * Double(devices)).rounded()) : Int(share)
    }

    /// `count` distinct devices of `0..<devices`, by Floyd's sampling from the run's seed.
    static func choose(_ count: Int, of devices: Int, seed: UInt64) -> Set<Int> {
        var rng = SplitMix64(seed: seed, streams: 0xA77AC4)
        var chosen = Set<Int>(minimumCapacity: count)
        for j in (devices - count)..<devices {
            let t = Int(rng.next() % UInt64(j + 1))
            chosen.insert(chosen.contains(t) ? j : t)
        }
        return chosen
    }

    func isCompromised(_ device: Int) -> Bool { compromised.contains(device) }

    /// The text `device` trains on: backdoor text on a compromised phone whose attack plants one.
    func messages(_ messages: [[Int32]], device: Int) -> [[Int32]] {
        guard let backdoor, isCompromised(device) else { return messages }
        return backdoor.poisoned(messages)
    }

    /// The delta `device` uploads, changed on a compromised phone.
    func apply(to delta: inout ContiguousArray<Float>, device: Int, round: Int, runSeed: UInt64) {
        guard isCompromised(device) else { return }
        switch kind {
        case .backdoor:
            return
        case .boost(let factor):
            let f = Float(factor)
            for i in delta.indices { delta[i] *= f }
        case .signFlip:
            for i in delta.indices { delta[i] = -delta[i] }
        case .gaussian(let sigma):
            var rng = SplitMix64(
                seed: SplitMix64.derivedSeed(runSeed, streams: 0xA77AC4, UInt64(round), UInt64(device)))
            var i = 0
            while i < delta.count {
                let (a, b) = GaussianPair.next(&rng)
                delta[i] = Float(a * sigma)
                if i + 1 < delta.count { delta[i + 1] = Float(b * sigma) }
                i += 2
            }
        case .adaptive:
            var squares = 0.0
            for v in delta { squares += Double(v) * Double(v) }
            let norm = squares.squareRoot()
            guard norm > 0, let target = adaptiveNorm else { return }
            let f = Float(target / norm)
            for i in delta.indices { delta[i] *= f }
        }
    }
}

/// Two independent standard normal draws (Box–Muller).
enum GaussianPair {
    static func next(_ rng: inout SplitMix64) -> (Double, Double) {
        let u1 = 1 - rng.nextUnitDouble()
        let u2 = rng.nextUnitDouble()
        let r = (-2 * log(u1)).squareRoot()
        return (r * cos(2 * Double.pi * u2), r * sin(2 * Double.pi * u2))
    }
}
