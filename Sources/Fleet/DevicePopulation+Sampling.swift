public import FederatedCore

extension DevicePopulation {
    /// Picks up to `size` distinct devices, uniformly among those eligible at `time`.
    ///
    /// Rejection sampling: draw device indices uniformly, keep eligible ones not yet taken.
    /// Each probe costs one ``isEligible(_:at:)``, so a cohort of 1,000 when 10% are eligible
    /// costs about 10,000 probes whatever the population size. When eligible devices are so
    /// rare that `64 · size + 4096` probes do not find them all, the rest come from a full
    /// scan, so the result is always a uniform sample without replacement and has
    /// `min(size, eligible)` devices.
    ///
    /// `allowed`, when given, is the server's participation rule: an eligible device it does not
    /// allow is passed over (counted in `skipped`, once per device) as if it had not checked in.
    ///
    /// - Returns: the devices in the order drawn, the number of probes (eligible probes
    ///   model devices checking in), and the eligible devices `allowed` passed over.
    public func sampleEligible(
        size: Int, at time: Int, using rng: inout SplitMix64, allowed: ((UInt32) -> Bool)? = nil
    ) -> (devices: [UInt32], probes: Int, skipped: Int) {
        var refused = Set<UInt32>()
        func admits(_ device: UInt32) -> Bool {
            guard let allowed else { return true }
            if refused.contains(device) { return false }
            if allowed(device) { return true }
            refused.insert(device)
            return false
        }
        precondition(size >= 0, "cohort size must be non-negative")
        var chosen: [UInt32] = []
        chosen.reserveCapacity(size)
        var taken = Set<UInt32>(minimumCapacity: size * 2)
        let n = UInt64(count)
        let budget = 64 * size + 4096
        var probes = 0
        while chosen.count < size, probes < budget {
            probes += 1
            let device = Int(rng.next() % n)
            if isEligible(device, at: time), admits(UInt32(device)), taken.insert(UInt32(device)).inserted {
                chosen.append(UInt32(device))
            }
        }
        if chosen.count < size {
            // Rare eligibility: finish from the full list of eligible devices not yet taken.
            var rest: [UInt32] = []
            for i in 0..<count where isEligible(i, at: time) && !taken.contains(UInt32(i)) && admits(UInt32(i)) {
                rest.append(UInt32(i))
            }
            probes += count
            var k = 0
            while chosen.count < size, k < rest.count {
                let j = k + Int(rng.next() % UInt64(rest.count - k))
                rest.swapAt(k, j)
                chosen.append(rest[k])
                k += 1
            }
        }
        return (chosen, probes, refused.count)
    }
}
