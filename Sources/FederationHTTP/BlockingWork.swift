import Dispatch

/// Runs the aggregation server's synchronous calls on a concurrent dispatch queue and awaits
/// them, so a round's close (seconds of aggregation and evaluation) blocks one of the queue's
/// threads instead of an event loop or one of Swift's cooperative threads (two on a 2-core
/// machine).
///
/// The server serialises what must be serial with its own locks; the queue only keeps the
/// waiting off the async threads.
struct BlockingWork: Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated, attributes: .concurrent)
    }

    /// Runs `body` on the queue and returns its result or rethrows its error.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
