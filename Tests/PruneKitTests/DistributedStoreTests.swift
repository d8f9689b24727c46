import Foundation
import XCTest
import GRDB
import PruneKit

/// Distributed scoring on a store: `prunekit worker` processes sharing one SQLite job, one killed with
/// `kill -9` mid-unit (its lease expires, the unit is redone, stored once); two connections closing a round at
/// once (one next round); a wrong model refused; the final scores equal one process's.
final class DistributedStoreTests: XCTestCase {
    static func calib(_ n: Int) throws -> CalibrationSet {
        var s = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib-ids.jsonl", tokenizer: nil)
        s.samples = Array(s.samples.prefix(n))
        return s
    }

    static func maxRelative(_ a: ImportanceScores, _ b: ImportanceScores) -> Double {
        var worst = 0.0
        func rel(_ x: Double, _ y: Double) { worst = max(worst, x == y ? 0 : abs(x - y) / max(abs(y), 1e-30)) }
        for (u, v) in zip(a.hidden, b.hidden) { rel(Double(u), Double(v)) }
        for (l, v) in b.ffn { for (x, y) in zip(a.ffn[l] ?? [], v) { rel(Double(x), Double(y)) } }
        for (l, v) in b.mambaChannels { for (x, y) in zip(a.mambaChannels[l] ?? [], v) { rel(Double(x), Double(y)) } }
        for (x, y) in zip(a.blockInfluence ?? [], b.blockInfluence ?? []) { rel(Double(x), Double(y)) }
        for (r, s) in zip(a.layerRanking?.rounds ?? [], b.layerRanking?.rounds ?? []) { for (l, v) in s.all { rel(r.all[l] ?? .nan, v) } }
        XCTAssertEqual(a.layerRanking?.removalOrder, b.layerRanking?.removalOrder)
        return worst
    }

    /// `--db` values to test: a fresh SQLite file, and a fresh PostgreSQL database when PRUNEKIT_TEST_POSTGRES_URL is set.
    func databases(_ dir: String) throws -> [String] {
        var out = [dir + "/jobs.sqlite"]
        if let base = ProcessInfo.processInfo.environment["PRUNEKIT_TEST_POSTGRES_URL"], !base.isEmpty {
            out.append(try StoreBackends.freshPostgres(baseURL: base))
        }
        return out
    }

    func openQueue(_ db: String) throws -> (any StudyStore, any ScoringQueue) {
        let store = try openStore(StoreLocation.parse(db), mode: .readWrite)
        return (store, try openScoringQueue(store))
    }

    func testWorkerProcessesOneKilledMidUnitGiveSingleProcessScores() throws {
        let dir = Fixtures.tempDir("prunekit-dist")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for db in try databases(dir) { try workerProcessesOneKilled(db: db) }
    }

    /// `score --workers 2`: stdout is this command's JSON alone (the workers report on stderr), the scores are
    /// the single process's, a second run reuses them, and an unfinished job of the same spec is resumed.
    func testScoreWithLocalWorkers() throws {
        let bin = try XCTUnwrap(TestBinaries.prunekit, "prunekit not built")
        let dir = Fixtures.tempDir("prunekit-local-workers"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = Fixtures.nemoTiny + "/calib-ids.jsonl"
        let args = ["score", Fixtures.nemoTiny, "--data", data, "--samples", "4", "--remove", "2", "--unit-samples", "1", "--format", "json"]
        func run(_ extra: [String]) throws -> (out: String, err: String, code: Int32) {
            let r = try TestBinaries.run(bin, args + extra)
            return (r.out, r.err, r.status)
        }
        // An unfinished job of the same spec, as a Ctrl-C'd run leaves it: the next run resumes it.
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = try Self.calib(4)
        var o = ScoreOptions(); o.remove = 2
        var spec = ScoringJobSpec(checkpoint: folder.fingerprint, calibration: set.fingerprint, options: o, numLayers: folder.config.numLayers,
                                  sampleCount: 4, unitSamples: 1)
        spec.sampleTokens = set.samples.map(\.count)
        let (_, queue) = try openQueue(dir + "/w.sqlite")
        let job = try queue.submit(spec)
        let first = try run(["--db", dir + "/w.sqlite", "--workers", "2"])
        XCTAssertEqual(first.code, 0, first.err)
        XCTAssertTrue(first.err.contains("job \(job): resuming the unfinished job"), first.err)
        let json = try JSONParser().parse(first.out)   // throws if worker lines were mixed into stdout
        XCTAssertEqual(json["reused"], .bool(false), first.out)
        let single = try run(["--db", dir + "/single.sqlite"])
        XCTAssertEqual(single.code, 0, single.err)
        let reference = try JSONParser().parse(single.out)
        for k in ["iterative_mse", "hidden", "ffn", "mamba_heads", "attention_heads"] {
            XCTAssertNotNil(reference[k], k)
            XCTAssertEqual(json[k], reference[k], k)
        }
        XCTAssertEqual(try queue.status().count, 1, "no second job")
        let again = try run(["--db", dir + "/w.sqlite", "--workers", "2"])
        XCTAssertEqual(again.code, 0, again.err)
        XCTAssertEqual(try JSONParser().parse(again.out)["reused"], .bool(true))
        XCTAssertEqual(try queue.status().count, 1, "stored scores are reused, no new job")
        // A worker given a mistyped SQLite path refuses it instead of creating an empty database; --threads -3
        // reaches validation.
        for (extra, code, fragment) in [(["--db", dir + "/typo.sqlite"], Int32(3), "no such database"),
                                         (["--db", dir + "/w.sqlite", "--threads", "-3"], Int32(64), "--threads must be ≥ 1")] {
            let r = try TestBinaries.run(bin, ["worker", Fixtures.nemoTiny, "--data", data, "--samples", "4", "--job", "1"] + extra)
            XCTAssertEqual(r.status, code, r.err)
            XCTAssertTrue(r.err.contains(fragment), r.err)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/typo.sqlite"))
    }

    func workerProcessesOneKilled(db: String) throws {
        let bin = try XCTUnwrap(TestBinaries.prunekit, "prunekit not built")
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let data = Fixtures.nemoTiny + "/calib-ids.jsonl"
        let set = try Self.calib(4)
        var o = ScoreOptions(); o.remove = 2
        let spec = ScoringJobSpec(checkpoint: folder.fingerprint, calibration: set.fingerprint, options: o, numLayers: folder.config.numLayers,
                                  sampleCount: 4, unitSamples: 1)
        let (store, queue) = try openQueue(db)
        let job = try queue.submit(spec)
        func worker(_ extra: [String] = []) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: bin)
            p.arguments = ["worker", Fixtures.nemoTiny, "--data", data, "--samples", "4", "--db", db, "--job", job, "--threads", "1",
                           "--lease-seconds", "2", "--idle-exit", "60"] + extra
            p.standardOutput = Pipe(); p.standardError = Pipe()
            try p.run()
            return p
        }
        // The victim starts alone and is killed as soon as it holds a lease.
        let victim = try worker()
        var held = false
        for _ in 0..<600 where !held {
            Thread.sleep(forTimeInterval: 0.05)
            held = try queue.status().first?.running ?? 0 > 0
        }
        XCTAssertTrue(held, "the victim never claimed a unit")
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        let live = try (0..<2).map { _ in try worker() }
        for p in live { p.waitUntilExit() }
        for p in live {
            let err = String(decoding: (p.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let out = String(decoding: (p.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            print("worker: \(out.trimmingCharacters(in: .whitespacesAndNewlines)) \(err)")
            XCTAssertEqual(p.terminationStatus, 0, err)
        }
        let (units, partials) = try queue.results(job: job)
        XCTAssertEqual(units.count, spec.totalUnits)
        XCTAssertEqual(partials.count, units.count, "every unit stored exactly once")
        let status = try XCTUnwrap(queue.status().first)
        XCTAssertTrue(status.finished)
        XCTAssertEqual(status.workers.reduce(0) { $0 + $1.unitsDone }, units.count, "the two live workers stored every unit, the victim's included")
        if let sqlite = store as? SQLiteStudyStore {
            let attempts = try sqlite.read { try Int.fetchOne($0, sql: "SELECT SUM(attempts) FROM scoring_units") } ?? 0
            XCTAssertGreaterThan(attempts, units.count, "the killed worker's unit was leased twice")
        }
        let single = try Importance.compute(model: try NemotronHModel(source: folder), set: set, options: o)
        let worst = Self.maxRelative(try XCTUnwrap(queue.scores(job: job, config: folder.config)), single)
        print("\(store.location): 3 worker processes (one killed with SIGKILL mid-unit) vs one process: max relative difference \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-7)
        // The finished job's scores are stored under the local key: `score` reads them.
        let key = ScoreKey(checkpointFingerprint: folder.fingerprint, calibrationFingerprint: set.fingerprint, optionsKey: o.key)
        XCTAssertNotNil(try store.scores(key))

        // A worker with other data is refused, naming both fingerprints.
        let other = try Self.calib(3)
        let r = try TestBinaries.run(bin, ["worker", Fixtures.nemoTiny, "--data", data, "--samples", "3", "--db", db, "--job", job])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.err.contains(other.fingerprint) && r.err.contains(set.fingerprint), r.err)
    }

    /// Two connections completing a round's last two units at the same moment: one next round.
    func testConcurrentLastUnitsOnTheStoreCreateOneNextRound() throws {
        let dir = Fixtures.tempDir("prunekit-dist-race")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for db in try databases(dir) { try concurrentLastUnits(db: db) }
    }

    func concurrentLastUnits(db: String) throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = try Self.calib(2)
        var o = ScoreOptions(); o.remove = 2
        let spec = ScoringJobSpec(checkpoint: folder.fingerprint, calibration: set.fingerprint, options: o, numLayers: folder.config.numLayers,
                                  sampleCount: 2, unitSamples: 1)
        let queues = try (0..<2).map { _ in try openQueue(db).1 }
        let job = try queues[0].submit(spec)
        let runner = ScoringUnitRunner(model: try NemotronHModel(source: folder), set: set, options: o)
        // Width pass.
        for _ in 0..<2 {
            let l = try XCTUnwrap(queues[0].claim(job: job, worker: "w0", leaseSeconds: 60))
            XCTAssertEqual(l.unit.phase, 0)
            _ = try queues[0].complete(l, partial: try runner.run(l.unit), seconds: 0)
        }
        let leases = try (0..<2).map { try XCTUnwrap(queues[$0].claim(job: job, worker: "w\($0)", leaseSeconds: 60)) }
        XCTAssertEqual(leases.map(\.unit.phase), [1, 1])
        let parts = try leases.map { try runner.run($0.unit) }
        let box = DistributedScoringTests.Box<UnitCompletion>(2)
        DispatchQueue.concurrentPerform(iterations: 2) { i in box.set(i, try? queues[i].complete(leases[i], partial: parts[i], seconds: 0)) }
        XCTAssertEqual(box.values.filter { $0 == .stored(closedPhase: true) }.count, 1, "\(box.values)")
        XCTAssertEqual(box.values.compactMap { $0 }.count, 2)
        XCTAssertEqual(try queues[1].results(job: job).units.filter { $0.phase == 2 }.count, 2, "one next round (2 units), not two")
        // A late duplicate completion is discarded.
        XCTAssertEqual(try queues[1].complete(leases[0], partial: parts[0], seconds: 0), .alreadyDone)
    }
}
