import Foundation
import PruneKit
import PruneKitPostgres
import XCTest

/// `prunekit` worker processes sharing a PostgreSQL study on the bundled nemo-tiny model: a worker killed with
/// `kill -9` mid-trial, a server restart mid-search, and the demo study giving the same leaderboard on SQLite and
/// PostgreSQL, also after `db copy` SQLite → PostgreSQL → SQLite. Each test uses a fresh database
/// (``PostgresTestServer``).
final class PostgresSearchTests: XCTestCase {
    /// The lease (`--stale-after`, seconds): longer than a nemo-tiny trial between heartbeats, short for the test.
    static let lease = 6.0

    var binary: String { SearchTests.binary }

    func requireBinary() throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("\(binary) not built; run `swift build` first") }
    }

    /// Searches/nemo-tiny.yaml with absolute paths, written into `dir`.
    func recipe(in dir: String) throws -> String {
        let text = try String(contentsOf: SearchTests.searches.appendingPathComponent("nemo-tiny.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "../Tests/Fixtures/", with: Fixtures.root.path + "/")
        let path = dir + "/nemo-tiny.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Starts `prunekit search` as worker `name` (its own `PRUNEKIT_WORKER_HOST`, as on its own machine).
    func startWorker(_ name: String, recipe: String, db: String, dir: String) throws -> Process {
        try TestBinaries.start(binary, ["search", recipe, "--db", db, "--study", "tiny", "--stale-after", "\(Self.lease)", "--quiet", "--format", "json"],
                               env: ["PRUNEKIT_WORKER_HOST": name], stdout: "\(dir)/\(name).json", stderr: "\(dir)/\(name).err")
    }

    /// Waits for a worker to exit (at most `seconds`); returns its `evaluated_here`.
    func finish(_ p: Process, _ name: String, dir: String, seconds: Double = 300) throws -> Int {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); XCTFail("\(name) did not finish in \(seconds) s") }
        p.waitUntilExit()
        let err = (try? String(contentsOfFile: "\(dir)/\(name).err", encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 0, "\(name): \(err)")
        let out = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).json"))
        return try JSONParser().parse(out)["evaluated_here"]?.intValue ?? -1
    }

    /// Polls the study until `condition` holds on its trials (at most `seconds`).
    func waitFor(_ db: String, seconds: Double = 300, _ what: String, _ condition: ([TrialRecord]) -> Bool) throws -> [TrialRecord] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let store = try? PostgresStudyStore(url: db, mode: .readOnly), let s = try? store.study(named: "tiny"),
               let trials = try? store.trials(study: s.id), condition(trials) {
                return trials
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw PostgresTestServer.Unavailable(description: "timed out waiting for \(what)")
    }

    // MARK: - Workers

    /// Three workers on "three machines" share the study; one is frozen mid-trial (SIGSTOP, like a hung machine) while
    /// the others work, then killed with `kill -9`. Its trial is retried by a survivor once its lease expires; every
    /// candidate ends COMPLETE exactly once and no trial but the killed one is evaluated twice.
    func testThreeWorkersOneKilledMidTrialItsTrialRetriedAfterTheLease() throws {
        try requireBinary()
        let db = try PostgresTestServer.freshDatabase()
        let dir = Fixtures.tempDir("pg-workers"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let recipe = try recipe(in: dir)
        let victim = try startWorker("machine-1", recipe: recipe, db: db, dir: dir)
        var started = [victim]
        defer { for p in started where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        let held = try waitFor(db, "machine-1 to hold a trial") { $0.contains { $0.state == .running && $0.workerHost == "machine-1" } }
            .first { $0.state == .running && $0.workerHost == "machine-1" }!
        kill(victim.processIdentifier, SIGSTOP)
        let others = try ["machine-0", "machine-2"].map { ($0, try startWorker($0, recipe: recipe, db: db, dir: dir)) }
        started += others.map(\.1)
        _ = try waitFor(db, "the other workers to claim trials") { ts in ts.contains { $0.workerHost == "machine-0" } && ts.contains { $0.workerHost == "machine-2" } }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        XCTAssertEqual(victim.terminationReason, .uncaughtSignal)
        let evaluated = try others.map { try finish($0.1, $0.0, dir: dir) }

        let store = try PostgresStudyStore(url: db, mode: .readOnly)
        let trials = try store.trials(study: try store.study(named: "tiny").id).filter { $0.state != .pruned }
        XCTAssertEqual(trials.count, 8, "top_k trials")
        XCTAssertTrue(trials.allSatisfy { $0.state == .complete }, "\(trials.map { "\($0.number) \($0.state)" })")
        XCTAssertEqual(Set(trials.map(\.archHash)).count, trials.count, "one trial per architecture")
        let retried = try XCTUnwrap(trials.first { $0.number == held.number })
        XCTAssertEqual(retried.attempts, 2, "the killed worker's trial was claimed again")
        XCTAssertNotEqual(retried.workerHost, "machine-1")
        XCTAssertTrue(trials.filter { $0.number != held.number }.allSatisfy { $0.attempts == 1 }, "no other trial evaluated twice")
        let byVictim = trials.filter { $0.workerHost == "machine-1" }.count
        XCTAssertEqual(evaluated.reduce(0, +) + byVictim, trials.count, "survivors \(evaluated) + killed worker \(byVictim): no work lost or repeated")
        // Retried only after the lease: the retry's claim is at least `lease` after the killed worker's.
        let f = ISO8601DateFormatter(); f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let first = try XCTUnwrap(held.claimedAt.flatMap(f.date(from:))), again = try XCTUnwrap(retried.claimedAt.flatMap(f.date(from:)))
        XCTAssertGreaterThanOrEqual(again.timeIntervalSince(first), Self.lease - 0.1)
        print("3 workers: machine-1 killed holding trial \(held.number); survivors evaluated \(evaluated); retried \(String(format: "%.1f", again.timeIntervalSince(first))) s after its first claim (lease \(Self.lease) s)")
    }

    /// The server restarts while two workers evaluate trials: they reconnect and finish the study.
    func testWorkersReconnectAfterAServerRestartMidSearch() throws {
        try requireBinary()
        let cluster = try PostgresTestServer.clusterDir()
        let db = try PostgresTestServer.freshDatabase()
        let dir = Fixtures.tempDir("pg-restart"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let recipe = try recipe(in: dir)
        let workers = try ["machine-0", "machine-1"].map { ($0, try startWorker($0, recipe: recipe, db: db, dir: dir)) }
        defer { for (_, p) in workers where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        let seen = try waitFor(db, "a first COMPLETE trial") { $0.contains { $0.state == .complete } }
        try PostgresStoreTests.restartServer(cluster)
        let evaluated = try workers.map { try finish($0.1, $0.0, dir: dir) }
        let store = try PostgresStudyStore(url: db, mode: .readOnly)
        let trials = try store.trials(study: try store.study(named: "tiny").id).filter { $0.state != .pruned }
        XCTAssertEqual(trials.count, 8)
        XCTAssertTrue(trials.allSatisfy { $0.state == .complete }, "\(trials.map { "\($0.number) \($0.state)" })")
        XCTAssertEqual(evaluated.reduce(0, +), trials.count, "per worker \(evaluated)")
        print("server restarted with \(seen.filter { $0.state == .complete }.count) trial(s) complete; the workers then evaluated \(evaluated)")
    }

    // MARK: - Same leaderboard on both stores, and through db copy

    func testDemoStudySameLeaderboardOnSQLiteAndPostgresAndThroughDbCopy() throws {
        try requireBinary()
        let pg = try PostgresTestServer.freshDatabase(), pg2 = try PostgresTestServer.freshDatabase()
        let dir = Fixtures.tempDir("pg-demo"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let recipe = SearchTests.searches.appendingPathComponent("nemo-tiny.yaml").path
        let sqlite = dir + "/demo.sqlite", back = dir + "/back.sqlite"
        for db in [sqlite, pg] {
            let (_, err, code) = try run(["search", recipe, "--db", db, "--study", "nemo-tiny", "--quiet"])
            XCTAssertEqual(code, 0, err)
        }
        func leaderboard(_ db: String) throws -> String {
            let (out, err, code) = try run(["leaderboard", "--db", db, "--study", "nemo-tiny"])
            XCTAssertEqual(code, 0, err)
            return out
        }
        let reference = try leaderboard(sqlite)
        XCTAssertTrue(reference.contains("8 complete"), reference)
        XCTAssertEqual(try leaderboard(pg), reference, "the same search on PostgreSQL")

        for (src, dst) in [(sqlite, pg2), (pg2, back)] {
            let (out, err, code) = try run(["db", "copy", src, dst])
            XCTAssertEqual(code, 0, err)
            XCTAssertFalse(out.contains(PostgresTestServer.environment["PRUNEKIT_TEST_POSTGRES_URL"].flatMap { try? PostgresURL($0).password } ?? "\u{0}"),
                           "password printed: \(out)")
        }
        XCTAssertEqual(try leaderboard(pg2), reference, "after db copy SQLite → PostgreSQL")
        XCTAssertEqual(try leaderboard(back), reference, "after db copy PostgreSQL → SQLite")
        let (again, _, code) = try run(["db", "copy", sqlite, pg2, "--format", "json"])
        XCTAssertEqual(code, 0)
        let copied = try JSONParser().parse(again)
        XCTAssertEqual(copied["studies"]?.arrayValue?.first?["trials"], .int(0), "a second copy writes nothing: \(again)")
        XCTAssertEqual(copied["score_sets"], .int(0), "a second copy writes nothing: \(again)")

        // The other reading commands on PostgreSQL.
        let (studies, err, sc) = try run(["studies", "--db", pg])
        XCTAssertEqual(sc, 0, err)
        XCTAssertTrue(studies.contains("nemo-tiny"), studies)
        let (_, rerr, rc) = try run(["report", "--db", pg, "--study", "nemo-tiny", "--out", dir + "/report"])
        XCTAssertEqual(rc, 0, rerr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/report/index.html"))
    }

    /// A bad `--db` URL and a wrong password through the command line: exit 3, the password never printed.
    func testCommandLineErrorsRedactThePassword() throws {
        try requireBinary()
        var u = try PostgresTestServer.url()
        u.password = "wrong-secret-pw"
        for (db, expected) in [(u.text, "password authentication failed"), ("postgresql://u:wrong-secret-pw@127.0.0.1:1/db?sslmode=nope", "sslmode 'nope'")] {
            let (out, err, code) = try run(["studies", "--db", db])
            XCTAssertEqual(code, 3, err)
            XCTAssertTrue(err.contains(expected), err)
            XCTAssertTrue(err.contains(":***@"), err)
            XCTAssertFalse((out + err).contains("wrong-secret-pw"), err)
        }
    }

    /// Runs `prunekit` with `args`, returning stdout, stderr and the exit status.
    func run(_ args: [String]) throws -> (String, String, Int32) {
        let r = try TestBinaries.run(binary, args)
        return (r.out, r.err, r.status)
    }
}
