import Foundation

/// A unit leased to one worker until `expires` (on the queue's clock: the database's for a store).
public struct UnitLease: Sendable, Equatable {
    public var job: String
    public var unit: ScoringUnit
    /// Identifies this lease; a unit re-leased after expiry gets a new token.
    public var token: String
    public var worker: String
    public var expires: Date
    public init(job: String, unit: ScoringUnit, token: String, worker: String, expires: Date) {
        self.job = job; self.unit = unit; self.token = token; self.worker = worker; self.expires = expires
    }
}

/// What happened to a completed unit's partial.
public enum UnitCompletion: Sendable, Equatable {
    /// Stored; `nextRound` tells whether this completion closed a round and created the next round's units.
    case stored(closedPhase: Bool)
    /// Another worker had already stored this unit (e.g. after this worker's lease expired): nothing stored.
    case alreadyDone
}

/// One job's state for `prunekit jobs` (`--format json`: snake_case keys, unknown or non-finite figures as null).
public struct ScoringJobStatus: Codable, Sendable, Equatable {
    public struct Worker: Codable, Sendable, Equatable {
        public var worker: String
        public var unitsDone: Int
        /// Units per minute over the worker's completions (nil before its second completion).
        @FiniteOrNull public var unitsPerMinute: Double?
        /// Mean compute seconds per unit.
        @FiniteOrNull public var secondsPerUnit: Double
        /// Compute seconds of the worker's completed units (its busy time).
        @FiniteOrNull public var busySeconds: Double = 0
        /// Calibration tokens of the worker's completed units' samples (nil for a job without per-sample token
        /// counts). A ranking unit evaluates several candidate layers on its samples; its tokens count once.
        public var tokens: Int? = nil
        /// `tokens` / `busySeconds`, tokens/s (nil without tokens or busy time).
        @FiniteOrNull public var tokensPerSecond: Double? = nil
        public init(worker: String, unitsDone: Int, unitsPerMinute: Double?, secondsPerUnit: Double,
                    busySeconds: Double = 0, tokens: Int? = nil, tokensPerSecond: Double? = nil) {
            self.worker = worker; self.unitsDone = unitsDone; self.unitsPerMinute = unitsPerMinute; self.secondsPerUnit = secondsPerUnit
            self.busySeconds = busySeconds; self.tokens = tokens; self.tokensPerSecond = tokensPerSecond
        }
        enum CodingKeys: String, CodingKey {
            case worker, unitsDone = "units_done", unitsPerMinute = "units_per_minute", secondsPerUnit = "seconds_per_unit"
            case busySeconds = "busy_seconds", tokens, tokensPerSecond = "tokens_per_second"
        }
    }
    public var id: String
    public var spec: ScoringJobSpec
    public var done: Int
    public var running: Int
    public var waiting: Int
    /// Highest ranking round with units (0: width pass only).
    public var currentRound: Int
    public var finished: Bool
    public var workers: [Worker]
    /// Seconds to finish at the current total rate, counting the rounds not yet created (nil before any rate).
    @FiniteOrNull public var etaSeconds: Double?
    public init(id: String, spec: ScoringJobSpec, done: Int, running: Int, waiting: Int, currentRound: Int, finished: Bool,
                workers: [Worker], etaSeconds: Double?) {
        self.id = id; self.spec = spec; self.done = done; self.running = running; self.waiting = waiting
        self.currentRound = currentRound; self.finished = finished; self.workers = workers; self.etaSeconds = etaSeconds
    }
    /// snake_case keys (formats.md §7): `prunekit jobs --format json`.
    enum CodingKeys: String, CodingKey {
        case id, spec, done, running, waiting, currentRound = "current_round", finished, workers, etaSeconds = "eta_seconds"
    }
}

/// The work queue distributed scoring runs on: jobs, their units with leases and heartbeats, each unit's
/// partial stored once, and rounds closed atomically (the completion of a round's last unit reduces the
/// round and creates the next round's units in the same transaction, so two workers cannot both do it).
///
/// Implemented in-process (``InProcessScoringQueue``, tests and `score --workers` threads) and on the study store.
public protocol ScoringQueue: AnyObject, Sendable {
    /// Registers a job and its first units (width pass, first round). Returns the job id.
    /// - Throws: ``ImportanceError`` for an invalid spec; store errors.
    func submit(_ spec: ScoringJobSpec) throws -> String
    /// The job's spec. - Throws: ``ScoringJobError/unknownJob(_:)``.
    func spec(job: String) throws -> ScoringJobSpec
    /// Leases a waiting unit (or one whose lease expired) of `job`, lowest phase and index first; nil if none.
    func claim(job: String, worker: String, leaseSeconds: Double) throws -> UnitLease?
    /// Extends the lease. Returns false if the unit is done or was leased to another worker meanwhile.
    func heartbeat(_ lease: UnitLease, leaseSeconds: Double) throws -> Bool
    /// Stores the unit's partial unless already stored; closes the phase when it was its last unit.
    /// `seconds` is the unit's compute time (throughput figures).
    func complete(_ lease: UnitLease, partial: UnitPartial, seconds: Double) throws -> UnitCompletion
    /// Every unit created so far and every stored partial of the job.
    func results(job: String) throws -> (units: [ScoringUnit], partials: [UnitPartial])
    /// All jobs' states, oldest first.
    func status() throws -> [ScoringJobStatus]
}

extension ScoringQueue {
    /// The job's scores once every phase is complete, else nil.
    /// - Throws: ``ScoringJobError`` for inconsistent results.
    public func scores(job: String, config: NemotronHConfig) throws -> ImportanceScores? {
        let spec = try self.spec(job: job)
        let (units, partials) = try results(job: job)
        let done = Set(partials.map { [$0.phase, $0.index] })
        let lastPhase = spec.rounds
        guard units.contains(where: { $0.phase == lastPhase }), units.allSatisfy({ done.contains([$0.phase, $0.index]) }) else { return nil }
        return try spec.reduce(units: units, partials: partials, config: config)
    }
}

/// An in-memory ``ScoringQueue`` guarded by one lock (the lock is the transaction). The clock is injectable so
/// tests can expire leases without waiting.
public final class InProcessScoringQueue: ScoringQueue, @unchecked Sendable {
    private struct UnitState {
        var unit: ScoringUnit
        var token: String?
        var worker: String?
        var expires: Date?
        var done = false
    }
    private struct Job {
        var spec: ScoringJobSpec
        var units = [UnitState]()
        var partials = [[Int]: UnitPartial]()
        var completions = [(worker: String, at: Date, seconds: Double)]()
    }
    private let lock = NSLock()
    private var jobs = [String: Job]()
    private var order = [String]()
    private var tokens = 0
    public var clock: () -> Date

    public init(clock: @escaping () -> Date = Date.init) { self.clock = clock }

    public func submit(_ spec: ScoringJobSpec) throws -> String {
        try spec.validate()
        lock.lock(); defer { lock.unlock() }
        let id = String(order.count + 1)
        jobs[id] = Job(spec: spec, units: spec.initialUnits().map { UnitState(unit: $0) })
        order.append(id)
        return id
    }

    public func spec(job: String) throws -> ScoringJobSpec {
        lock.lock(); defer { lock.unlock() }
        guard let j = jobs[job] else { throw ScoringJobError.unknownJob(job) }
        return j.spec
    }

    public func claim(job: String, worker: String, leaseSeconds: Double) throws -> UnitLease? {
        lock.lock(); defer { lock.unlock() }
        guard var j = jobs[job] else { throw ScoringJobError.unknownJob(job) }
        let now = clock()
        let order = j.units.indices.sorted { (j.units[$0].unit.phase, j.units[$0].unit.index) < (j.units[$1].unit.phase, j.units[$1].unit.index) }
        guard let i = order.first(where: { !j.units[$0].done && (j.units[$0].expires.map { $0 <= now } ?? true) }) else { return nil }
        tokens += 1
        let token = "\(worker)#\(tokens)", expires = now.addingTimeInterval(leaseSeconds)
        j.units[i].token = token; j.units[i].worker = worker; j.units[i].expires = expires
        jobs[job] = j
        return UnitLease(job: job, unit: j.units[i].unit, token: token, worker: worker, expires: expires)
    }

    public func heartbeat(_ lease: UnitLease, leaseSeconds: Double) throws -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard var j = jobs[lease.job], let i = j.units.firstIndex(where: { $0.unit.phase == lease.unit.phase && $0.unit.index == lease.unit.index }),
              !j.units[i].done, j.units[i].token == lease.token else { return false }
        j.units[i].expires = clock().addingTimeInterval(leaseSeconds)
        jobs[lease.job] = j
        return true
    }

    public func complete(_ lease: UnitLease, partial: UnitPartial, seconds: Double) throws -> UnitCompletion {
        lock.lock(); defer { lock.unlock() }
        guard var j = jobs[lease.job] else { throw ScoringJobError.unknownJob(lease.job) }
        guard let i = j.units.firstIndex(where: { $0.unit.phase == lease.unit.phase && $0.unit.index == lease.unit.index }) else {
            throw ScoringJobError.unknownJob(lease.job)
        }
        if j.units[i].done { return .alreadyDone }
        // Round-trip through the stored form, as a store would.
        let stored = try UnitPartial.decode(try partial.encoded())
        j.units[i].done = true; j.units[i].expires = nil
        j.partials[[partial.phase, partial.index]] = stored
        j.completions.append((lease.worker, clock(), seconds))
        let phase = lease.unit.phase
        let phaseUnits = j.units.filter { $0.unit.phase == phase }
        var closed = false
        if phaseUnits.allSatisfy(\.done) {
            closed = true
            let next = try j.spec.unitsAfter(phase: phase, units: phaseUnits.map(\.unit),
                                             partials: phaseUnits.map { j.partials[[phase, $0.unit.index]]! })
            j.units += next.map { UnitState(unit: $0) }
        }
        jobs[lease.job] = j
        return .stored(closedPhase: closed)
    }

    public func results(job: String) throws -> (units: [ScoringUnit], partials: [UnitPartial]) {
        lock.lock(); defer { lock.unlock() }
        guard let j = jobs[job] else { throw ScoringJobError.unknownJob(job) }
        return (j.units.map(\.unit), Array(j.partials.values))
    }

    /// Gives a leased unit back (waiting again) unless done or re-leased.
    public func release(_ lease: UnitLease) {
        lock.lock(); defer { lock.unlock() }
        guard var j = jobs[lease.job], let i = j.units.firstIndex(where: { $0.unit.phase == lease.unit.phase && $0.unit.index == lease.unit.index }),
              j.units[i].token == lease.token, !j.units[i].done else { return }
        j.units[i].token = nil; j.units[i].worker = nil; j.units[i].expires = nil
        jobs[lease.job] = j
    }

    /// Number of stored partials for (job, phase, index): 0 or 1 by construction (tests).
    public func storedCount(job: String) -> Int { lock.lock(); defer { lock.unlock() }; return jobs[job]?.partials.count ?? 0 }

    public func status() throws -> [ScoringJobStatus] {
        lock.lock(); defer { lock.unlock() }
        let now = clock()
        return order.map { id in
            let j = jobs[id]!
            let done = j.units.filter(\.done).count
            let running = j.units.filter { !$0.done && ($0.expires.map { $0 > now } ?? false) }.count
            let round = j.units.map(\.unit.phase).max() ?? 0
            let finished = round == j.spec.rounds && j.units.allSatisfy(\.done)
            let workers = Dictionary(grouping: j.completions, by: \.worker).map { w, cs -> ScoringJobStatus.Worker in
                let span = (cs.map(\.at).max()!).timeIntervalSince(cs.map(\.at).min()!)
                return ScoringJobStatus.Worker(worker: w, unitsDone: cs.count, unitsPerMinute: cs.count > 1 && span > 0 ? Double(cs.count - 1) / span * 60 : nil,
                                               secondsPerUnit: cs.reduce(0) { $0 + $1.seconds } / Double(cs.count))
            }.sorted { $0.worker < $1.worker }
            return ScoringJobStatus(id: id, spec: j.spec, done: done, running: running, waiting: j.units.count - done - running,
                                    currentRound: round, finished: finished, workers: workers, etaSeconds: nil)
        }
    }
}
