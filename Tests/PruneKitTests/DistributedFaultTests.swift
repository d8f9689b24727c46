import Foundation
import PostgresNIO
import PruneKit
import PruneKitPostgres
import XCTest

/// Faults of distributed scoring on the PostgreSQL test server (``PostgresTestServer``: skipped without it, failed
/// when `PRUNEKIT_REQUIRE_POSTGRES=1`): the workers' connections terminated by the server mid-unit, and the server
/// restarted mid-job. Each time the `prunekit worker` processes reconnect (with backoff) and finish, every unit's
/// partial is stored once, and the scores equal one process's. The fault is injected only once the store shows a
/// RUNNING unit (polled, no sleeps as synchronisation).
final class DistributedFaultTests: XCTestCase {
    struct Job {
        var db: String
        var id: String
        var spec: ScoringJobSpec
        var set: CalibrationSet
        var queue: any ScoringQueue
        var workers: [Process]
        var dir: String
    }

    /// A fresh database with a nemo-tiny job (4 samples, one per unit, 2 ranking rounds: 12 units) and two worker
    /// processes on it.
    func startJob(_ name: String) throws -> Job {
        let bin = try XCTUnwrap(TestBinaries.prunekit, "prunekit not built")
        _ = try PostgresTestServer.url()
        let db = try PostgresTestServer.freshDatabase()
        let dir = Fixtures.tempDir(name)
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = try DistributedStoreTests.calib(4)
        var o = ScoreOptions(); o.remove = 2
        var spec = ScoringJobSpec(checkpoint: folder.fingerprint, calibration: set.fingerprint, options: o, numLayers: folder.config.numLayers,
                                  sampleCount: 4, unitSamples: 1)
        spec.sampleTokens = set.samples.map(\.count)
        let queue = try openScoringQueue(try openStore(StoreLocation.parse(db), mode: .readWrite))
        let id = try queue.submit(spec)
        let workers = try (0..<2).map { i -> Process in
            try TestBinaries.start(bin, ["worker", Fixtures.nemoTiny, "--data", Fixtures.nemoTiny + "/calib-ids.jsonl", "--samples", "4", "--db", db,
                                         "--job", id, "--threads", "1", "--lease-seconds", "10", "--idle-exit", "300"],
                                   stdout: "\(dir)/w\(i).out", stderr: "\(dir)/w\(i).err")
        }
        return Job(db: db, id: id, spec: spec, set: set, queue: queue, workers: workers, dir: dir)
    }

    /// Polls the job until a unit is RUNNING and some are left (at most `seconds`).
    func waitForRunningUnit(_ job: Job, seconds: Double = 300) throws -> ScoringJobStatus {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let s = try? job.queue.status().first(where: { $0.id == job.id }), s.running > 0, !s.finished { return s }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw PostgresTestServer.Unavailable(description: "timed out waiting for a RUNNING unit")
    }

    /// Waits for the workers (exit 0), then checks: every unit stored once, scores equal to one process's, stored
    /// under the local key.
    func finishAndCheck(_ job: Job, _ what: String) throws {
        let deadline = Date().addingTimeInterval(600)
        for (i, p) in job.workers.enumerated() {
            while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); XCTFail("worker \(i) did not finish") }
            p.waitUntilExit()
            let err = (try? String(contentsOfFile: "\(job.dir)/w\(i).err", encoding: .utf8)) ?? ""
            let out = (try? String(contentsOfFile: "\(job.dir)/w\(i).out", encoding: .utf8)) ?? ""
            XCTAssertEqual(p.terminationStatus, 0, "worker \(i): \(err)")
            print("\(what): worker \(i): \(out.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let (units, partials) = try job.queue.results(job: job.id)
        XCTAssertEqual(units.count, job.spec.totalUnits)
        XCTAssertEqual(partials.count, units.count, "every unit stored exactly once")
        XCTAssertEqual(Set(partials.map { [$0.phase, $0.index] }).count, partials.count)
        let status = try XCTUnwrap(job.queue.status().first { $0.id == job.id })
        XCTAssertTrue(status.finished)
        XCTAssertEqual(status.workers.reduce(0) { $0 + $1.unitsDone }, units.count)
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        var o = ScoreOptions(); o.remove = 2
        let single = try Importance.compute(model: try NemotronHModel(source: folder), set: job.set, options: o)
        let worst = DistributedStoreTests.maxRelative(try XCTUnwrap(job.queue.scores(job: job.id, config: folder.config)), single)
        print("\(what): 2 worker processes vs one process: max relative difference \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-7)
    }

    func killAll(_ job: Job) {
        for p in job.workers where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: job.dir)
    }

    /// The server terminates every connection to the job's database (the workers', mid-unit): they reconnect.
    func testWorkersConnectionsTerminatedMidUnitReconnectAndFinish() throws {
        let job = try startJob("pg-fault-drop")
        defer { killAll(job) }
        var admin = try PostgresURL(job.db)
        admin.database = try PostgresTestServer.url().database
        let session = try PostgresSession(url: admin)
        defer { session.close() }
        let database = try PostgresURL(job.db).database
        // Both workers connected (with this test's own queue: 3 sessions on the job's database) and a unit running.
        let deadline = Date().addingTimeInterval(300)
        var connected = 0
        while Date() < deadline {
            connected = try session.query("SELECT count(*) FROM pg_stat_activity WHERE datname = \(database) AND pid <> pg_backend_pid()")[0][0].decode(Int.self)
            if connected >= 3 { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTAssertGreaterThanOrEqual(connected, 3, "both workers connected")
        let before = try waitForRunningUnit(job)
        let rows = try session.query("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(database) AND pid <> pg_backend_pid()
            """)
        let terminated = try rows.filter { try $0[0].decode(Bool.self) }.count
        XCTAssertGreaterThanOrEqual(terminated, 3, "the two workers' connections and the test's own were terminated")
        print("terminated \(terminated) connections with \(before.done) units done, \(before.running) running")
        try finishAndCheck(job, "connections terminated")
    }

    /// The server restarts (Scripts/test-postgres.sh restart) while a unit runs: the workers reconnect and finish.
    func testServerRestartMidJobWorkersReconnectAndFinish() throws {
        let cluster = try PostgresTestServer.clusterDir()
        let job = try startJob("pg-fault-restart")
        defer { killAll(job) }
        let before = try waitForRunningUnit(job)
        try PostgresStoreTests.restartServer(cluster)
        print("server restarted with \(before.done) units done, \(before.running) running")
        try finishAndCheck(job, "server restart")
    }
}
