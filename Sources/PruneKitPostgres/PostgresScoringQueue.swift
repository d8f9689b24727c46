import Foundation
import PostgresNIO
import PruneKit

/// ``ScoringQueue`` on a PostgreSQL study store: the same tables and statements as ``SQLiteScoringQueue``
/// (migration `v5-scoring-jobs`), with PostgreSQL's concurrency: a claim is one `UPDATE … FROM (SELECT … LIMIT 1
/// FOR UPDATE SKIP LOCKED)`, so two workers never lease the same unit; a completion locks its job row
/// (`SELECT … FOR UPDATE`) first, so the completions of a round's last units run one after the other and exactly one
/// of them sees the round complete and creates the next round. Leases are Unix seconds on the database clock.
public final class PostgresScoringQueue: ScoringQueue, @unchecked Sendable {
    public let store: PostgresStudyStore
    public init(store: PostgresStudyStore) { self.store = store }

    private var session: PostgresSession { store.session }
    private static let now = PostgresStudyStore.nowSQL

    private func json<T: Encodable>(_ v: T) throws -> String { String(decoding: try JSONEncoder().encode(v), as: UTF8.self) }

    private func jobID(_ job: String) throws -> Int64 {
        guard let id = Int64(job) else { throw ScoringJobError.unknownJob(job) }
        return id
    }

    private func write<T>(_ body: (PostgresSession.Transaction) throws -> T) throws -> T {
        guard store.mode == .readWrite else { throw StoreError.readOnlyMode(location: store.location.description) }
        return try session.transaction(body)
    }

    private func insert(_ units: [ScoringUnit], job: Int64, _ tx: PostgresSession.Transaction) throws {
        for u in units {
            try tx.execute("""
                INSERT INTO scoring_units (job_id, phase, idx, unit_json, state) VALUES (\(job), \(u.phase), \(u.index), \(try json(u)), 'WAITING')
                ON CONFLICT DO NOTHING
                """)
        }
    }

    private func spec(_ id: Int64, _ rows: [PostgresRandomAccessRow]) throws -> ScoringJobSpec {
        guard let r = rows.first else { throw ScoringJobError.unknownJob(String(id)) }
        return try JSONDecoder().decode(ScoringJobSpec.self, from: Data(try r[0].decode(String.self).utf8))
    }

    public func submit(_ spec: ScoringJobSpec) throws -> String {
        try spec.validate()
        return try write { tx in
            let id = try tx.query("""
                INSERT INTO scoring_jobs (spec_json, checkpoint_fingerprint, calibration_fingerprint, options_key, created_at)
                VALUES (\(try json(spec)), \(spec.checkpoint), \(spec.calibration), \(spec.options.key), \(timestampNow())) RETURNING id
                """)[0][0].decode(Int64.self)
            try insert(spec.initialUnits(), job: id, tx)
            return String(id)
        }
    }

    public func spec(job: String) throws -> ScoringJobSpec {
        let id = try jobID(job)
        return try spec(id, try session.query("SELECT spec_json FROM scoring_jobs WHERE id = \(id)"))
    }

    public func claim(job: String, worker: String, leaseSeconds: Double) throws -> UnitLease? {
        let id = try jobID(job)
        return try write { tx in
            _ = try spec(id, try tx.query("SELECT spec_json FROM scoring_jobs WHERE id = \(id)"))
            let token = UUID().uuidString
            let rows = try tx.query("""
                UPDATE scoring_units SET state = 'RUNNING', worker = \(worker), lease_token = \(token),
                    lease_expires = \(unescaped: Self.now) + \(leaseSeconds), attempts = attempts + 1
                FROM (SELECT phase, idx FROM scoring_units
                      WHERE job_id = \(id) AND state <> 'DONE' AND (lease_expires IS NULL OR lease_expires <= \(unescaped: Self.now))
                      ORDER BY phase, idx LIMIT 1 FOR UPDATE SKIP LOCKED) AS next
                WHERE scoring_units.job_id = \(id) AND scoring_units.phase = next.phase AND scoring_units.idx = next.idx
                RETURNING scoring_units.unit_json, scoring_units.lease_expires
                """)
            guard let r = rows.first else { return nil }
            let unit = try JSONDecoder().decode(ScoringUnit.self, from: Data(try r[0].decode(String.self).utf8))
            return UnitLease(job: job, unit: unit, token: token, worker: worker, expires: Date(timeIntervalSince1970: try r[1].decode(Double.self)))
        }
    }

    public func heartbeat(_ lease: UnitLease, leaseSeconds: Double) throws -> Bool {
        let id = try jobID(lease.job)
        return try write { tx in
            try tx.execute("""
                UPDATE scoring_units SET lease_expires = \(unescaped: Self.now) + \(leaseSeconds)
                WHERE job_id = \(id) AND phase = \(lease.unit.phase) AND idx = \(lease.unit.index) AND lease_token = \(lease.token) AND state = 'RUNNING'
                """) == 1
        }
    }

    public func complete(_ lease: UnitLease, partial: UnitPartial, seconds: Double) throws -> UnitCompletion {
        let id = try jobID(lease.job)
        let data = try partial.encoded()
        let phase = lease.unit.phase, index = lease.unit.index
        return try write { tx in
            // The job row's lock orders the completions of one job.
            let sp = try spec(id, try tx.query("SELECT spec_json FROM scoring_jobs WHERE id = \(id) FOR UPDATE"))
            guard let state = try tx.query("SELECT state FROM scoring_units WHERE job_id = \(id) AND phase = \(phase) AND idx = \(index)").first else {
                throw ScoringJobError.unknownJob(lease.job)
            }
            if try state[0].decode(String.self) == "DONE" { return .alreadyDone }
            try tx.execute("INSERT INTO scoring_partials (job_id, phase, idx, data) VALUES (\(id), \(phase), \(index), \(ByteBuffer(bytes: data)))")
            try tx.execute("""
                UPDATE scoring_units SET state = 'DONE', worker = \(lease.worker), lease_token = NULL, lease_expires = NULL, seconds = \(seconds),
                    finished_at = \(unescaped: Self.now)
                WHERE job_id = \(id) AND phase = \(phase) AND idx = \(index)
                """)
            let open = try tx.query("SELECT COUNT(*) FROM scoring_units WHERE job_id = \(id) AND phase = \(phase) AND state <> 'DONE'")[0][0].decode(Int.self)
            guard open == 0 else { return .stored(closedPhase: false) }
            let (units, partials) = try results(id, phase: phase, tx)
            try insert(try sp.unitsAfter(phase: phase, units: units, partials: partials), job: id, tx)
            return .stored(closedPhase: true)
        }
    }

    private func results(_ id: Int64, phase: Int?, _ tx: PostgresSession.Transaction) throws -> ([ScoringUnit], [UnitPartial]) {
        let unitRows = phase == nil
            ? try tx.query("SELECT unit_json FROM scoring_units WHERE job_id = \(id) ORDER BY phase, idx")
            : try tx.query("SELECT unit_json FROM scoring_units WHERE job_id = \(id) AND phase = \(phase!) ORDER BY phase, idx")
        let units = try unitRows.map { try JSONDecoder().decode(ScoringUnit.self, from: Data(try $0[0].decode(String.self).utf8)) }
        let partialRows = phase == nil
            ? try tx.query("SELECT phase, idx, data FROM scoring_partials WHERE job_id = \(id) ORDER BY phase, idx")
            : try tx.query("SELECT phase, idx, data FROM scoring_partials WHERE job_id = \(id) AND phase = \(phase!) ORDER BY phase, idx")
        let partials = try partialRows.map { r -> UnitPartial in
            do { return try UnitPartial.decode(Data(try r[2].decode(ByteBuffer.self).readableBytesView)) } catch {
                throw ScoringJobError.corruptPartial(job: String(id), phase: try r[0].decode(Int.self), index: try r[1].decode(Int.self), message: "\(error)")
            }
        }
        return (units, partials)
    }

    public func results(job: String) throws -> (units: [ScoringUnit], partials: [UnitPartial]) {
        let id = try jobID(job)
        return try session.transaction { try results(id, phase: nil, $0) }
    }

    public func status() throws -> [ScoringJobStatus] {
        try session.transaction { tx in
            let t = try tx.query("SELECT \(unescaped: Self.now)")[0][0].decode(Double.self)
            return try tx.query("SELECT id, spec_json FROM scoring_jobs ORDER BY id").map { jr in
                let id = try jr[0].decode(Int64.self)
                let sp = try JSONDecoder().decode(ScoringJobSpec.self, from: Data(try jr[1].decode(String.self).utf8))
                let rows = try tx.query("SELECT unit_json, state, worker, lease_expires, seconds, finished_at FROM scoring_units WHERE job_id = \(id)").map {
                    ScoringUnitRow(unit: try JSONDecoder().decode(ScoringUnit.self, from: Data(try $0[0].decode(String.self).utf8)), state: try $0[1].decode(String.self),
                                   worker: try $0[2].decode(String?.self), leaseExpires: try $0[3].decode(Double?.self),
                                   finishedAt: try $0[5].decode(Double?.self), seconds: try $0[4].decode(Double?.self))
                }
                return ScoringJobStatus.summarize(id: String(id), spec: sp, rows: rows, now: t)
            }
        }
    }
}
