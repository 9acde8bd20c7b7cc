import Dispatch
internal import Foundation

/// Turns the first Ctrl-C into a request to stop at the next safe point and the second into
/// an immediate exit (the store is consistent either way: rounds commit atomically).
final class InterruptHandler: @unchecked Sendable {
    private let source: any DispatchSourceSignal
    private var count = 0

    init(onFirst: @escaping @Sendable () -> Void) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [unowned self] in
            count += 1
            if count == 1 {
                status(
                    "\ninterrupted: stopping before the next commit point; the store keeps every committed round (Ctrl-C again to quit now)"
                )
                onFirst()
            } else {
                exit(130)
            }
        }
        source.resume()
    }

    func cancel() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
