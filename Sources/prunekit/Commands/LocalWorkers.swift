import Foundation

/// The worker processes `score --workers N` starts on this machine.
enum LocalWorkers {
    /// Until the returned handle is cancelled, SIGINT (Ctrl-C) or SIGTERM sent to this process terminates
    /// `procs` (SIGTERM; their leases expire and a rerun of the same command resumes the job) and is recorded in
    /// ``SignalStop/received``; the caller, waiting for `procs`, then exits with 128 + the signal number, as the
    /// shell reports a process killed by it. Without this a Ctrl-C would end only this process and leave the
    /// workers computing.
    static func stopOnSignals(_ procs: [Process]) -> SignalStop {
        let stop = SignalStop()
        stop.sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)   // delivered to the dispatch source instead of ending the process
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                stop.record(sig)
                for p in procs where p.isRunning { p.terminate() }
            }
            source.resume()
            return source
        }
        return stop
    }

    final class SignalStop: @unchecked Sendable {
        fileprivate var sources: [DispatchSourceSignal] = []
        private let lock = NSLock()
        private var signalNumber: Int32?
        fileprivate func record(_ sig: Int32) { lock.lock(); if signalNumber == nil { signalNumber = sig }; lock.unlock() }
        /// The first SIGINT or SIGTERM received, if any.
        var received: Int32? { lock.lock(); defer { lock.unlock() }; return signalNumber }
        /// Restores the default SIGINT / SIGTERM handling.
        func cancel() {
            for s in sources { s.cancel() }
            signal(SIGINT, SIG_DFL); signal(SIGTERM, SIG_DFL)
        }
    }
}
