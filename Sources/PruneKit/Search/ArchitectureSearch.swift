import Foundation

/// How a search run behaves (not part of the recipe: the same study can be worked on with different settings).
public struct SearchRunOptions {
    /// The store holding scores, studies and trials (a SQLite path or a PostgreSQL URL).
    public var db: StoreLocation
    /// Study name (default: the recipe file's base name).
    public var studyName: String?
    /// A RUNNING trial whose heartbeat is older than this (seconds) is taken over, whatever its host.
    /// (On the same host a dead pid is detected at once.)
    public var staleAfter: Double = 600
    /// Stop after evaluating this many trials in this process (nil: until the study is complete).
    public var maxTrials: Int?
    /// Put FAIL trials back to WAITING first.
    public var retryFailed = false
    public var worker: WorkerIdentity = .current()
    /// Bytes of widened fp32 weights each model keeps in memory.
    public var cacheBudgetBytes: Int = 4 << 30
    /// Bytes of activations per batch of each model (``NemotronHModel/batchBudgetBytes``).
    public var batchBudgetBytes: Int = NemotronHModel.defaultBatchBudgetBytes
    /// Progress of the long steps: importance scoring ("score:width", "score:layers"), the full model's
    /// held-out forward ("full model") and the trials ("trials").
    public var progress: ProgressReporter?
    /// One line per event (trial claimed, finished…), for stderr.
    public var log: ((String) -> Void)?

    /// Raise the study's K (candidates evaluated per stage): the next candidates become new trials.
    public var topK: Int?

    /// Stop (not finished) after this many seconds in which every trial left was RUNNING elsewhere (nil: wait
    /// until they are done or their lease expires). `prunekit worker --study --idle-exit`.
    public var idleExit: Double?

    public init(db: StoreLocation, studyName: String? = nil) { self.db = db; self.studyName = studyName }
    /// A SQLite database file.
    public init(dbPath: String, studyName: String? = nil) { self.init(db: .sqlite(path: dbPath), studyName: studyName) }
}

/// What a search run did.
public struct SearchOutcome: Sendable {
    public var study: StudyRecord
    /// Every trial of the study after the run, all states.
    public var trials: [TrialRecord]
    public var plan: SearchPlan
    /// Trials this process evaluated.
    public var evaluatedHere: Int
    /// Whether the study has no WAITING or RUNNING trials left.
    public var finished: Bool
    public var scoresReused: Bool
    /// Seconds: importance scoring (0 when reused), the full model's held-out pass, the whole run.
    public var scoreSeconds: Double
    public var fullModelSeconds: Double
    public var totalSeconds: Double
}

/// The paper's "lightweight NAS" (arXiv 2508.14444 §4.2, pruning.md §6): enumerate the product of the search
/// space, drop what breaks the structure rules, the pruning ratios or the memory budget, keep the top K by
/// predicted throughput (or closeness to a parameter target), and evaluate each of the K for real — prune the
/// weights with the stored importance scores (in memory) and measure KL divergence to the full model, logit MSE
/// and LM loss on held-out text. Every evaluated candidate is a trial in the store (``StudyStore``); runs resume
/// and several processes share a study.
public enum ArchitectureSearch {
    /// The source architecture named by the recipe's `model` (a folder's config.json, or a config.json file),
    /// without touching weights.
    /// - Throws: ``ConfigError``, ``SearchError/badRecipe(file:message:)`` when the path does not exist.
    public static func sourceConfig(recipe: Recipe) throws -> NemotronHConfig {
        let p = recipe.resolve(recipe.model)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else {
            throw SearchError.badRecipe(file: recipe.path, message: "model: \(p) does not exist (relative paths are resolved against the recipe's directory)")
        }
        return try NemotronHConfig.load(path: isDir.boolValue ? (p as NSString).appendingPathComponent("config.json") : p)
    }

    /// The dry-run plan: candidates, costs and picks from the config alone. Depth from the layer ranking of
    /// the study's stored scores when `store` has the study (so the counts match a real run), else by the
    /// documented heuristic (``DepthSource/nano9BMixHeuristic``). Reads no weights and writes nothing.
    public static func dryRun(recipe: Recipe, store: (any StudyStore)? = nil, studyName: String? = nil) throws -> SearchPlan {
        var r = recipe
        let source = try sourceConfig(recipe: recipe)
        if let store, let study = try? store.study(named: studyName ?? defaultStudyName(recipe)) {
            if let k = study.topK, k > r.topK { r.topK = k }
            if let key = study.scoreKey, let order = try store.scores(key)?.scores.layerRanking?.removalOrder {
                return try SearchPlan(recipe: r, source: source, depth: .ranking(order))
            }
        }
        return try SearchPlan(recipe: r, source: source, depth: .nano9BMixHeuristic)
    }

    /// The study name of a recipe when none is given: the recipe file's base name.
    public static func defaultStudyName(_ recipe: Recipe) -> String {
        ((recipe.path as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    /// Hex SHA-256 of the parsed recipe without `top_k`: a study's recipe identity (K may be raised).
    public static func recipeHash(_ recipe: Recipe) -> String {
        var e = recipe.echo
        e.topK = nil
        return sha256Hex((try? PruneKitJSON.data(e)) ?? Data())
    }

    /// Whether a stored `recipe_json` (of any PruneKit version) is `recipe` with any `top_k`.
    static func sameRecipe(storedJSON: String, _ recipe: Recipe) -> Bool {
        guard var stored = try? PruneKitJSON.decode(Recipe.Echo.self, from: Data(storedJSON.utf8)) else { return false }
        var e = recipe.echo
        stored.topK = nil; e.topK = nil
        return (try? PruneKitJSON.data(stored)) == (try? PruneKitJSON.data(e))
    }

    /// The study record a search of `recipe` creates (counts and id left to the store).
    static func newStudy(name: String, recipe: Recipe, source: NemotronHConfig, plan: SearchPlan, modelPath: String, checkpoint: String,
                         calibration: CalibrationSet, calibrationPath: String, heldout: CalibrationSet, heldoutPath: String,
                         scoreKey: ScoreKey) throws -> StudyRecord {
        let cost = try recipe.costModel()
        let src = cost.evaluate(source, context: recipe.context, batch: recipe.batch)
        return StudyRecord(name: name, recipePath: absolutePath(recipe.path), recipeYAML: recipe.yaml,
                           recipeJSON: try PruneKitJSON.string(recipe.echo), recipeHash: recipeHash(recipe), objective: recipe.objective,
                           strategy: recipe.strategy.rawValue, selection: recipe.selection.rawValue, checkpointPath: absolutePath(modelPath),
                           checkpointFingerprint: checkpoint, calibrationFingerprint: calibration.fingerprint,
                           heldoutFingerprint: heldout.fingerprint, calibrationPath: absolutePath(calibrationPath),
                           heldoutPath: absolutePath(heldoutPath), scoreOptionsKey: scoreKey.optionsKey, hardware: recipe.hardwareDescription,
                           context: recipe.context, batch: recipe.batch, budgetBytes: plan.budgetBytes,
                           inputLength: recipe.workload.inputLength, outputLength: recipe.workload.outputLength, topK: recipe.topK,
                           enumerated: plan.candidates.count, feasible: plan.feasible.count, rejections: plan.rejections,
                           source: SourceSummary(architecture: Architecture(source), cost: CostFigures(src)),
                           fullLoss: nil, seed: recipe.seed)
    }

    /// Importance options the search scores with: the iterative ranking deep enough for the smallest layer count.
    public static func scoreOptions(recipe: Recipe, source: NemotronHConfig) -> ScoreOptions {
        var o = ScoreOptions()
        o.layers = .iterativeMSE
        o.metric = recipe.layerRanking
        let minLayers = recipe.space.numLayers?.min() ?? source.numLayers
        o.remove = min(source.numLayers - 1, max(1, source.numLayers - minLayers))
        return o
    }

    /// Loads a data set of the recipe (tokenizing text with the model folder's tokenizer.json when present).
    public static func loadData(_ spec: Recipe.DataSpec, recipe: Recipe, modelDir: String) throws -> CalibrationSet {
        let tokPath = (modelDir as NSString).appendingPathComponent("tokenizer.json")
        let tok = FileManager.default.fileExists(atPath: tokPath) ? try Tokenizer.load(modelDir: modelDir) : nil
        return try CalibrationSet.load(path: recipe.resolve(spec.file), tokenizer: tok, samples: spec.samples, seqLen: spec.seqLen)
    }

    /// Runs (or resumes, or joins) the study of `recipe`.
    /// - Throws: ``SearchError`` (bad recipe, nothing feasible, study mismatch), ``StoreError``, ``CheckpointError``,
    ///   ``DataError``, ``PruneError``. A failing candidate is stored as a FAIL trial, not thrown.
    public static func run(recipe: Recipe, options: SearchRunOptions) throws -> SearchOutcome {
        let start = Date()
        let modelPath = recipe.resolve(recipe.model)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDir) else {
            throw SearchError.badRecipe(file: recipe.path, message: "model: \(modelPath) does not exist (relative paths are resolved against the recipe's directory)")
        }
        guard isDir.boolValue else { throw SearchError.needsWeights(model: modelPath) }
        guard let calSpec = recipe.calibration else { throw SearchError.badRecipe(file: recipe.path, message: "missing required key 'calibration' (file, samples, seq_len) for a search that evaluates candidates") }
        guard let heldSpec = recipe.heldout else { throw SearchError.badRecipe(file: recipe.path, message: "missing required key 'heldout' (file, samples, seq_len) for a search that evaluates candidates") }
        let folder = try ModelFolder(path: modelPath)
        let source = folder.config
        let calibration = try loadData(calSpec, recipe: recipe, modelDir: modelPath)
        let heldout = try loadData(heldSpec, recipe: recipe, modelDir: modelPath)
        let store = try openStore(options.db, mode: .readWrite)
        let name = options.studyName ?? defaultStudyName(recipe)
        var recipe = recipe
        // K: the recipe's, raised by --top-k or by an earlier run's --top-k.
        let existing = try? store.study(named: name)
        recipe.topK = max(recipe.topK, options.topK ?? 0, existing?.topK ?? 0)
        // A study of another checkpoint or data is refused before hours of scoring, not after (the same check
        // `openStudy` makes on the whole record below, recipe included).
        try existing?.checkInputs(checkpoint: folder.fingerprint, calibration: calibration.fingerprint, heldout: heldout.fingerprint)

        // Importance scores, computed once per (checkpoint, calibration, options) and stored (pruning.md §2–§3).
        let opts = scoreOptions(recipe: recipe, source: source)
        let progress = options.progress
        let scored = try Importance.loadOrCompute(folder: folder, calibration: calibration, options: opts, store: store,
                                                  cacheBudgetBytes: options.cacheBudgetBytes, batchBudgetBytes: options.batchBudgetBytes,
                                                  progress: progress?.callback(prefix: "score:", units: ["layers": "sample-rounds"]))
        let scores = scored.scores
        let plan = try SearchPlan(recipe: recipe, source: source, depth: .ranking(scores.layerRanking?.removalOrder ?? []))

        var record = try newStudy(name: name, recipe: recipe, source: source, plan: plan, modelPath: modelPath, checkpoint: folder.fingerprint,
                                  calibration: calibration, calibrationPath: recipe.resolve(calSpec.file), heldout: heldout,
                                  heldoutPath: recipe.resolve(heldSpec.file), scoreKey: scored.key)
        // A study of an older PruneKit hashed another serialization of its recipe (with top_k, or keys in another
        // order): the same recipe keeps its stored hash.
        if let e = existing, e.recipeHash != record.recipeHash, sameRecipe(storedJSON: e.recipeJSON, recipe) { record.recipeHash = e.recipeHash }
        if let e = existing, e.scoreOptionsKey != nil { record.scoreOptionsKey = e.scoreOptionsKey }
        var study = try store.openStudy(record)

        // The full model's held-out logits (the teacher side of every candidate's KL): computed once per study and
        // stored with it, so resumes and other workers reuse them.
        let stored = try CandidateEvaluator.storedFullModel(store: store, study: study, heldout: heldout, vocab: source.vocabSize)
        let evaluator = try CandidateEvaluator(base: folder, heldout: heldout, cacheBudgetBytes: options.cacheBudgetBytes,
                                               batchBudgetBytes: options.batchBudgetBytes, progress: progress,
                                               fullModel: stored)
        if stored == nil {
            try evaluator.storeFullModel(store: store, study: study.id)
            study = try store.study(named: name)
        }
        if options.retryFailed { try store.retryFailed(study: study.id) }
        let infeasible = plan.candidates.filter { !$0.isFeasible }

        var evaluated = 0
        /// Claims and evaluates trials of `stages` until none is left (true) or `maxTrials` is reached (false).
        func work(_ stages: [TrialStage]) throws -> Bool {
            let total = try store.trials(study: study.id).filter { stages.contains($0.stage) && $0.state != .pruned }.count
            progress?.start("trials", total: total, unit: "trials")
            defer { progress?.finish() }
            var idleSince: Date?
            while options.maxTrials.map({ evaluated < $0 }) ?? true {
                switch try store.claimNext(study: study.id, stages: stages, worker: options.worker, lease: options.staleAfter) {
                case .done: return true
                case .busy:
                    let now = Date()
                    if idleSince == nil { idleSince = now }
                    if let limit = options.idleExit, now.timeIntervalSince(idleSince!) >= limit { return false }
                    Thread.sleep(forTimeInterval: 0.2)
                case let .claimed(t):
                    idleSince = nil
                    options.log?("trial \(t.number) [\(t.stage.rawValue)] claimed: \(t.architecture.candidateTarget.canonicalJSON)\(t.attempts > 1 ? " (attempt \(t.attempts))" : "")")
                    let t0 = Date()
                    var lastBeat = Date()
                    do {
                        let p = try PruningPlan(source: source, scores: scores, architecture: t.architecture)
                        let m = try evaluator.evaluate(plan: p) {
                            if Date().timeIntervalSince(lastBeat) > 5 { try? store.heartbeat(trial: t.id, worker: options.worker); lastBeat = Date() }
                        }
                        let mine = try store.complete(trial: t.id, worker: options.worker, metrics: m, objective: recipe.objective)
                        options.log?(String(format: "trial %d COMPLETE: KL %.5f, MSE %.5f, loss %.4f (%.2f s)%@", t.number, m.kl, m.mse, m.loss, m.seconds,
                                            mine ? "" : " — but it had been taken over as stale; result not stored"))
                    } catch let e as StoreError {
                        throw e
                    } catch {
                        try store.fail(trial: t.id, worker: options.worker, error: String(describing: error), seconds: Date().timeIntervalSince(t0))
                        options.log?("trial \(t.number) FAIL: \(error)")
                    }
                    evaluated += 1
                    progress?.advance(by: 1)
                }
            }
            return false
        }

        var finished: Bool
        switch recipe.strategy {
        case .joint:
            try store.register(study: study.id, trials: plan.picked.map { TrialRecord(candidate: plan.candidates[$0], stage: .joint, evaluate: true, seed: recipe.seed) }
                               + infeasible.map { TrialRecord(candidate: $0, stage: .joint, evaluate: false, seed: recipe.seed) })
            finished = try work([.joint])
        case .depthThenWidth:
            try store.register(study: study.id, trials: plan.depthProbes.map { TrialRecord(candidate: $0, stage: .depth, evaluate: true, seed: recipe.seed) })
            try store.register(study: study.id, trials: infeasible.map { TrialRecord(candidate: $0, stage: .width, evaluate: false, seed: recipe.seed) })
            finished = try work([.depth])
            if finished {
                let probes = try store.trials(study: study.id).filter { $0.stage == .depth && $0.state == .complete && $0.objectiveValue != nil }
                if let best = probes.min(by: { ($0.objectiveValue!, -$0.architecture.numLayers) < ($1.objectiveValue!, -$1.architecture.numLayers) }) {
                    let depth = best.architecture.numLayers
                    try store.setBestDepth(study: study.id, depth: depth)
                    options.log?("depth stage done: best depth \(depth) layers (\(recipe.objective.rawValue) \(best.objectiveValue!))")
                    try store.register(study: study.id, trials: (plan.pickedPerDepth[depth] ?? []).map {
                        TrialRecord(candidate: plan.candidates[$0], stage: .width, evaluate: true, seed: recipe.seed) })
                    finished = try work([.width])
                } else {
                    options.log?("depth stage: no depth probe completed; width stage skipped")
                }
            }
        }
        let trials = try store.trials(study: study.id)
        finished = finished && !trials.contains { $0.state == .waiting || $0.state == .running }
        return SearchOutcome(study: try store.study(named: name), trials: trials, plan: plan, evaluatedHere: evaluated, finished: finished,
                             scoresReused: scored.reused, scoreSeconds: scored.seconds, fullModelSeconds: evaluator.fullSeconds,
                             totalSeconds: Date().timeIntervalSince(start))
    }
}
