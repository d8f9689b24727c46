import Foundation
import PruneKit
import XCTest

/// `prunekit worker --study`: a worker process and a `search` process share one study (SQLite file, and a fresh
/// PostgreSQL database when the test server is configured); every trial is evaluated once, and the metrics equal
/// those of a single search run of the same recipe. Also what a worker with neither --job nor --study chooses.
final class StudyWorkerTests: XCTestCase {
    var binary: String { SearchTests.binary }

    /// Searches/nemo-tiny.yaml with absolute paths, written into `dir`.
    func recipe(in dir: String) throws -> String {
        let text = try String(contentsOf: SearchTests.searches.appendingPathComponent("nemo-tiny.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "../Tests/Fixtures/", with: Fixtures.root.path + "/")
        let path = dir + "/nemo-tiny.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Starts `prunekit args` as host `host` (its own `PRUNEKIT_WORKER_HOST`), output in dir/host.{out,err}.
    func start(_ args: [String], host: String, dir: String) throws -> Process {
        try TestBinaries.start(binary, args, env: ["PRUNEKIT_WORKER_HOST": host], stdout: "\(dir)/\(host).out", stderr: "\(dir)/\(host).err")
    }

    func finish(_ p: Process, _ host: String, dir: String, seconds: Double = 600) -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); XCTFail("\(host) did not finish in \(seconds) s") }
        p.waitUntilExit()
        let err = (try? String(contentsOfFile: "\(dir)/\(host).err", encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 0, "\(host): \(err)")
        return (try? String(contentsOfFile: "\(dir)/\(host).out", encoding: .utf8)) ?? ""
    }

    /// The study's trials (not PRUNED) once `condition` holds (polled; nil after `seconds`).
    func poll(_ db: String, study: String, seconds: Double = 600, _ condition: ([TrialRecord]) -> Bool) -> [TrialRecord]? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let store = try? openStore(StoreLocation.parse(db), mode: .readOnly), let s = try? store.study(named: study),
               let trials = try? store.trials(study: s.id).filter({ $0.state != .pruned }), condition(trials) {
                return trials
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }

    func databases(_ dir: String) throws -> [String] {
        var out = [dir + "/study.sqlite"]
        if ProcessInfo.processInfo.environment["PRUNEKIT_TEST_POSTGRES_URL"] != nil || PostgresTestServer.required {
            out.append(try PostgresTestServer.freshDatabase())
        }
        return out
    }

    func testWorkerStudyAndSearchShareTrialsSameMetricsAsOneSearch() throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("\(binary) not built") }
        let dir = Fixtures.tempDir("study-worker"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let recipe = try recipe(in: dir)
        for db in try databases(dir) { try shared(db: db, recipe: recipe, dir: dir) }
    }

    func shared(db: String, recipe: String, dir: String) throws {
        // One search alone: the reference (it also stores the importance scores the second study reuses).
        _ = finish(try start(["search", recipe, "--db", db, "--study", "single", "--quiet"], host: "single", dir: dir), "single", dir: dir)

        // A search and a worker on study "shared". The search is paused while it holds a trial until the worker
        // has claimed one, so both evaluate trials whatever the machine's load.
        let search = try start(["search", recipe, "--db", db, "--study", "shared", "--quiet", "--stale-after", "600"], host: "search-host", dir: dir)
        var procs = [search]
        defer { for p in procs where p.isRunning { kill(p.processIdentifier, SIGCONT); kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        let held = poll(db, study: "shared") { $0.contains { $0.state == .running && $0.workerHost == "search-host" } }
        XCTAssertNotNil(held, "the search never held a trial")
        kill(search.processIdentifier, SIGSTOP)
        let worker = try start(["worker", "--db", db, "--study", "shared", "--threads", "1", "--lease-seconds", "600"], host: "worker-host", dir: dir)
        procs.append(worker)
        // A search stopped inside a write transaction (e.g. a heartbeat) blocks every SQLite writer until it
        // resumes: give the worker 20 s at a time, letting the search run a moment in between.
        var claimed: [TrialRecord]? = nil
        let deadline = Date().addingTimeInterval(300)
        while claimed == nil && Date() < deadline {
            claimed = poll(db, study: "shared", seconds: 20) { $0.contains { $0.workerHost == "worker-host" } }
            if claimed == nil {
                kill(search.processIdentifier, SIGCONT)
                Thread.sleep(forTimeInterval: 0.2)
                kill(search.processIdentifier, SIGSTOP)
            }
        }
        kill(search.processIdentifier, SIGCONT)
        XCTAssertNotNil(claimed, "the worker never claimed a trial while the search was paused")
        _ = finish(search, "search-host", dir: dir)
        let out = finish(worker, "worker-host", dir: dir)
        XCTAssertTrue(out.contains("study shared done"), out)

        let store = try openStore(StoreLocation.parse(db), mode: .readOnly)
        let reference = try store.trials(study: store.study(named: "single").id).filter { $0.state != .pruned }
        let trials = try store.trials(study: store.study(named: "shared").id).filter { $0.state != .pruned }
        XCTAssertEqual(trials.count, 8, "top_k trials")
        XCTAssertTrue(trials.allSatisfy { $0.state == .complete && $0.attempts == 1 }, "\(trials.map { "\($0.number) \($0.state) ×\($0.attempts)" })")
        XCTAssertEqual(Set(trials.map(\.archHash)).count, trials.count, "one trial per architecture")
        let byWorker = trials.filter { $0.workerHost == "worker-host" }.count, bySearch = trials.filter { $0.workerHost == "search-host" }.count
        XCTAssertGreaterThanOrEqual(byWorker, 1); XCTAssertGreaterThanOrEqual(bySearch, 1)
        XCTAssertEqual(byWorker + bySearch, trials.count, "every trial evaluated by one of the two")
        XCTAssertTrue(out.contains("\(byWorker) trials evaluated here"), out)
        let ref = Dictionary(uniqueKeysWithValues: reference.map { ($0.archHash, $0) })
        XCTAssertEqual(Set(ref.keys), Set(trials.map(\.archHash)), "the same candidates as one search")
        // Metrics of separate processes agree to rounding, not bit for bit (measured ≤ 1e-7 relative on nemo-tiny; the
        // worker runs 1 OpenBLAS thread, the searches all cores, so products may accumulate in another order).
        var worst = 0.0
        for t in trials {
            let r = try XCTUnwrap(ref[t.archHash])
            for (name, x, y) in [("KL", t.kl, r.kl), ("MSE", t.mse, r.mse), ("loss", t.loss, r.loss)] {
                let a = try XCTUnwrap(x, "trial \(t.number) \(name)"), b = try XCTUnwrap(y)
                let rel = a == b ? 0 : abs(a - b) / max(abs(b), 1e-30)
                worst = max(worst, rel)
                XCTAssertLessThanOrEqual(rel, 1e-6, "trial \(t.number) \(name): \(a) vs one search's \(b)")
            }
        }
        print("\(store.location): worker --study evaluated \(byWorker) trials, search \(bySearch); metrics vs one search's: max relative difference \(worst)")

        // Nothing left: a worker with neither --job nor --study says so and exits 0.
        let idle = try start(["worker", "--db", db], host: "idle", dir: dir)
        XCTAssertTrue(finish(idle, "idle", dir: dir).contains("nothing to do"))
    }

    /// A worker without --job/--study joins the oldest study with waiting trials and says so; --study of an unknown
    /// study is an error naming the known ones; MODEL with --study is refused.
    func testWorkerWithoutJobOrStudyChoosesAPendingStudy() throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("\(binary) not built") }
        let dir = Fixtures.tempDir("study-worker-choose"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let recipe = try recipe(in: dir), db = dir + "/s.sqlite"
        _ = finish(try start(["search", recipe, "--db", db, "--study", "tiny", "--quiet", "--max-trials", "1"], host: "first", dir: dir), "first", dir: dir)
        let out = finish(try start(["worker", "--db", db, "--idle-exit", "600"], host: "chooser", dir: dir), "chooser", dir: dir)
        XCTAssertTrue(out.contains("chose study tiny (7 waiting, 0 running trials)"), out)
        XCTAssertTrue(out.contains("7 trials evaluated here"), out)
        let store = try openStore(StoreLocation.parse(db), mode: .readOnly)
        XCTAssertTrue(try store.trials(study: store.study(named: "tiny").id).filter { $0.state != .pruned }.allSatisfy { $0.state == .complete })

        let unknown = try start(["worker", "--db", db, "--study", "nope"], host: "unknown", dir: dir)
        unknown.waitUntilExit()
        let err = try String(contentsOfFile: dir + "/unknown.err", encoding: .utf8)
        XCTAssertNotEqual(unknown.terminationStatus, 0)
        XCTAssertTrue(err.contains("no study \"nope\"") && err.contains("tiny"), err)
        let both = try start(["worker", Fixtures.nemoTiny, "--db", db, "--study", "tiny"], host: "both", dir: dir)
        both.waitUntilExit()
        let bothErr = try String(contentsOfFile: dir + "/both.err", encoding: .utf8)
        XCTAssertEqual(both.terminationStatus, 64, bothErr)
    }
}
