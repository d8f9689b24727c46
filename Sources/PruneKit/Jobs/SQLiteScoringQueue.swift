import Foundation
import GRDB

/// The scoring work queue in a study store (tables `scoring_jobs`, `scoring_units`, `scoring_partials`).
/// - Throws: ``StoreError/unavailable(location:message:)`` for a backend without a queue implementation.
public func openScoringQueue(_ store: any StudyStore) throws -> any ScoringQueue {
    if let s = store as? SQLiteStudyStore { return SQLiteScoringQueue(store: s) }
    if let s = store as? any ScoringQueueStore { return s.scoringQueue() }
    throw StoreError.unavailable(location: store.location.description, message: "this store has no scoring queue")
}

/// A study store of a backend outside this module (PostgreSQL's, in `PruneKitPostgres`) that holds a
/// ``ScoringQueue`` in its own tables; ``openScoringQueue(_:)`` returns it.
public protocol ScoringQueueStore: StudyStore {
    /// The scoring work queue on this store's connection and tables.
    func scoringQueue() -> any ScoringQueue
}

/// ``ScoringQueue`` on a SQLite study store (GRDB). Every method is one transaction (`BEGIN IMMEDIATE`, so
/// processes sharing the file serialize their claims and completions); leases are Unix seconds on the
/// database's clock (`julianday('now')`), so workers' clocks do not matter.
public final class SQLiteScoringQueue: ScoringQueue, @unchecked Sendable {
    public let store: SQLiteStudyStore
    public init(store: SQLiteStudyStore) { self.store = store }

    private static let nowSQL = "SELECT (julianday('now') - 2440587.5) * 86400.0"
    private func now(_ db: Database) throws -> Double { try Double.fetchOne(db, sql: Self.nowSQL) ?? 0 }

    private func json<T: Encodable>(_ v: T) throws -> String { String(decoding: try JSONEncoder().encode(v), as: UTF8.self) }

    private func insert(_ units: [ScoringUnit], job: Int64, _ db: Database) throws {
        for u in units {
            try db.execute(sql: "INSERT INTO scoring_units (job_id, phase, idx, unit_json, state) VALUES (?, ?, ?, ?, 'WAITING') ON CONFLICT DO NOTHING",
                           arguments: [job, u.phase, u.index, try json(u)])
        }
    }

    private func jobID(_ job: String) throws -> Int64 {
        guard let id = Int64(job) else { throw ScoringJobError.unknownJob(job) }
        return id
    }

    public func submit(_ spec: ScoringJobSpec) throws -> String {
        try spec.validate()
        return try store.write { db in
            try db.execute(sql: "INSERT INTO scoring_jobs (spec_json, checkpoint_fingerprint, calibration_fingerprint, options_key, created_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [try json(spec), spec.checkpoint, spec.calibration, spec.options.key, timestampNow()])
            let id = db.lastInsertedRowID
            try insert(spec.initialUnits(), job: id, db)
            return String(id)
        }
    }

    private func spec(_ id: Int64, _ db: Database) throws -> ScoringJobSpec {
        guard let text = try String.fetchOne(db, sql: "SELECT spec_json FROM scoring_jobs WHERE id = ?", arguments: [id]) else {
            throw ScoringJobError.unknownJob(String(id))
        }
        return try JSONDecoder().decode(ScoringJobSpec.self, from: Data(text.utf8))
    }

    public func spec(job: String) throws -> ScoringJobSpec {
        let id = try jobID(job)
        return try store.read { try spec(id, $0) }
    }

    public func claim(job: String, worker: String, leaseSeconds: Double) throws -> UnitLease? {
        let id = try jobID(job)
        return try store.write { db in
            _ = try spec(id, db)
            let t = try now(db)
            guard let row = try Row.fetchOne(db, sql: """
                SELECT phase, idx, unit_json FROM scoring_units
                WHERE job_id = ? AND state <> 'DONE' AND (lease_expires IS NULL OR lease_expires <= ?)
                ORDER BY phase, idx LIMIT 1
                """, arguments: [id, t]) else { return nil }
            let token = UUID().uuidString
            try db.execute(sql: """
                UPDATE scoring_units SET state = 'RUNNING', worker = ?, lease_token = ?, lease_expires = ?, attempts = attempts + 1
                WHERE job_id = ? AND phase = ? AND idx = ?
                """, arguments: [worker, token, t + leaseSeconds, id, row["phase"] as Int, row["idx"] as Int])
            let unit = try JSONDecoder().decode(ScoringUnit.self, from: Data((row["unit_json"] as String).utf8))
            return UnitLease(job: job, unit: unit, token: token, worker: worker, expires: Date(timeIntervalSince1970: t + leaseSeconds))
        }
    }

    public func heartbeat(_ lease: UnitLease, leaseSeconds: Double) throws -> Bool {
        let id = try jobID(lease.job)
        return try store.write { db in
            let t = try now(db)
            try db.execute(sql: "UPDATE scoring_units SET lease_expires = ? WHERE job_id = ? AND phase = ? AND idx = ? AND lease_token = ? AND state = 'RUNNING'",
                           arguments: [t + leaseSeconds, id, lease.unit.phase, lease.unit.index, lease.token])
            return db.changesCount == 1
        }
    }

    public func complete(_ lease: UnitLease, partial: UnitPartial, seconds: Double) throws -> UnitCompletion {
        let id = try jobID(lease.job)
        let data = try partial.encoded()
        return try store.write { db in
            let sp = try spec(id, db)
            let phase = lease.unit.phase
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM scoring_units WHERE job_id = ? AND phase = ? AND idx = ?",
                                                  arguments: [id, phase, lease.unit.index]) else { throw ScoringJobError.unknownJob(lease.job) }
            if state == "DONE" { return .alreadyDone }
            let t = try now(db)
            try db.execute(sql: "INSERT INTO scoring_partials (job_id, phase, idx, data) VALUES (?, ?, ?, ?)", arguments: [id, phase, lease.unit.index, data])
            try db.execute(sql: """
                UPDATE scoring_units SET state = 'DONE', worker = ?, lease_token = NULL, lease_expires = NULL, seconds = ?, finished_at = ?
                WHERE job_id = ? AND phase = ? AND idx = ?
                """, arguments: [lease.worker, seconds, t, id, phase, lease.unit.index])
            let open = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM scoring_units WHERE job_id = ? AND phase = ? AND state <> 'DONE'", arguments: [id, phase]) ?? 0
            guard open == 0 else { return .stored(closedPhase: false) }
            let (units, partials) = try results(id, phase: phase, db)
            try insert(try sp.unitsAfter(phase: phase, units: units, partials: partials), job: id, db)
            return .stored(closedPhase: true)
        }
    }

    private func results(_ id: Int64, phase: Int?, _ db: Database) throws -> ([ScoringUnit], [UnitPartial]) {
        let filter = phase == nil ? "" : " AND phase = \(phase!)"
        let units = try String.fetchAll(db, sql: "SELECT unit_json FROM scoring_units WHERE job_id = ?\(filter) ORDER BY phase, idx", arguments: [id])
            .map { try JSONDecoder().decode(ScoringUnit.self, from: Data($0.utf8)) }
        let partials = try Row.fetchAll(db, sql: "SELECT phase, idx, data FROM scoring_partials WHERE job_id = ?\(filter) ORDER BY phase, idx", arguments: [id])
            .map { row -> UnitPartial in
                do { return try UnitPartial.decode(row["data"] as Data) } catch {
                    throw ScoringJobError.corruptPartial(job: String(id), phase: row["phase"], index: row["idx"], message: "\(error)")
                }
            }
        return (units, partials)
    }

    public func results(job: String) throws -> (units: [ScoringUnit], partials: [UnitPartial]) {
        let id = try jobID(job)
        return try store.read { try results(id, phase: nil, $0) }
    }

    public func status() throws -> [ScoringJobStatus] {
        try store.read { db in
            let t = try now(db)
            return try Int64.fetchAll(db, sql: "SELECT id FROM scoring_jobs ORDER BY id").map { id in
                let sp = try spec(id, db)
                let rows = try Row.fetchAll(db, sql: "SELECT unit_json, state, worker, lease_expires, seconds, finished_at FROM scoring_units WHERE job_id = ?", arguments: [id]).map {
                    ScoringUnitRow(unit: try JSONDecoder().decode(ScoringUnit.self, from: Data(($0["unit_json"] as String).utf8)), state: $0["state"],
                                   worker: $0["worker"], leaseExpires: $0["lease_expires"], finishedAt: $0["finished_at"], seconds: $0["seconds"])
                }
                return ScoringJobStatus.summarize(id: String(id), spec: sp, rows: rows, now: t)
            }
        }
    }
}
