import Foundation
import GRDB
import PruneKit
import XCTest

/// `prunekit jobs`: per-worker units/min, tokens/s and ETA are computed from the stored unit records (checked
/// against the rows read directly, not against timings); studies' trial progress is listed alongside.
final class JobsReportTests: XCTestCase {
    func run(_ args: [String]) throws -> (String, String, Int32) {
        let r = try TestBinaries.run(try XCTUnwrap(TestBinaries.prunekit, "prunekit not built"), args)
        return (r.out, r.err, r.status)
    }

    func testWorkerThroughputAndETAFromStoredUnits() throws {
        let dir = Fixtures.tempDir("prunekit-jobs"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/jobs.sqlite"
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = try DistributedStoreTests.calib(3)
        var o = ScoreOptions(); o.remove = 1
        var spec = ScoringJobSpec(checkpoint: folder.fingerprint, calibration: set.fingerprint, options: o, numLayers: folder.config.numLayers,
                                  sampleCount: 3, unitSamples: 1)
        spec.sampleTokens = set.samples.map(\.count)
        let store = try XCTUnwrap(try openStore(StoreLocation.parse(db), mode: .readWrite) as? SQLiteStudyStore)
        let queue = try openScoringQueue(store)
        let job = try queue.submit(spec)
        let runner = ScoringUnitRunner(model: try NemotronHModel(source: folder), set: set, options: o)

        // Worker a stores 3 units (the width pass), then the job is half done: an ETA from a's rate.
        try ScoringWorker(queue: queue, runner: runner, id: "a").run(job: job, maxUnits: 3)
        let mid = try XCTUnwrap(queue.status().first)
        XCTAssertFalse(mid.finished)
        XCTAssertEqual(mid.done, 3)
        let a = try XCTUnwrap(mid.workers.first)
        if let rate = a.unitsPerMinute {
            XCTAssertEqual(try XCTUnwrap(mid.etaSeconds), Double(spec.totalUnits - 3) / rate * 60, accuracy: 1e-6)
        } else {
            XCTAssertNil(mid.etaSeconds, "no rate, no ETA")
        }
        try ScoringWorker(queue: queue, runner: runner, id: "b").run(job: job)

        // The stored records, read directly.
        let rows = try store.read { try Row.fetchAll($0, sql: "SELECT worker, seconds, finished_at, unit_json FROM scoring_units WHERE state = 'DONE'") }
        XCTAssertEqual(rows.count, spec.totalUnits)
        var expected = [String: (units: Int, tokens: Int, busy: Double, first: Double, last: Double)]()
        for r in rows {
            let unit = try JSONDecoder().decode(ScoringUnit.self, from: Data((r["unit_json"] as String).utf8))
            let tokens = set.samples[unit.samples].reduce(0) { $0 + $1.count }
            let t: Double = r["finished_at"], w: String = r["worker"]
            var e = expected[w] ?? (0, 0, 0, t, t)
            e.units += 1; e.tokens += tokens; e.busy += r["seconds"] as Double; e.first = min(e.first, t); e.last = max(e.last, t)
            expected[w] = e
        }
        XCTAssertEqual(Set(expected.keys), ["a", "b"])

        let (json, err, code) = try run(["jobs", "--db", db, "--format", "json"])
        XCTAssertEqual(code, 0, err)
        let parsed = try JSONParser().parse(Data(json.utf8))
        let j = try XCTUnwrap(parsed["jobs"]?.arrayValue?.first)
        XCTAssertEqual(j["finished"], .bool(true))
        XCTAssertEqual(j["eta_seconds"]?.doubleValue, 0)
        XCTAssertEqual(parsed["studies"]?.arrayValue?.count, 0)
        let workers = try XCTUnwrap(j["workers"]?.arrayValue)
        XCTAssertEqual(workers.count, 2)
        for w in workers {
            let name = try XCTUnwrap(w["worker"]?.stringValue), e = try XCTUnwrap(expected[name])
            XCTAssertEqual(w["units_done"]?.intValue, e.units, name)
            XCTAssertEqual(w["tokens"]?.intValue, e.tokens, name)
            XCTAssertEqual(try XCTUnwrap(w["busy_seconds"]?.doubleValue), e.busy, accuracy: 1e-9 * max(1, e.busy), name)
            XCTAssertEqual(try XCTUnwrap(w["tokens_per_second"]?.doubleValue), Double(e.tokens) / e.busy, accuracy: 1e-6 * Double(e.tokens) / e.busy, name)
            if e.units > 1 && e.last > e.first {
                XCTAssertEqual(try XCTUnwrap(w["units_per_minute"]?.doubleValue), Double(e.units - 1) / (e.last - e.first) * 60,
                               accuracy: 1e-6 * Double(e.units) / (e.last - e.first) * 60, name)
            }
        }
        let tokensAll = workers.compactMap { $0["tokens"]?.intValue }.reduce(0, +)
        XCTAssertEqual(tokensAll, set.tokenCount * (1 + spec.rounds), "each unit's samples counted once per phase")

        let (table, terr, tcode) = try run(["jobs", "--db", db])
        XCTAssertEqual(tcode, 0, terr)
        XCTAssertTrue(table.contains("worker a: 3 units") && table.contains("tokens/s") && table.contains("finished"), table)
    }
}
