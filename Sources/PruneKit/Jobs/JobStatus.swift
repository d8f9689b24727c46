import Foundation

/// One stored unit's row as the stores read it for ``ScoringJobStatus`` (`scoring_units`).
public struct ScoringUnitRow: Sendable {
    public var unit: ScoringUnit
    /// WAITING, RUNNING or DONE.
    public var state: String
    public var worker: String?
    /// Lease expiry and completion time, Unix seconds on the store's clock.
    public var leaseExpires: Double?
    public var finishedAt: Double?
    /// Compute seconds of the completed unit.
    public var seconds: Double?
    public init(unit: ScoringUnit, state: String, worker: String?, leaseExpires: Double?, finishedAt: Double?, seconds: Double?) {
        self.unit = unit; self.state = state; self.worker = worker; self.leaseExpires = leaseExpires; self.finishedAt = finishedAt; self.seconds = seconds
    }
}

extension ScoringJobStatus {
    /// A job's state from its stored unit rows at store time `now` (Unix seconds): units done / running (lease
    /// not expired) / waiting, the current round, and per worker: units done, units/min (completions after the
    /// first over the span between the first and last, ×60), mean compute seconds per unit, busy seconds (summed
    /// compute seconds), tokens (the samples' calibration tokens of its completed units) and tokens/s (tokens ÷
    /// busy seconds). ETA: the units left, including rounds not yet created, at the workers' summed units/min.
    public static func summarize(id: String, spec: ScoringJobSpec, rows: [ScoringUnitRow], now: Double) -> ScoringJobStatus {
        let done = rows.filter { $0.state == "DONE" }
        let running = rows.filter { $0.state == "RUNNING" && ($0.leaseExpires ?? 0) > now }.count
        let round = rows.map(\.unit.phase).max() ?? 0
        let finished = round == spec.rounds && done.count == rows.count
        let workers = Dictionary(grouping: done, by: { $0.worker ?? "?" }).map { w, rs -> Worker in
            let times = rs.compactMap(\.finishedAt), secs = rs.compactMap(\.seconds)
            let span = (times.max() ?? 0) - (times.min() ?? 0)
            let busy = secs.reduce(0, +)
            let unitTokens = rs.map { spec.tokens(of: $0.unit) }
            let tokens = unitTokens.contains { $0 == nil } ? nil : unitTokens.reduce(0) { $0 + $1! }
            return Worker(worker: w, unitsDone: rs.count, unitsPerMinute: rs.count > 1 && span > 0 ? Double(rs.count - 1) / span * 60 : nil,
                          secondsPerUnit: busy / Double(max(secs.count, 1)), busySeconds: busy, tokens: tokens,
                          tokensPerSecond: tokens.flatMap { busy > 0 ? Double($0) / busy : nil })
        }.sorted { $0.worker < $1.worker }
        let rate = workers.compactMap(\.unitsPerMinute).reduce(0, +)
        return ScoringJobStatus(id: id, spec: spec, done: done.count, running: running, waiting: rows.count - done.count - running,
                                currentRound: round, finished: finished, workers: workers,
                                etaSeconds: finished ? 0 : (rate > 0 ? Double(spec.totalUnits - done.count) / rate * 60 : nil))
    }
}
