import Foundation
import GRDB
import PruneKit
import XCTest

/// The ``StudyStore`` contract, run on every backend of ``StoreBackends`` (SQLite always; PostgreSQL when
/// `PRUNEKIT_TEST_POSTGRES_URL` is set): scores, studies, unique architectures, exclusive claims, leases,
/// read-only stores and `db copy`.
final class StoreContractTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Fixtures.tempDir("store-contract") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Runs `body` once per backend with a fresh store.
    func eachBackend(_ body: (String, StoreLocation, any StudyStore) throws -> Void) throws {
        for (name, loc) in try StoreBackends.fresh(dir) {
            let store = try openStore(loc, mode: .readWrite)
            try body(name, loc, store)
        }
    }

    func metrics(_ kl: Double) -> CandidateMetrics { CandidateMetrics(kl: kl, mse: kl * 2, loss: 3 + kl, seconds: 0.5) }

    /// Completes every trial of the study with KL = 1 / (number + 1) (by one worker), returns the trials.
    func completeAll(_ store: any StudyStore, _ study: Int64) throws -> [TrialRecord] {
        let w = WorkerIdentity(host: "h", pid: 0, token: "w")
        while case let .claimed(t) = try store.claimNext(study: study, stages: [.joint], worker: w, lease: 600) {
            XCTAssertTrue(try store.complete(trial: t.id, worker: w, metrics: metrics(1 / Double(t.number + 1)), objective: .kl))
        }
        return try store.trials(study: study)
    }

    func testScoresRoundTripAndUpsert() throws {
        try eachBackend { name, _, store in
            let key = ScoreKey(checkpointFingerprint: "ckpt", calibrationFingerprint: "cal", optionsKey: "opts")
            XCTAssertNil(try store.scores(key), name)
            var set = StoreBackends.scoreSet(key)
            try store.saveScores(set)
            XCTAssertEqual(try store.scores(key), set, name)
            set.seconds = 9
            try store.saveScores(set)
            XCTAssertEqual(try store.scoreKeys(), [set.key], "\(name): one row per key")
        }
    }

    func testOpenStudyCreatesMatchesRaisesTopKAndRefusesAnother() throws {
        try eachBackend { name, _, store in
            let s = try store.openStudy(StoreBackends.study("a"))
            XCTAssertEqual(s.name, "a"); XCTAssertEqual(s.topK, 4); XCTAssertEqual(s.rejections.first?.count, 4)
            XCTAssertEqual(s.scoreKey, ScoreKey(checkpointFingerprint: "ckpt", calibrationFingerprint: "cal", optionsKey: "opts"), name)
            let again = try store.openStudy(StoreBackends.study("a", topK: 6))
            XCTAssertEqual(again.id, s.id); XCTAssertEqual(again.topK, 6, "\(name): top_k raised")
            XCTAssertEqual(try store.openStudy(StoreBackends.study("a", topK: 2)).topK, 6, "\(name): never lowered")
            XCTAssertThrowsError(try store.openStudy(StoreBackends.study("a", recipeHash: "other"))) { e in
                guard case .studyMismatch = e as? SearchError else { return XCTFail("\(name): \(e)") }
            }
            XCTAssertThrowsError(try store.study(named: "zzz")) { e in XCTAssertTrue("\(e)".contains("studies: a"), "\(name): \(e)") }
            XCTAssertEqual(try store.studyNames(), ["a"])
        }
    }

    func testRegisterKeepsOneTrialPerArchitecture() throws {
        try eachBackend { name, _, store in
            let s = try store.openStudy(StoreBackends.study("a"))
            let t = [StoreBackends.trial(layers: 10, hidden: 96), StoreBackends.trial(layers: 11, hidden: 96)]
            XCTAssertEqual(try store.register(study: s.id, trials: t), 2)
            XCTAssertEqual(try store.register(study: s.id, trials: t + [StoreBackends.trial(layers: 12, hidden: 96)]), 1, name)
            let all = try store.trials(study: s.id)
            XCTAssertEqual(all.map(\.number), [0, 1, 2])
            XCTAssertEqual(all.map(\.architecture.numLayers), [10, 11, 12])
            XCTAssertEqual(all[0].architecture, t[0].architecture, "\(name): the architecture round-trips (kept layers included)")
            XCTAssertEqual(all[0].cost, t[0].cost, name)
            XCTAssertEqual(Set(all.map(\.archHash)).count, 3)
            XCTAssertEqual(try store.study(named: "a").counts[.waiting], 3)
        }
    }

    func testClaimsAreExclusiveAndExpiredLeasesAreRetried() throws {
        try eachBackend { name, _, store in
            let s = try store.openStudy(StoreBackends.study("a"))
            try store.register(study: s.id, trials: [StoreBackends.trial(layers: 10, hidden: 96), StoreBackends.trial(layers: 11, hidden: 96)])
            let a = WorkerIdentity(host: "host-a", pid: 1, token: "a"), b = WorkerIdentity(host: "host-b", pid: 1, token: "b")
            guard case let .claimed(ta) = try store.claimNext(study: s.id, stages: [.joint], worker: a, lease: 600),
                  case let .claimed(tb) = try store.claimNext(study: s.id, stages: [.joint], worker: b, lease: 600) else { return XCTFail(name) }
            XCTAssertNotEqual(ta.number, tb.number)
            XCTAssertEqual(ta.state, .running); XCTAssertEqual(ta.attempts, 1); XCTAssertEqual(ta.workerID, a.id)
            guard case .busy(running: 2) = try store.claimNext(study: s.id, stages: [.joint], worker: b, lease: 600) else { return XCTFail(name) }
            try store.heartbeat(trial: tb.id, worker: b)
            XCTAssertTrue(try store.complete(trial: tb.id, worker: b, metrics: metrics(0.5), objective: .kl))
            // a's lease expires: b takes its trial over; a's late result is refused.
            Thread.sleep(forTimeInterval: 0.3)
            guard case let .claimed(again) = try store.claimNext(study: s.id, stages: [.joint], worker: b, lease: 0.2) else { return XCTFail(name) }
            XCTAssertEqual(again.number, ta.number); XCTAssertEqual(again.attempts, 2)
            XCTAssertFalse(try store.complete(trial: ta.id, worker: a, metrics: metrics(0.1), objective: .kl), "\(name): a lost its lease")
            XCTAssertTrue(try store.complete(trial: again.id, worker: b, metrics: metrics(0.2), objective: .kl))
            guard case .done = try store.claimNext(study: s.id, stages: [.joint], worker: a, lease: 600) else { return XCTFail(name) }
            let all = try store.trials(study: s.id)
            XCTAssertTrue(all.allSatisfy { $0.state == .complete && $0.workerID == b.id }, name)
            XCTAssertEqual(all.first { $0.number == ta.number }?.kl, 0.2)
        }
    }

    func testFailAndRetryFailed() throws {
        try eachBackend { name, _, store in
            let s = try store.openStudy(StoreBackends.study("a"))
            try store.register(study: s.id, trials: [StoreBackends.trial(layers: 10, hidden: 96)])
            let w = WorkerIdentity(host: "h", pid: 1, token: "w")
            guard case let .claimed(t) = try store.claimNext(study: s.id, stages: [.joint], worker: w, lease: 600) else { return XCTFail(name) }
            try store.fail(trial: t.id, worker: w, error: "boom", seconds: 0.1)
            XCTAssertEqual(try store.trials(study: s.id).first?.error, "boom")
            XCTAssertEqual(try store.retryFailed(study: s.id), 1)
            XCTAssertEqual(try store.trials(study: s.id).first?.state, .waiting, name)
        }
    }

    /// Four workers (live processes: this one), each with its own connection, claim concurrently: every trial is claimed exactly once.
    func testConcurrentWorkersNeverClaimATrialTwice() throws {
        try eachBackend { name, loc, store in
            let s = try store.openStudy(StoreBackends.study("a"))
            try store.register(study: s.id, trials: (0..<24).map { StoreBackends.trial(layers: 10, hidden: 8 + $0) })
            final class Log: @unchecked Sendable { let lock = NSLock(); var claimed = [Int](), errors = [String]() }
            let log = Log()
            DispatchQueue.concurrentPerform(iterations: 4) { k in
                do {
                    let mine = try openStore(loc, mode: .readWrite)
                    let w = WorkerIdentity(host: "h", pid: Int(getpid()), token: "w\(k)")
                    while case let .claimed(t) = try mine.claimNext(study: s.id, stages: [.joint], worker: w, lease: 600) {
                        log.lock.lock(); log.claimed.append(t.number); log.lock.unlock()
                        _ = try mine.complete(trial: t.id, worker: w, metrics: CandidateMetrics(kl: 0.1, mse: 0.2, loss: 3, seconds: 0), objective: .kl)
                    }
                } catch { log.lock.lock(); log.errors.append("\(error)"); log.lock.unlock() }
            }
            XCTAssertEqual(log.errors, [], name)
            XCTAssertEqual(log.claimed.sorted(), Array(0..<24), "\(name): each trial claimed once")
        }
    }

    func testMetricsAndBlobs() throws {
        try eachBackend { name, _, store in
            let s = try store.openStudy(StoreBackends.study("a"))
            try store.register(study: s.id, trials: [StoreBackends.trial(layers: 10, hidden: 96)])
            let m = TrialMetric(trialNumber: 0, student: "pruned", name: "kd_loss", value: 3.4, kdSteps: 10, note: nil,
                                provenance: .object([("who", .string("test"))]), toolVersion: "t", createdAt: "2026-12-03T00:00:00Z")
            try store.appendMetrics(study: s, [m])
            XCTAssertEqual(try store.metrics(study: s.id), [m], name)
            var bad = m; bad.trialNumber = 5
            XCTAssertThrowsError(try store.appendMetrics(study: s, [bad])) { e in XCTAssertTrue("\(e)".contains("no trial 5"), "\(name): \(e)") }
            let data = Data((0..<1000).map { UInt8($0 % 251) })
            try store.saveBlob(study: s.id, name: "x/0", data: data)
            XCTAssertEqual(try store.blob(study: s.id, name: "x/0"), data)
            XCTAssertNil(try store.blob(study: s.id, name: "x/1"))
            XCTAssertEqual(try store.blobNames(study: s.id), ["x/0"], name)
        }
    }

    func testReadOnlyStoreRefusesWrites() throws {
        try eachBackend { name, loc, store in
            _ = try store.openStudy(StoreBackends.study("a"))
            let ro = try openStore(loc, mode: .readOnly)
            XCTAssertEqual(try ro.studyNames(), ["a"])
            XCTAssertThrowsError(try ro.saveScores(StoreBackends.scoreSet(ScoreKey(checkpointFingerprint: "c", calibrationFingerprint: "d", optionsKey: "o")))) { e in
                guard case .readOnlyMode = e as? StoreError else { return XCTFail("\(name): \(e)") }
            }
        }
    }

    /// `db copy` from every backend to every backend: identical leaderboards, idempotent, a different study of
    /// the same name refused with nothing written.
    func testCopyRoundTripIsIdempotentAndRefusesAnotherStudy() throws {
        let sources = try StoreBackends.fresh(dir)
        for (srcName, srcLoc) in sources {
            let src = try openStore(srcLoc, mode: .readWrite)
            let s = try src.openStudy(StoreBackends.study("demo"))
            try src.register(study: s.id, trials: (0..<5).map { StoreBackends.trial(layers: 10 + $0 % 3, hidden: 64 + 16 * $0, tokensPerSecond: Double(100 + $0)) })
            let trials = try completeAll(src, s.id)
            try src.saveScores(StoreBackends.scoreSet(s.scoreKey!))
            try src.saveScores(StoreBackends.scoreSet(ScoreKey(checkpointFingerprint: "other", calibrationFingerprint: "cal", optionsKey: "o")))
            try src.appendMetrics(study: s, [TrialMetric(trialNumber: 1, student: "pruned", name: "kd_loss", value: 3, kdSteps: 0, note: nil,
                                                         provenance: .null, toolVersion: "t", createdAt: "2026-12-03T00:00:00Z")])
            try src.saveBlob(study: s.id, name: "full_model/heldout_logits/0", data: Data([1, 2, 3]))
            func board(_ st: any StudyStore) throws -> [String] {
                let study = try st.study(named: "demo")
                return StudyRanking.leaderboard(try st.trials(study: study.id)).map {
                    "\($0.number) \($0.archHash.prefix(8)) \($0.architecture.keptLayers ?? []) \($0.kl!) \($0.mse!) \($0.loss!) \($0.tokensPerSecond) \($0.params)"
                }
            }
            let expected = try board(src)
            XCTAssertEqual(expected.count, trials.count)
            for (dstName, dstLoc) in try StoreBackends.fresh(dir) {
                let label = "\(srcName) → \(dstName)"
                let dst = try openStore(dstLoc, mode: .readWrite)
                let first = try StoreCopy.copy(from: try openStore(srcLoc, mode: .readOnly), to: dst, study: "demo")
                XCTAssertEqual(first.studies.first?.result, .created(trials: 5), label)
                XCTAssertEqual(first.scoreSets, 1, "\(label): only the study's score set")
                XCTAssertEqual(try board(dst), expected, label)
                XCTAssertEqual(try dst.metrics(study: try dst.study(named: "demo").id).count, 1)
                XCTAssertEqual(try dst.blob(study: try dst.study(named: "demo").id, name: "full_model/heldout_logits/0"), Data([1, 2, 3]))
                XCTAssertNotNil(try dst.scores(s.scoreKey!))
                // Again: nothing new.
                let second = try StoreCopy.copy(from: src, to: dst)
                XCTAssertEqual(second.studies.first?.result, .merged(trials: 0), label)
                XCTAssertEqual(second.scoreSets, 1, "\(label): the other score set")
                XCTAssertEqual(try board(dst), expected, label)
                XCTAssertEqual(try dst.metrics(study: try dst.study(named: "demo").id).count, 1, "\(label): metrics not duplicated")
                // And back: the round trip keeps the leaderboard.
                let back = try openStore(.sqlite(path: dir + "/back-\(UUID().uuidString.prefix(6)).sqlite"), mode: .readWrite)
                _ = try StoreCopy.copy(from: dst, to: back)
                XCTAssertEqual(try board(back), expected, "\(label) → sqlite")
                // A different study under the same name is refused, nothing written.
                let other = try openStore(.sqlite(path: dir + "/other-\(UUID().uuidString.prefix(6)).sqlite"), mode: .readWrite)
                let o = try other.openStudy(StoreBackends.study("demo", recipeHash: "another recipe"))
                try other.register(study: o.id, trials: [StoreBackends.trial(layers: 3, hidden: 3)])
                try other.saveScores(StoreBackends.scoreSet(ScoreKey(checkpointFingerprint: "third", calibrationFingerprint: "cal", optionsKey: "o")))
                let keysBefore = try dst.scoreKeys().count
                XCTAssertThrowsError(try StoreCopy.copy(from: other, to: dst)) { e in
                    guard case .copyConflict = e as? StoreError else { return XCTFail("\(label): \(e)") }
                    XCTAssertTrue("\(e)".contains("demo"), "\(e)")
                }
                XCTAssertEqual(try board(dst), expected, "\(label): nothing written by the refused copy")
                XCTAssertEqual(try dst.scoreKeys().count, keysBefore, "\(label): no score set written by the refused copy")
            }
        }
    }

    /// A destination trial still WAITING takes the finished source trial's result; finished ones are kept.
    func testCopyCompletesUnfinishedTrials() throws {
        let a = try openStore(.sqlite(path: dir + "/a.sqlite"), mode: .readWrite)
        let b = try openStore(.sqlite(path: dir + "/b.sqlite"), mode: .readWrite)
        let sa = try a.openStudy(StoreBackends.study("demo"))
        try a.register(study: sa.id, trials: [StoreBackends.trial(layers: 10, hidden: 96), StoreBackends.trial(layers: 11, hidden: 96)])
        _ = try StoreCopy.copy(from: a, to: b)
        _ = try completeAll(a, sa.id)
        let r = try StoreCopy.copy(from: a, to: b)
        XCTAssertEqual(r.studies.first?.result, .merged(trials: 2))
        XCTAssertTrue(try b.trials(study: try b.study(named: "demo").id).allSatisfy { $0.state == .complete })
    }

    // MARK: - SQLite-specific: files, versions, foreign databases

    func testSQLiteReadOnlyOpeningWritesNothing() throws {
        let path = dir + "/p.sqlite"
        let s = try SQLiteStudyStore(path: path)
        _ = try s.openStudy(StoreBackends.study("a"))
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        chmod(path, 0o444); defer { chmod(path, 0o644) }
        let ro = try SQLiteStudyStore(path: path, mode: .readOnly)
        XCTAssertEqual(try ro.studyNames(), ["a"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "header bytes unchanged")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), files, "no side files created")
        // Missing file: refused, not created.
        XCTAssertThrowsError(try SQLiteStudyStore(path: dir + "/none.sqlite", mode: .readOnly)) { e in
            guard case .missing = e as? StoreError else { return XCTFail("\(e)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/none.sqlite"))
        // A directory is named as one.
        XCTAssertThrowsError(try SQLiteStudyStore(path: dir, mode: .readOnly)) { e in XCTAssertTrue("\(e)".contains("is a directory"), "\(e)") }
        XCTAssertThrowsError(try SQLiteStudyStore(path: dir)) { e in XCTAssertTrue("\(e)".contains("is a directory"), "\(e)") }
    }

    func testForeignAndNewerDatabasesAreRefused() throws {
        let foreign = dir + "/foreign.sqlite"
        try DatabaseQueue(path: foreign).write { try $0.execute(sql: "CREATE TABLE notes (x TEXT)") }
        let before = try Data(contentsOf: URL(fileURLWithPath: foreign))
        for mode in [StoreMode.readOnly, .readWrite] {
            XCTAssertThrowsError(try SQLiteStudyStore(path: foreign, mode: mode)) { e in
                guard case .notPruneKit = e as? StoreError else { return XCTFail("\(e)") }
                XCTAssertTrue("\(e)".contains("not a PruneKit database") && "\(e)".contains("notes"), "\(e)")
            }
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: foreign)), before, "no PruneKit tables added")
        XCTAssertEqual(try DatabaseQueue(path: foreign).read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }, ["notes"])

        let newer = dir + "/newer.sqlite"
        let s = try SQLiteStudyStore(path: newer)
        try s.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        for mode in [StoreMode.readOnly, .readWrite] {
            XCTAssertThrowsError(try SQLiteStudyStore(path: newer, mode: mode)) { e in
                guard case .newerSchema = e as? StoreError else { return XCTFail("\(e)") }
                XCTAssertTrue("\(e)".contains("newer PruneKit") && "\(e)".contains("v99-from-the-future"), "\(e)")
            }
        }
        // Corrupt: the same error for reading and writing commands.
        let bad = dir + "/bad.sqlite"
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: bad))
        for mode in [StoreMode.readOnly, .readWrite] {
            XCTAssertThrowsError(try SQLiteStudyStore(path: bad, mode: mode)) { e in
                guard case .notADatabase = e as? StoreError else { return XCTFail("\(mode): \(e)") }
            }
        }
    }

    /// A database written by the first search schema (migrations v1–v3 only, no kept layers or cost figures)
    /// is migrated by a writing open and read by a reading one.
    func testOlderDatabaseIsMigratedAndReadable() throws {
        let path = dir + "/old.sqlite"
        let q = try DatabaseQueue(path: path)
        var m = DatabaseMigrator()
        for mig in StoreMigrations.all.prefix(3) { m.registerMigration(mig.id) { db in for sql in mig.sqlite { try db.execute(sql: sql) } } }
        try m.migrate(q)
        try q.write { d in
            try d.execute(sql: """
                INSERT INTO studies (name, recipe_path, recipe_yaml, recipe_json, recipe_hash, objective, strategy, selection, checkpoint_path,
                    checkpoint_fingerprint, calibration_fingerprint, heldout_fingerprint, hardware, context, batch, budget_bytes, n_enumerated,
                    n_feasible, rejections_json, full_loss, seed, tool_version, created_at)
                VALUES ('old', 'r.yaml', 'x', '{}', 'h', 'kl', 'joint', 'throughput', 'm', 'c', 'k', 'h', 'gpu', 4096, 1, 1000, 1, 1,
                    '{"memory budget": 0}', 3.3, 7, '0.1.0', '2026-01-01')
                """)
            try d.execute(sql: """
                INSERT INTO trials (study_id, number, stage, state, arch_json, arch_hash, num_layers, hidden_size, ffn_hidden_size, mamba_num_heads,
                    mamba_head_dim, num_attention_heads, pattern, params, weight_bytes, memory_bytes, budget_bytes, slack_bytes, fits, max_batch,
                    tokens_per_second, kl, mse, loss, objective_value, seed, tool_version, created_at)
                VALUES (1, 0, 'joint', 'COMPLETE', '{}', 'abc', 2, 64, 128, 8, 16, 4, 'M-', 100, 200, 300, 1000, 700, 1, 1, 50.5, 0.25, 0.5, 3.5,
                    0.25, 7, '0.1.0', '2026-01-01')
                """)
        }
        let ro = try SQLiteStudyStore(path: path, mode: .readOnly)
        let st = try ro.study(named: "old")
        XCTAssertNil(st.scoreKey); XCTAssertNil(st.topK)
        let t = try XCTUnwrap(try ro.trials(study: st.id).first)
        XCTAssertNil(t.architecture.keptLayers); XCTAssertNil(t.cost); XCTAssertEqual(t.kl, 0.25); XCTAssertEqual(t.architecture.pattern, "M-")
        XCTAssertEqual(try ro.blobNames(study: st.id), [])
        let rw = try SQLiteStudyStore(path: path)
        XCTAssertEqual(try rw.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") },
                       StoreMigrations.all.map(\.id))
        XCTAssertEqual(try rw.trials(study: st.id).first?.kl, 0.25)
    }

    func testLocationsParseAndRedact() {
        XCTAssertEqual(StoreLocation.parse("a/b.sqlite"), .sqlite(path: "a/b.sqlite"))
        XCTAssertEqual(StoreLocation.parse("postgresql://u:secret@h:5432/db?sslmode=require"), .postgres(url: "postgresql://u:secret@h:5432/db?sslmode=require"))
        XCTAssertEqual(StoreLocation.parse("POSTGRES://u@h/db"), .postgres(url: "POSTGRES://u@h/db"))
        XCTAssertEqual(StoreLocation.parse("postgresql://u:secret@h:5432/db").description, "postgresql://u:***@h:5432/db")
        XCTAssertEqual(StoreLocation.parse("postgresql://u@h/db").description, "postgresql://u@h/db")
        XCTAssertEqual(StoreLocation.resolve(option: nil, environment: [:]), .sqlite(path: "prunekit.sqlite"))
        XCTAssertEqual(StoreLocation.resolve(option: nil, environment: ["PRUNEKIT_DB": "x.sqlite"]), .sqlite(path: "x.sqlite"))
        XCTAssertEqual(StoreLocation.resolve(option: "y.sqlite", environment: ["PRUNEKIT_DB": "x.sqlite"]), .sqlite(path: "y.sqlite"))
    }
}
