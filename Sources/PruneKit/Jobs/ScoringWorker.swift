import Foundation

/// A worker of distributed scoring: claims a unit (lease), computes it while a heartbeat extends the lease,
/// stores its partial once, repeats; the queue closes rounds. One per process (it owns one loaded model).
public final class ScoringWorker {
    public let queue: ScoringQueue
    public let runner: ScoringUnitRunner
    public let id: String
    /// Lease length and heartbeat period, seconds (the heartbeat renews the lease well before it expires).
    public var leaseSeconds: Double = 120
    public var heartbeatSeconds: Double = 20
    /// How long to wait between claims when no unit is available (the rest of a round is running elsewhere).
    public var pollSeconds: Double = 0.5

    /// What the worker did.
    public struct Stats: Sendable, Equatable {
        public var unitsStored = 0
        /// Units computed but already stored by another worker (its lease had expired).
        public var unitsDiscarded = 0
        public var roundsClosed = 0
        public var computeSeconds = 0.0
        /// Seconds spent in queue calls (claim, heartbeat, complete): the store traffic.
        public var queueSeconds = 0.0
        public var finished = false
    }

    public init(queue: ScoringQueue, runner: ScoringUnitRunner, id: String) {
        self.queue = queue; self.runner = runner; self.id = id
    }

    /// Refuses a job whose checkpoint or calibration fingerprint is not the local one.
    /// - Throws: ``ScoringJobError/fingerprintMismatch(what:job:local:path:)`` naming both fingerprints.
    public static func verify(_ spec: ScoringJobSpec, modelFingerprint: String, modelPath: String,
                              calibrationFingerprint: String, dataPath: String) throws {
        if spec.checkpoint != modelFingerprint {
            throw ScoringJobError.fingerprintMismatch(what: "model", job: spec.checkpoint, local: modelFingerprint, path: modelPath)
        }
        if spec.calibration != calibrationFingerprint {
            throw ScoringJobError.fingerprintMismatch(what: "calibration data", job: spec.calibration, local: calibrationFingerprint, path: dataPath)
        }
    }

    /// Works on `job` until it is finished, or until no unit could be claimed for `idleExit` seconds, or
    /// after `maxUnits` units (tests: a worker that stops).
    /// - Throws: queue errors; what computing a unit throws (the unit's lease then expires and another worker
    ///   retries it).
    @discardableResult
    public func run(job: String, idleExit: Double? = nil, maxUnits: Int? = nil) throws -> Stats {
        var stats = Stats()
        var idleSince: Date?
        while maxUnits.map({ stats.unitsStored + stats.unitsDiscarded < $0 }) ?? true {
            var t0 = Date()
            guard let lease = try queue.claim(job: job, worker: id, leaseSeconds: leaseSeconds) else {
                stats.queueSeconds += Date().timeIntervalSince(t0)
                if try queue.status().first(where: { $0.id == job })?.finished ?? true { stats.finished = true; return stats }
                let now = Date()
                if idleSince == nil { idleSince = now }
                if let idleExit, now.timeIntervalSince(idleSince!) >= idleExit { return stats }
                Thread.sleep(forTimeInterval: pollSeconds)
                continue
            }
            stats.queueSeconds += Date().timeIntervalSince(t0)
            idleSince = nil
            let beat = Heartbeat(queue: queue, lease: lease, lease: leaseSeconds, every: heartbeatSeconds)
            let c0 = Date()
            let partial: UnitPartial
            do { partial = try runner.run(lease.unit) } catch { beat.stop(); throw error }
            let secs = Date().timeIntervalSince(c0)
            beat.stop()
            stats.computeSeconds += secs
            stats.queueSeconds += beat.seconds
            t0 = Date()
            switch try queue.complete(lease, partial: partial, seconds: secs) {
            case let .stored(closed): stats.unitsStored += 1; if closed { stats.roundsClosed += 1 }
            case .alreadyDone: stats.unitsDiscarded += 1
            }
            stats.queueSeconds += Date().timeIntervalSince(t0)
        }
        return stats
    }
}

/// Renews a lease every `every` seconds on a background thread until stopped.
final class Heartbeat: @unchecked Sendable {
    private let stopped = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var spent = 0.0

    init(queue: ScoringQueue, lease: UnitLease, lease seconds: Double, every: Double) {
        let thread = Thread { [self] in
            while stopped.wait(timeout: .now() + every) == .timedOut {
                let t0 = Date()
                let ok = (try? queue.heartbeat(lease, leaseSeconds: seconds)) ?? true
                lock.lock(); spent += Date().timeIntervalSince(t0); lock.unlock()
                if !ok { break }
            }
            finished.signal()
        }
        thread.start()
    }

    func stop() { stopped.signal(); finished.wait() }

    var seconds: Double { lock.lock(); defer { lock.unlock() }; return spent }
}
