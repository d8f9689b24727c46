import Foundation
import PruneKit
import XCTest

/// Architecture search (issue 8): recipes, the 12B → 9B dry run, a real search on nemo-tiny, resume,
/// concurrent workers and bad inputs.
final class SearchTests: XCTestCase {
    static let repoRoot = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
    static var searches: URL { repoRoot.appendingPathComponent("Searches") }
    static var binary: String { TestBinaries.prunekit ?? repoRoot.appendingPathComponent(".build/release/prunekit").path }

    /// nemo-tiny.yaml with `edits` applied to its text, written into `dir` with absolute paths.
    func tinyRecipe(in dir: String, _ edits: [(String, String)] = []) throws -> Recipe {
        var text = try String(contentsOf: Self.searches.appendingPathComponent("nemo-tiny.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "../Tests/Fixtures/", with: Fixtures.root.path + "/")
        for (a, b) in edits {
            XCTAssertTrue(text.contains(a), "recipe edit target \(a) not found")
            text = text.replacingOccurrences(of: a, with: b)
        }
        let path = dir + "/nemo-tiny.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try Recipe.load(path: path)
    }

    func options(_ db: String) -> SearchRunOptions {
        var o = SearchRunOptions(dbPath: db, studyName: "tiny")
        o.cacheBudgetBytes = 64 << 20
        return o
    }

    // MARK: - Dry run of the paper's search

    func testNano12BDryRunListsThe9BArchitectureAsFeasible() throws {
        let recipe = try Recipe.load(path: Self.searches.appendingPathComponent("nano-12b-to-9b.yaml").path)
        let plan = try ArchitectureSearch.dryRun(recipe: recipe)
        XCTAssertEqual(plan.candidates.count, 3 * 6 * 23 * 3)
        let nine = try XCTUnwrap(plan.candidates.first {
            $0.architecture.numLayers == 56 && $0.architecture.hiddenSize == 4480 && $0.architecture.ffnHiddenSize == 15680
                && $0.architecture.mambaNumHeads == 128
        })
        XCTAssertTrue(nine.isFeasible, "the 9B architecture must fit the A10G budget at 128k: \(String(describing: nine.rejection))")
        XCTAssertEqual(nine.cost.parameters, 8_888_227_328)
        XCTAssertEqual(nine.pattern.filter { $0 == "M" }.count, 27)
        XCTAssertEqual(nine.pattern.filter { $0 == "*" }.count, 4)
        XCTAssertEqual(nine.pattern.filter { $0 == "-" }.count, 25)
        // The real 9B config has exactly this parameter count.
        XCTAssertEqual(try NemotronHConfig.load(path: Fixtures.config9B).parameterCount, 8_888_227_328)
        XCTAssertEqual(GiB.of(plan.budgetBytes), 19.66, accuracy: 0.005)
        print(String(format: "12B→9B dry run: 56 layers, hidden 4480, FFN 15680, 128 Mamba heads: %ld params, %.3f GiB at 128k (slack %.3f GiB), %.2f tokens/s, max batch %d; %d of %d candidates feasible",
                     nine.cost.parameters, GiB.of(nine.cost.memoryBytes), GiB.of(nine.cost.slackBytes), nine.cost.outputTokensPerSecond,
                     nine.cost.maxBatch, plan.feasible.count, plan.candidates.count) as String)
        // The depth stage probes 52/54/56 layers; with the heuristic, N = 6 removes 1 M, 2 *, 3 -.
        XCTAssertEqual(plan.depthProbes.map(\.numLayers), [52, 54, 56])
        let source = try NemotronHConfig.load(path: Fixtures.config12B)
        XCTAssertEqual(SearchPlan.heuristicRemovalCounts(source: source, remove: 6), [.mamba: 1, .attention: 2, .mlp: 3])
        XCTAssertEqual(plan.pickedPerDepth[56]?.count, 3)
    }

    func testDryRunCommandPrintsThe9BLine() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw XCTSkip("\(Self.binary) not built; run `swift build -c release` first")
        }
        let (out, _, code) = try run([Self.binary, "search", Self.searches.appendingPathComponent("nano-12b-to-9b.yaml").path, "--dry-run"])
        XCTAssertEqual(code, 0)
        let line = try XCTUnwrap(out.split(separator: "\n").first { $0.contains("8,888,227,328") })
        print("dry-run line: \(line)")
        XCTAssertTrue(line.contains("27 M / 4 * / 25 -") && line.contains("yes"))
        XCTAssertTrue(out.contains("depth heuristic"))
    }

    // MARK: - A real search on nemo-tiny

    func testTinySearchBestTrialBeatsRandomKeepSetsAndResumes() throws {
        let dir = Fixtures.tempDir("search-tiny"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let recipe = try tinyRecipe(in: dir)
        let db = dir + "/s.sqlite"
        let first = try ArchitectureSearch.run(recipe: recipe, options: options(db))
        XCTAssertTrue(first.finished)
        let complete = first.trials.filter { $0.state == .complete }
        XCTAssertEqual(complete.count, recipe.topK)
        // 3 × 3 × 3 × 3 × 2 = 162, less the 27 ten-layer duplicates that differ only in attention heads (none left).
        XCTAssertEqual(first.study.enumerated, 135)
        XCTAssertEqual(first.study.feasible, first.plan.feasible.count)
        XCTAssertEqual(first.trials.filter { $0.state == .pruned }.count, first.study.enumerated - first.study.feasible)
        XCTAssertTrue(first.trials.filter { $0.state == .pruned }.allSatisfy { $0.prunedReason != nil })
        XCTAssertEqual(Set(first.trials.map(\.archHash)).count, first.trials.count)

        // The best trial against random keep-sets of exactly the same architecture (same parameter count).
        let best = try XCTUnwrap(try SQLiteStudyStore(path: db).bestTrial(study: first.study))
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let heldout = try ArchitectureSearch.loadData(recipe.heldout!, recipe: recipe, modelDir: Fixtures.nemoTiny)
        let evaluator = try CandidateEvaluator(base: folder, heldout: heldout, cacheBudgetBytes: 64 << 20)
        var randomKL = [Double]()
        // Same layers dropped as the best trial (so the same parameter count); random width keep-sets.
        let scoreKey = ScoreKey(checkpointFingerprint: folder.fingerprint,
                                calibrationFingerprint: try ArchitectureSearch.loadData(recipe.calibration!, recipe: recipe, modelDir: Fixtures.nemoTiny).fingerprint,
                                optionsKey: ArchitectureSearch.scoreOptions(recipe: recipe, source: folder.config).key)
        XCTAssertEqual(first.study.scoreKey, scoreKey, "the study records the score set it used")
        let scores = try XCTUnwrap(try SQLiteStudyStore(path: db).scores(scoreKey)).scores
        let searched = try PruningPlan(source: folder.config, scores: scores, architecture: best.architecture)
        XCTAssertEqual(searched.target.parameterCount, best.params)
        XCTAssertEqual(searched.keptLayers, best.architecture.keptLayers, "the stored kept layers are the plan's")
        var randomArch = best.architecture.target(sourceLayers: folder.config.numLayers)
        randomArch.dropLayers = (0..<folder.config.numLayers).filter { !searched.keptLayers.contains($0) }
        for seed in 0..<3 as Range<UInt64> {
            let plan = try PruningPlan.random(source: folder.config, target: randomArch, seed: recipe.seed + seed)
            XCTAssertEqual(plan.target.parameterCount, best.params)
            randomKL.append(try evaluator.evaluate(plan: plan).kl)
        }
        print(String(format: "nemo-tiny search: best trial #%ld %@ (%ld params): KL %.5f; random keep-sets, same size: KL %@; search %.2f s (scores %.2f s)",
                     best.number, best.architecture.candidateTarget.canonicalJSON, best.params, best.kl!, randomKL.map { String(format: "%.5f", $0) }.joined(separator: ", "),
                     first.totalSeconds, first.scoreSeconds))
        for kl in randomKL { XCTAssertLessThan(best.kl!, kl) }

        // The Pareto front: nobody on it is dominated, everyone off it is.
        let front = StudyRanking.paretoFront(first.trials)
        XCTAssertFalse(front.isEmpty)
        func dominates(_ a: TrialRecord, _ b: TrialRecord) -> Bool {
            a.tokensPerSecond >= b.tokensPerSecond && a.kl! <= b.kl! && (a.tokensPerSecond > b.tokensPerSecond || a.kl! < b.kl!)
        }
        for t in complete {
            let onFront = front.contains { $0.number == t.number }
            XCTAssertEqual(onFront, !complete.contains { dominates($0, t) }, "trial \(t.number)")
        }

        // Running again evaluates nothing, and reuses the full model's held-out logits stored with the study.
        let again = try ArchitectureSearch.run(recipe: recipe, options: options(db))
        XCTAssertEqual(again.evaluatedHere, 0)
        XCTAssertTrue(again.scoresReused)
        XCTAssertEqual(again.trials.count, first.trials.count)
        XCTAssertEqual(again.fullModelSeconds, 0, "the full model's held-out forward is not recomputed on resume")
        XCTAssertEqual(again.study.fullLoss, first.study.fullLoss)
        XCTAssertEqual(try SQLiteStudyStore(path: db).blobNames(study: first.study.id).count, recipe.heldout!.samples)

        // The study records resolved paths and the source's figures; a dry run with the stored scores picks
        // exactly the stored trials.
        XCTAssertTrue(first.study.checkpointPath.hasPrefix("/") && first.study.calibrationPath!.hasPrefix("/") && first.study.heldoutPath!.hasPrefix("/"))
        XCTAssertNotNil(first.study.source)
        XCTAssertTrue(first.trials.filter { $0.state != .pruned }.allSatisfy { $0.cost != nil && $0.architecture.keptLayers?.count == $0.architecture.numLayers })
        let stored = try SQLiteStudyStore(path: db, mode: .readOnly)
        let dry = try ArchitectureSearch.dryRun(recipe: recipe, store: stored, studyName: "tiny")
        XCTAssertEqual(Set(dry.picked.map { dry.candidates[$0].architecture.hash }),
                       Set(first.trials.filter { $0.state != .pruned }.map(\.archHash)), "the dry run's K are the real run's")

        // --top-k above the study's K adds the next candidates as new trials; the first K are untouched.
        var more = options(db)
        more.topK = recipe.topK + 2
        let raised = try ArchitectureSearch.run(recipe: recipe, options: more)
        XCTAssertEqual(raised.evaluatedHere, 2)
        XCTAssertEqual(raised.study.topK, recipe.topK + 2)
        XCTAssertEqual(raised.trials.filter { $0.state == .complete }.count, recipe.topK + 2)
        for t in complete { XCTAssertEqual(raised.trials.first { $0.number == t.number }?.kl, t.kl) }
        let dryMore = try ArchitectureSearch.dryRun(recipe: recipe, store: SQLiteStudyStore(path: db, mode: .readOnly), studyName: "tiny")
        XCTAssertEqual(dryMore.picked.count, recipe.topK + 2, "a dry run on the study uses its raised K")

        // The leaderboard JSON lists every evaluated trial.
        if FileManager.default.isExecutableFile(atPath: Self.binary) {
            let (out, _, code) = try run([Self.binary, "leaderboard", "--db", db, "--study", "tiny", "--format", "json"])
            XCTAssertEqual(code, 0)
            let json = try JSONParser().parse(out)
            let ranked = try XCTUnwrap(json["trials"]?.arrayValue)
            XCTAssertEqual(Set(ranked.compactMap { $0["number"]?.intValue }), Set(raised.trials.filter { $0.state == .complete }.map(\.number)))
            XCTAssertEqual(ranked.first?["number"]?.intValue, StudyRanking.best(raised.trials)?.number)
        }
    }

    // MARK: - Fault tolerance

    func testResumeRetriesTrialsOfDeadAndStaleWorkers() throws {
        let dir = Fixtures.tempDir("search-resume"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let recipe = try tinyRecipe(in: dir)
        let db = dir + "/s.sqlite"
        var o = options(db)
        o.maxTrials = 3
        let partial = try ArchitectureSearch.run(recipe: recipe, options: o)
        XCTAssertFalse(partial.finished)
        XCTAssertEqual(partial.trials.filter { $0.state == .complete }.count, 3)

        // A worker on this host that died mid-trial (its pid is gone), and one elsewhere that stopped beating.
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run(); dead.waitUntilExit()
        let store = try SQLiteStudyStore(path: db)
        let ghost = WorkerIdentity(host: ProcessInfo.processInfo.hostName, pid: Int(dead.processIdentifier), token: "dead")
        let remote = WorkerIdentity(host: "some-other-host", pid: 1, token: "remote")
        guard case let .claimed(t1) = try store.claimNext(study: partial.study.id, stages: [.joint], worker: ghost, lease: 600),
              case let .claimed(t2) = try store.claimNext(study: partial.study.id, stages: [.joint], worker: remote, lease: 600) else {
            return XCTFail("expected trials to claim")
        }
        Thread.sleep(forTimeInterval: 1.2)
        var resume = options(db)
        resume.staleAfter = 1
        let done = try ArchitectureSearch.run(recipe: recipe, options: resume)
        XCTAssertTrue(done.finished)
        XCTAssertEqual(done.evaluatedHere, recipe.topK - 3)
        let trials = done.trials.filter { $0.state != .pruned }
        XCTAssertEqual(trials.count, recipe.topK)
        XCTAssertTrue(trials.allSatisfy { $0.state == .complete })
        for t in [t1, t2] {
            let r = try XCTUnwrap(trials.first { $0.number == t.number })
            XCTAssertEqual(r.attempts, 2, "trial \(t.number) retried once")
            XCTAssertEqual(r.workerID, resume.worker.id)
        }
        XCTAssertEqual(Set(done.trials.map(\.archHash)).count, done.trials.count)
    }

    /// A study of another checkpoint is refused before anything is scored (no score set is added to the store).
    func testStudyOfAnotherCheckpointIsRefusedBeforeScoring() throws {
        let dir = Fixtures.tempDir("search-other-model"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/s.sqlite"
        var o = options(db)
        o.maxTrials = 1
        _ = try ArchitectureSearch.run(recipe: try tinyRecipe(in: dir), options: o)
        let before = try SQLiteStudyStore(path: db, mode: .readOnly).scoreKeys().count
        let other = try tinyRecipe(in: dir, [("model: \(Fixtures.root.path)/nemo-tiny\n", "model: \(Fixtures.root.path)/nemo-tiny-bf16-sharded\n")])
        XCTAssertThrowsError(try ArchitectureSearch.run(recipe: other, options: o)) { e in
            guard case .studyMismatch = e as? SearchError else { return XCTFail("\(e)") }
            XCTAssertTrue("\(e)".contains("different checkpoint"), "\(e)")
        }
        XCTAssertEqual(try SQLiteStudyStore(path: db, mode: .readOnly).scoreKeys().count, before, "nothing scored for the other checkpoint")
    }

    func testKill9DuringSearchThenResume() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw XCTSkip("\(Self.binary) not built; run `swift build -c release` first")
        }
        let dir = Fixtures.tempDir("search-kill"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let recipe = try tinyRecipe(in: dir)
        let db = dir + "/s.sqlite"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["search", recipe.path, "--db", db, "--study", "tiny", "--quiet"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        // Kill as soon as some trial is RUNNING (mid-evaluation) or the first is COMPLETE.
        var killedWith = "nothing"
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline {
            if FileManager.default.fileExists(atPath: db), let s = try? SQLiteStudyStore(path: db), let st = try? s.study(named: "tiny"),
               (st.counts[.running] ?? 0) + (st.counts[.complete] ?? 0) > 0 {
                killedWith = "\(st.counts[.complete] ?? 0) complete, \(st.counts[.running] ?? 0) running"
                kill(p.processIdentifier, SIGKILL)
                break
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        p.waitUntilExit()
        print("killed -9 with \(killedWith) (exit reason \(p.terminationReason == .uncaughtSignal ? "signal" : "exit") \(p.terminationStatus))")
        let (out, err, code) = try run([Self.binary, "search", recipe.path, "--db", db, "--study", "tiny", "--quiet", "--format", "json"])
        XCTAssertEqual(code, 0, err)
        let json = try JSONParser().parse(out)
        XCTAssertEqual(json["finished"]?.boolValue, true)
        let trials = try XCTUnwrap(json["trials"]?.arrayValue)
        XCTAssertEqual(trials.count, recipe.topK)
        XCTAssertTrue(trials.allSatisfy { $0["state"]?.stringValue == "COMPLETE" })
        XCTAssertEqual(Set(trials.compactMap { $0["architecture_hash"]?.stringValue }).count, recipe.topK)
        // Only a trial interrupted mid-evaluation is evaluated twice.
        XCTAssertLessThanOrEqual(trials.filter { ($0["attempts"]?.intValue ?? 0) > 1 }.count, 1)
    }

    func testTwoConcurrentWorkersEvaluateEachCandidateOnce() throws {
        let dir = Fixtures.tempDir("search-two"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let recipe = try tinyRecipe(in: dir)
        let db = dir + "/s.sqlite"
        // Score first so both workers start evaluating at once.
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let cal = try ArchitectureSearch.loadData(recipe.calibration!, recipe: recipe, modelDir: Fixtures.nemoTiny)
        _ = try Importance.loadOrCompute(folder: folder, calibration: cal,
                                         options: ArchitectureSearch.scoreOptions(recipe: recipe, source: folder.config), store: SQLiteStudyStore(path: db))
        let counts = Counts()
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                var o = SearchRunOptions(dbPath: db, studyName: "tiny")
                o.cacheBudgetBytes = 64 << 20
                do { counts.add(try ArchitectureSearch.run(recipe: recipe, options: o).evaluatedHere) } catch { counts.fail("\(error)") }
            }
        }
        group.wait()
        XCTAssertEqual(counts.errors, [])
        XCTAssertEqual(counts.total, recipe.topK, "the two workers evaluated \(counts.each)")
        let store = try SQLiteStudyStore(path: db)
        let trials = try store.trials(study: try store.study(named: "tiny").id).filter { $0.state != .pruned }
        XCTAssertEqual(trials.count, recipe.topK)
        XCTAssertTrue(trials.allSatisfy { $0.state == .complete && $0.attempts == 1 })
        print("two workers (threads, separate connections) evaluated \(counts.each) trials")
    }

    func testTwoWorkerProcessesShareTheStudy() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw XCTSkip("\(Self.binary) not built; run `swift build -c release` first")
        }
        let dir = Fixtures.tempDir("search-procs"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let recipe = try tinyRecipe(in: dir)
        let db = dir + "/s.sqlite"
        let procs = (0..<2).map { k -> (Process, Pipe) in
            let p = Process(), pipe = Pipe()
            p.executableURL = URL(fileURLWithPath: Self.binary)
            p.arguments = ["search", recipe.path, "--db", db, "--study", "tiny", "--quiet", "--format", "json"]
            p.standardOutput = pipe
            FileManager.default.createFile(atPath: dir + "/stderr-\(k).txt", contents: nil)
            p.standardError = FileHandle(forWritingAtPath: dir + "/stderr-\(k).txt")
            return (p, pipe)
        }
        for (p, _) in procs { try p.run() }
        var evaluated = [Int]()
        for (k, (p, pipe)) in procs.enumerated() {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let err = (try? String(contentsOfFile: dir + "/stderr-\(k).txt", encoding: .utf8)) ?? ""
            XCTAssertEqual(p.terminationStatus, 0, "worker \(k) stderr: \(err)")
            evaluated.append(try JSONParser().parse(data)["evaluated_here"]?.intValue ?? -1)
        }
        XCTAssertEqual(evaluated.reduce(0, +), recipe.topK, "per process: \(evaluated)")
        let store = try SQLiteStudyStore(path: db)
        let trials = try store.trials(study: try store.study(named: "tiny").id).filter { $0.state != .pruned }
        XCTAssertTrue(trials.allSatisfy { $0.state == .complete && $0.attempts == 1 })
        print("two worker processes evaluated \(evaluated) trials")
    }

    func testDepthThenWidthPicksADepthThenSearchesWidthThere() throws {
        let dir = Fixtures.tempDir("search-dtw"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let recipe = try tinyRecipe(in: dir, [("strategy: joint", "strategy: depth-then-width"), ("top_k: 8", "top_k: 2")])
        let out = try ArchitectureSearch.run(recipe: recipe, options: options(dir + "/s.sqlite"))
        XCTAssertTrue(out.finished)
        let depth = out.trials.filter { $0.stage == .depth }
        XCTAssertEqual(depth.map { $0.architecture.numLayers }.sorted(), [10, 11, 12])
        XCTAssertTrue(depth.allSatisfy { $0.state == .complete })
        let best = try XCTUnwrap(out.study.bestDepth)
        XCTAssertEqual(best, depth.min { $0.kl! < $1.kl! }!.architecture.numLayers)
        let width = out.trials.filter { $0.stage == .width && $0.state == .complete }
        XCTAssertEqual(width.count, 2)
        XCTAssertTrue(width.allSatisfy { $0.architecture.numLayers == best })
    }

    // MARK: - Bad inputs

    func testCorruptDatabaseIsAStoreError() throws {
        let dir = Fixtures.tempDir("search-corrupt"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.sqlite"
        try Data(String(repeating: "this is not a database\n", count: 200).utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SQLiteStudyStore(path: path)) { e in
            guard let s = e as? StoreError, case .notADatabase = s else { return XCTFail("\(e)") }
            XCTAssertEqual(ExitStatus.code(for: s), 3)
            XCTAssertTrue(s.description.contains("not a SQLite database"))
        }
    }

    func testReadOnlyDatabaseIsAStoreError() throws {
        guard geteuid() != 0 else { throw XCTSkip("running as root: file permissions cannot make a database read-only") }
        let dir = Fixtures.tempDir("search-ro")
        defer { chmod(dir, 0o755); try? FileManager.default.removeItem(atPath: dir) }
        let recipe = try tinyRecipe(in: dir)
        let plan = try ArchitectureSearch.dryRun(recipe: recipe)
        let path = dir + "/ro.sqlite"
        _ = try SQLiteStudyStore(path: path)
        for f in ["", "-wal", "-shm"] { chmod(path + f, 0o444) }
        chmod(dir, 0o555)
        _ = plan
        XCTAssertThrowsError(try SQLiteStudyStore(path: path).openStudy(StoreBackends.study("x"))) { e in
            XCTAssertTrue(e is StoreError, "\(e)")
        }
    }

    func testUnknownRecipeKeysAreNamed() throws {
        let dir = Fixtures.tempDir("search-keys"); defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try tinyRecipe(in: dir, [("  hidden_size: [96", "  hiden_size: [96")])) { e in
            XCTAssertEqual((e as? SearchError).map { ExitStatus.code(for: $0) }, 2)
            let m = "\(e)"
            XCTAssertTrue(m.contains("nemo-tiny.yaml: unknown key 'hiden_size' in search_space"), m)
            XCTAssertTrue(m.contains("allowed: num_layers, hidden_size"), m)
        }
        XCTAssertThrowsError(try tinyRecipe(in: dir, [("top_k: 8", "topk: 8")])) { e in
            XCTAssertTrue("\(e)".contains("unknown key 'topk' in the recipe"), "\(e)")
        }
        XCTAssertThrowsError(try tinyRecipe(in: dir, [("  samples: 16", "  samples: 16\n  sample: 3")])) { e in
            XCTAssertTrue("\(e)".contains("unknown key 'sample' in calibration"), "\(e)")
        }
        XCTAssertThrowsError(try tinyRecipe(in: dir, [("strategy: joint", "strategy: greedy")])) { e in
            XCTAssertTrue("\(e)".contains("unknown value 'greedy'"), "\(e)")
        }
    }

    func testEmptySearchSpaceIsRejected() throws {
        let dir = Fixtures.tempDir("search-empty"); defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try tinyRecipe(in: dir, [("num_layers: [10, 11, 12]", "num_layers: []")])) { e in
            guard case .emptySpace = e as? SearchError else { return XCTFail("\(e)") }
            XCTAssertTrue("\(e)".contains("search_space.num_layers"), "\(e)")
        }
        XCTAssertThrowsError(try tinyRecipe(in: dir, [("num_layers: [10, 11, 12]", "num_layers: {min: 12, max: 10}")])) { e in
            guard case .emptySpace = e as? SearchError else { return XCTFail("\(e)") }
        }
    }

    func testNoFeasibleCandidateNamesTheConstraints() throws {
        let dir = Fixtures.tempDir("search-infeasible"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try tinyRecipe(in: dir, [("memory_bytes: 4000000", "memory_bytes: 1000000")])
        XCTAssertThrowsError(try ArchitectureSearch.dryRun(recipe: r)) { e in
            guard let s = e as? SearchError, case let .nothingFeasible(n, rejections) = s else { return XCTFail("\(e)") }
            XCTAssertEqual(ExitStatus.code(for: s), 4)
            XCTAssertEqual(n, 162)
            XCTAssertEqual(rejections.map { "\($0.constraint): \($0.count)" }, ["structure rule: 54", "memory budget: 108"])
            XCTAssertTrue(rejections.allSatisfy { $0.example != nil }, "each constraint gives an example reason")
            print("no feasible candidate: \(s)")
        }
        let onlyMemory = try tinyRecipe(in: dir, [("memory_bytes: 4000000", "memory_bytes: 1000000"), ("[6, 7, 8]", "[6, 8]")])
        XCTAssertThrowsError(try ArchitectureSearch.dryRun(recipe: onlyMemory)) { e in
            XCTAssertTrue("\(e)".contains("every candidate was rejected by the memory budget"), "\(e)")
        }
    }

    // MARK: - Helpers

    /// Runs a command, returning stdout, stderr and the exit status.
    func run(_ argv: [String]) throws -> (String, String, Int32) {
        let r = try TestBinaries.run(argv[0], Array(argv.dropFirst()))
        return (r.out, r.err, r.status)
    }
}

/// Thread-safe tallies for the concurrent-worker test.
final class Counts: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var each = [Int]()
    private(set) var errors = [String]()
    var total: Int { lock.lock(); defer { lock.unlock() }; return each.reduce(0, +) }
    func add(_ n: Int) { lock.lock(); each.append(n); lock.unlock() }
    func fail(_ s: String) { lock.lock(); errors.append(s); lock.unlock() }
}
