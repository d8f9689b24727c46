import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import PruneKit
import XCTest

/// Post-hoc trial metrics (`prunekit annotate`): storage with time and provenance, ranking by any metric,
/// the v3 migration on a database made before it, bad inputs, and the report's distillation section.
final class AnnotateTests: XCTestCase {
    static let repoRoot = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()

    /// A real nemo-tiny study (the bundled recipe), searched once per test run; the search closes its database,
    /// so the file is complete (WAL checkpointed) and each test works on a copy.
    nonisolated(unsafe) static var template: String?

    override class func tearDown() {
        if let t = template { try? FileManager.default.removeItem(atPath: (t as NSString).deletingLastPathComponent) }
        template = nil
        super.tearDown()
    }

    func study(_ dir: String) throws -> (SQLiteStudyStore, StudyRecord, [TrialRecord]) {
        if Self.template == nil {
            let recipe = try Recipe.load(path: Self.repoRoot.appendingPathComponent("Searches/nemo-tiny.yaml").path)
            let t = Fixtures.tempDir("annotate-template") + "/study.sqlite"
            var o = SearchRunOptions(dbPath: t, studyName: "tiny")
            o.cacheBudgetBytes = 64 << 20
            _ = try ArchitectureSearch.run(recipe: recipe, options: o)
            Self.template = t
        }
        let db = dir + "/study.sqlite"
        try FileManager.default.copyItem(atPath: Self.template!, toPath: db)
        let store = try SQLiteStudyStore(path: db)
        let s = try store.study(named: "tiny")
        return (store, s, StudyRanking.leaderboard(try store.trials(study: s.id)))
    }

    func testAnnotateRankAndReport() throws {
        let dir = Fixtures.tempDir("annotate"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, s, ranked) = try study(dir)
        XCTAssertGreaterThanOrEqual(ranked.count, 2)
        let (a, b) = (ranked[0].number, ranked[1].number)
        let prov = JSONValue.object([("command", .string("test"))])
        // Before KD the search's order; after KD trial b wins; a random baseline of a's architecture in between.
        for (trial, student, curve) in [(a, "pruned", [3.9, 3.7, 3.6]), (b, "pruned", [4.0, 3.6, 3.5]), (a, "random-seed-1", [4.2, 3.8, 3.55])] {
            for (steps, loss) in zip([0, 25, 400], curve) {
                try TrialMetrics.annotate(store, study: s, trial: trial, student: student, metrics: [("kd_loss", loss), ("kd_kl", loss - 3)], kdSteps: steps,
                                   note: "test", provenance: prov)
            }
        }
        // A later correction of one figure replaces it (history kept).
        try TrialMetrics.annotate(store, study: s, trial: b, metrics: [("kd_loss", 3.45)], kdSteps: 400, provenance: prov)
        let history = try store.metrics(study: s.id)
        XCTAssertEqual(history.count, 9 * 2 + 1)
        XCTAssertEqual(TrialMetrics.currentMetrics(history).count, 18)
        XCTAssertEqual(history.last?.provenance["command"]?.stringValue, "test")
        XCTAssertFalse(history[0].createdAt.isEmpty)
        XCTAssertEqual(history[0].toolVersion, PruneKitVersion.string)

        let rank = TrialMetrics.rankByMetric(history, name: "kd_loss")
        XCTAssertEqual(rank.map { "\($0.trialNumber)/\($0.student)" }, ["\(b)/pruned", "\(a)/random-seed-1", "\(a)/pruned"])
        XCTAssertEqual(rank[0].value, 3.45); XCTAssertEqual(rank[0].kdSteps, 400); XCTAssertEqual(rank[0].before, 4.0)
        XCTAssertEqual(TrialMetrics.rankByMetric(history, name: "kd_loss", maximize: true).first?.trialNumber, a)

        // The report: table and both charts, well-formed.
        let input = try ReportInput.fromStudy(store: SQLiteStudyStore(path: store.path, mode: .readOnly), study: "tiny")
        XCTAssertEqual(input.postHoc?.count, 18)
        let out = dir + "/report"
        try ReportWriter.write(input, to: out)
        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        XCTAssertTrue(html.contains("After distillation"))
        XCTAssertTrue(html.contains("random-seed-1"))
        XCTAssertTrue(html.contains("3.4500"))
        for f in ["index.html", "kd-before-after.svg", "kd-steps.svg"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: out + "/" + f))
            let p = XMLParser(data: data)
            XCTAssertTrue(p.parse(), "\(f) is not well-formed XML: \(String(describing: p.parserError))")
        }
        let md = try String(contentsOfFile: out + "/summary.md", encoding: .utf8)
        XCTAssertTrue(md.contains("| 1 | #\(b) | pruned |"), md)
        XCTAssertTrue(md.contains("kd-steps.svg"))
        // Round trip through the report's JSON form.
        let back = try PruneKitJSON.decode(ReportInput.self, from: try input.jsonData())
        XCTAssertEqual(back.postHoc, input.postHoc)
    }

    func testBadAnnotationsAreClearErrors() throws {
        XCTAssertEqual(try TrialMetrics.parseMetric("kd_loss=3.41").value, 3.41)
        XCTAssertEqual(try TrialMetrics.parseMetric("kd_tokens=2e6").value, 2e6)
        for (arg, needle) in [("kd_loss", "expected NAME=VALUE"), ("kd_loss=abc", "not a finite number"), ("kd_loss=nan", "not a finite number"),
                              ("kl=1", "the search measures itself"), ("1x=2", "must start with a letter"), ("a b=1", "must start with a letter")] {
            XCTAssertThrowsError(try TrialMetrics.parseMetric(arg)) { e in
                XCTAssertTrue("\(e)".contains(needle) && "\(e)".contains(arg), "\(arg): \(e)")
                XCTAssertEqual(ExitStatus.code(for: e), 2)
            }
        }
        let dir = Fixtures.tempDir("annotate-bad"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, s, _) = try study(dir)
        XCTAssertThrowsError(try TrialMetrics.annotate(store, study: s, trial: 9999, metrics: [("kd_loss", 1)], provenance: .null)) { e in
            XCTAssertTrue("\(e)".contains("no trial 9999") && "\(e)".contains("tiny"), "\(e)")
        }
        XCTAssertThrowsError(try TrialMetrics.annotate(store, study: s, trial: 0, student: "bad label!", metrics: [("kd_loss", 1)], provenance: .null)) { e in
            XCTAssertTrue("\(e)".contains("--student"), "\(e)")
        }
        XCTAssertThrowsError(try TrialMetrics.annotate(store, study: s, trial: 0, metrics: [("kd_loss", 1)], kdSteps: -1, provenance: .null))
        XCTAssertThrowsError(try TrialMetrics.annotate(store, study: s, trial: 0, metrics: [], provenance: .null))
        XCTAssertEqual(try store.metrics(study: s.id).count, 0, "nothing stored by failed annotations")
    }

    /// A database created before the trial_metrics table gains it on open, its studies untouched.
    func testMigrationAddsTableToAnOlderDatabase() throws {
        let dir = Fixtures.tempDir("annotate-migrate"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, s, ranked) = try study(dir)
        let path = store.path
        try store.write { d in
            try d.execute(sql: "DROP TABLE trial_metrics")
            try d.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v3-trial-metrics'")
        }
        let reopened = try SQLiteStudyStore(path: path)
        XCTAssertEqual(try reopened.study(named: "tiny").id, s.id)
        try TrialMetrics.annotate(reopened, study: s, trial: ranked[0].number, metrics: [("kd_loss", 3)], kdSteps: 0, provenance: .null)
        XCTAssertEqual(try reopened.metrics(study: s.id).count, 1)
    }

    /// The commands: annotate, leaderboard --objective (json), and a bad metric's exit code.
    func testAnnotateAndLeaderboardCommands() throws {
        let bins = ["release", "debug"].map { Self.repoRoot.appendingPathComponent(".build/\($0)/prunekit").path }
        guard let bin = bins.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { throw XCTSkip("prunekit not built") }
        let dir = Fixtures.tempDir("annotate-cli"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, _, ranked) = try study(dir)
        let db = store.path
        func run(_ args: [String]) throws -> (String, String, Int32) {
            let r = try TestBinaries.run(bin, args)
            return (r.out, r.err, r.status)
        }
        let t = ranked[0].number
        var r = try run(["annotate", "--db", db, "--study", "tiny", "--trial", "\(t)", "--kd-steps", "0", "--metric", "kd_loss=3.9"])
        XCTAssertEqual(r.2, 0, r.1)
        r = try run(["annotate", "--db", db, "--study", "tiny", "--trial", "\(t)", "--kd-steps", "400", "--metric", "kd_loss=3.41",
                     "--metric", "kd_tokens=2e6", "--note", "after KD", "--format", "json"])
        XCTAssertEqual(r.2, 0, r.1)
        XCTAssertTrue(r.0.contains("\"kd_tokens\""), r.0)
        r = try run(["leaderboard", "--db", db, "--study", "tiny", "--objective", "kd_loss", "--format", "json"])
        XCTAssertEqual(r.2, 0, r.1)
        let j = try JSONParser().parse(r.0)
        XCTAssertEqual(j["trials"]?.arrayValue?.first?["kd_loss"]?.doubleValue, 3.41)
        XCTAssertEqual(j["trials"]?.arrayValue?.first?["kd_loss_before_kd"]?.doubleValue, 3.9)
        r = try run(["leaderboard", "--db", db, "--study", "tiny", "--objective", "loss"])
        XCTAssertEqual(r.2, 0, r.1)
        r = try run(["leaderboard", "--db", db, "--study", "tiny", "--objective", "nope"])
        XCTAssertEqual(r.2, 2); XCTAssertTrue(r.1.contains("no metric \"nope\"") && r.1.contains("kd_loss"), r.1)
        r = try run(["annotate", "--db", db, "--study", "tiny", "--trial", "\(t)", "--metric", "kd_loss=oops"])
        XCTAssertEqual(r.2, 2); XCTAssertTrue(r.1.contains("kd_loss=oops"), r.1)
        r = try run(["annotate", "--db", dir + "/missing.sqlite", "--study", "tiny", "--trial", "0", "--metric", "kd_loss=1"])
        XCTAssertEqual(r.2, 3); XCTAssertTrue(r.1.contains("missing.sqlite"), r.1)
        // --source must be a readable file (its SHA-256 is recorded); a metric is given once per call.
        for source in [dir + "/nonexistent.json", dir] {
            r = try run(["annotate", "--db", db, "--study", "tiny", "--trial", "\(t)", "--metric", "kd_loss=1", "--source", source])
            XCTAssertEqual(r.2, 2, r.1); XCTAssertTrue(r.1.contains("--source") && r.1.contains(source), r.1)
        }
        r = try run(["annotate", "--db", db, "--study", "tiny", "--trial", "\(t)", "--metric", "kd_loss=1", "--metric", "kd_loss=2"])
        XCTAssertEqual(r.2, 2, r.1); XCTAssertTrue(r.1.contains("kd_loss is given twice"), r.1)
        // A baseline student of the same trial shows no search KL/loss (those are the pruned student's).
        r = try run(["annotate", "--db", db, "--study", "tiny", "--trial", "\(t)", "--student", "random-seed-1", "--kd-steps", "400", "--metric", "kd_loss=3.5"])
        XCTAssertEqual(r.2, 0, r.1)
        r = try run(["leaderboard", "--db", db, "--study", "tiny", "--objective", "kd_loss", "--format", "json"])
        let rows = try JSONParser().parse(r.0)["trials"]?.arrayValue ?? []
        let baseline = try XCTUnwrap(rows.first { $0["student"]?.stringValue == "random-seed-1" })
        XCTAssertEqual(baseline["kl"], .null); XCTAssertEqual(baseline["loss"], .null)
        XCTAssertNotNil(rows.first { $0["student"]?.stringValue == "pruned" }?["kl"]?.doubleValue)
    }
}
