import Dispatch
import FederationProtocol
import Foundation

/// Runs a cohort's on-device work on all cores: each worker thread takes the next device's
/// job until none is left, and results come back in job order, so the cohort's reports are
/// the same for any worker count.
struct CohortTrainer: Sendable {
    let workers: Int

    init(workers: Int) { self.workers = max(1, workers) }

    /// Runs `jobs` with `work` and returns one result per job, in job order; a device whose
    /// update cannot be encoded (its training diverged) gets a failure naming the reason.
    func run(_ jobs: [DeviceJob], work: any CohortWork, plan: TrainingPlan, runSeed: UInt64)
        -> [Result<DeviceReport, FederationError>]
    {
        nonisolated(unsafe) var results = [Result<DeviceReport, FederationError>?](repeating: nil, count: jobs.count)
        let next = NextIndex()
        results.withUnsafeMutableBufferPointer { slots in
            nonisolated(unsafe) let out = slots
            DispatchQueue.concurrentPerform(iterations: min(workers, max(jobs.count, 1))) { worker in
                while let i = next.take(below: jobs.count) {
                    out[i] = work.run(jobs[i], plan: plan, runSeed: runSeed, worker: worker)
                }
            }
        }
        return results.map { $0! }
    }
}

/// A shared work counter for the worker threads.
private final class NextIndex: @unchecked Sendable {
    // @unchecked: `value` is only touched with `lock` held.
    private let lock = NSLock()
    private var value = 0

    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}
