/// An input the privacy accountant cannot account for: what was wrong and how to fix it.
public struct PrivacyError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The sampling rate q is not a finite number in [0, 1].
        case invalidSamplingRate
        /// The noise multiplier σ is not a finite number above 0.
        case invalidNoiseMultiplier
        /// δ is not a finite number strictly between 0 and 1.
        case invalidDelta
        /// The number of rounds (compositions) is negative.
        case invalidRounds
        /// An RDP order is not a finite number above 1, or the order list is empty.
        case invalidOrder
        /// A target ε is not a finite number above 0.
        case invalidEpsilon
        /// The noise search has no answer in the range it searches.
        case noiseSearchFailed
        /// A cohort is not in 0…population, or the population is below 1.
        case invalidCohort
        /// The PLD grid interval is not a finite number in (0, 1].
        case invalidDiscretization
        /// The tree's participation pattern (min separation, max participations) does not fit
        /// the number of rounds, or is negative.
        case invalidParticipation
    }

    public var code: Code
    public var message: String
    /// The error underneath, if another layer's; not part of equality.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    public static func == (a: Self, b: Self) -> Bool { a.code == b.code && a.message == b.message }
}

/// Checks shared by every entry point, each naming the quantity and the fix.
enum Check {
    static func samplingRate(_ q: Double) throws(PrivacyError) {
        guard q.isFinite, q >= 0, q <= 1 else {
            throw PrivacyError(
                .invalidSamplingRate,
                "sampling rate q must be a finite number in [0, 1] (got \(q)); "
                    + "pass the probability that one device takes part in a round, e.g. cohort / devices")
        }
    }

    static func noiseMultiplier(_ sigma: Double) throws(PrivacyError) {
        guard sigma.isFinite, sigma > 0 else {
            throw PrivacyError(
                .invalidNoiseMultiplier,
                "noise multiplier σ must be a finite number above 0 (got \(sigma)); "
                    + "it is the noise standard deviation divided by the clip norm, typically 0.5…5")
        }
    }

    static func delta(_ delta: Double) throws(PrivacyError) {
        guard delta.isFinite, delta > 0, delta < 1 else {
            throw PrivacyError(
                .invalidDelta,
                "δ must be a finite number strictly between 0 and 1 (got \(delta)); "
                    + "use well below 1 / population, e.g. 1e-10")
        }
    }

    static func rounds(_ rounds: Int) throws(PrivacyError) {
        guard rounds >= 0 else {
            throw PrivacyError(
                .invalidRounds, "rounds T must be 0 or more (got \(rounds)); pass the number of training rounds")
        }
    }

    static func orders(_ orders: [Double]) throws(PrivacyError) {
        guard !orders.isEmpty else {
            throw PrivacyError(.invalidOrder, "the RDP order list is empty; pass at least one order above 1")
        }
        for order in orders where !(order.isFinite && order > 1) {
            throw PrivacyError(
                .invalidOrder,
                "RDP order α must be a finite number above 1 (got \(order)); "
                    + "the default list is RDPAccountant.defaultOrders")
        }
    }

    static func epsilon(_ epsilon: Double) throws(PrivacyError) {
        guard epsilon.isFinite, epsilon > 0 else {
            throw PrivacyError(
                .invalidEpsilon, "target ε must be a finite number above 0 (got \(epsilon)); e.g. 1, 3 or 8")
        }
    }
}
