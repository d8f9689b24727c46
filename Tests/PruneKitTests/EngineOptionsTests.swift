import XCTest
import PruneKit

/// The engine options shared by eval, score, search, worker and teacher-cache (`--memory-gib`,
/// `--weight-cache-gib`, `--no-dt-floor`): the activation budget reaches the engine (a tiny one splits the work
/// into more batches and gives the same results), and bad values are refused naming the option.
final class EngineOptionsTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Fixtures.tempDir("prunekit-engine-options") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func run(_ args: [String]) throws -> ProcessResult {
        guard let bin = TestBinaries.prunekit else { throw XCTSkip("the prunekit binary is not built (swift build --build-tests builds it)") }
        return try TestBinaries.run(bin, args)
    }

    var data: [String] { ["--data", Fixtures.nemoTiny + "/calib-ids.jsonl", "--samples", "3", "--seq-len", "48"] }

    func testTinyMemoryBudgetSplitsEvalIntoOneBatchPerSampleWithTheSameLoss() throws {
        let base = ["eval", Fixtures.nemoTiny] + data + ["--format", "json", "--quiet"]
        let a = try run(base), b = try run(base + ["--memory-gib", "1e-9"])
        XCTAssertEqual(a.status, 0, a.err); XCTAssertEqual(b.status, 0, b.err)
        let ja = try JSONParser().parse(a.out), jb = try JSONParser().parse(b.out)
        XCTAssertEqual(ja["batches"]?.intValue, 1, "3 short samples fit the default budget in one batch")
        XCTAssertEqual(jb["batches"]?.intValue, 3, "a 1-byte budget runs every sample alone")
        XCTAssertEqual(ja["memory_budget_bytes"]?.intValue, NemotronHModel.defaultBatchBudgetBytes)
        XCTAssertEqual(jb["memory_budget_bytes"]?.intValue, 1)
        let la = try XCTUnwrap(ja["loss"]?.doubleValue), lb = try XCTUnwrap(jb["loss"]?.doubleValue)
        XCTAssertEqual(la, lb, accuracy: 1e-6 * abs(la))
    }

    func testTinyMemoryBudgetGivesTheSameScoresAndScorePrintsPeakMemoryAndBudget() throws {
        func score(_ extra: [String], db: String) throws -> (ImportanceScores, JSONValue) {
            let r = try run(["score", Fixtures.nemoTiny] + data + ["--remove", "2", "--db", dir + "/" + db, "--format", "json", "--quiet"] + extra)
            XCTAssertEqual(r.status, 0, r.err)
            let j = try JSONParser().parse(r.out)
            return (try ImportanceScores(json: j), j)
        }
        let (a, ja) = try score([], db: "a.sqlite")
        let (b, jb) = try score(["--memory-gib", "1e-9"], db: "b.sqlite")
        XCTAssertEqual(jb["memory_budget_bytes"]?.intValue, 1)
        XCTAssertEqual(ja["memory_budget_bytes"]?.intValue, NemotronHModel.defaultBatchBudgetBytes)
        XCTAssertGreaterThan(jb["peak_resident_bytes"]?.intValue ?? 0, 0)
        let ra = try XCTUnwrap(a.layerRanking), rb = try XCTUnwrap(b.layerRanking)
        XCTAssertEqual(ra.removalOrder, rb.removalOrder)
        for (x, y) in zip(ra.rounds, rb.rounds) {
            for (l, v) in x.all { XCTAssertEqual(y.all[l]!, v, accuracy: 1e-6 * max(abs(v), 1e-12), "layer \(l)") }
        }
        for (x, y) in zip(a.hidden, b.hidden) { XCTAssertEqual(x, y, accuracy: 1e-6 * max(abs(x), 1e-12)) }
        // The table form prints the peak memory and the budget at the end.
        let t = try run(["score", Fixtures.nemoTiny] + data + ["--remove", "2", "--db", dir + "/a.sqlite", "--quiet", "--memory-gib", "0.5"])
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertTrue(t.out.contains("peak memory") && t.out.contains("activation budget 512"), t.out)
    }

    func testBadMemoryBudgetsAreRefusedNamingTheOption() throws {
        let ids = Fixtures.nemoTiny + "/calib-ids.jsonl"
        let commands: [[String]] = [
            ["eval", Fixtures.nemoTiny, "--data", ids],
            ["score", Fixtures.nemoTiny, "--data", ids, "--db", dir + "/x.sqlite"],
            ["search", dir + "/missing.yaml", "--db", dir + "/x.sqlite"],
            ["worker", Fixtures.nemoTiny, "--data", ids, "--db", dir + "/x.sqlite"],
            ["teacher-cache", Fixtures.nemoTiny, "--data", ids, "--top-k", "2", "--out", dir + "/cache"],
        ]
        for cmd in commands {
            for bad in ["0", "-1", "nan", "inf", "1e300"] {
                let r = try run(cmd + ["--memory-gib", bad])
                XCTAssertEqual(r.status, 64, "\(cmd[0]) --memory-gib \(bad): \(r.err)")
                XCTAssertTrue(r.err.contains("--memory-gib must be a number of GiB > 0"), "\(cmd[0]) --memory-gib \(bad): \(r.err)")
            }
            let r = try run(cmd + ["--weight-cache-gib", "-2"])
            XCTAssertEqual(r.status, 64, r.err)
            XCTAssertTrue(r.err.contains("--weight-cache-gib must be ≥ 0"), r.err)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.sqlite"), "a refused command must not create the store")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/cache"))
    }
}
