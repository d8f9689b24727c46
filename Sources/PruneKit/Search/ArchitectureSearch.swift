import Foundation

/// How a search run behaves (not part of the recipe: the same study can be worked on with different settings).
public struct SearchRunOptions {
    /// The SQLite database holding scores, studies and trials.
    public var dbPath: String
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
    /// Progress of the long steps: importance scoring ("score:width", "score:layers"), the full model's
    /// held-out forward ("full model") and the trials ("trials").
    public var progress: ProgressReporter?
    /// One line per event (trial claimed, finished…), for stderr.
    public var log: ((String) -> Void)?

    public init(dbPath: String, studyName: String? = nil) { self.dbPath = dbPath; self.studyName = studyName }
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
/// and LM loss on held-out text. Every evaluated candidate is a trial in SQLite (``TrialStore``); runs resume
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

    /// The dry-run plan: candidates, costs and picks from the config alone; depth by the documented heuristic
    /// (``DepthSource/nano9BMixHeuristic``). Reads no weights and writes nothing.
    public static func dryRun(recipe: Recipe) throws -> SearchPlan {
        try SearchPlan(recipe: recipe, source: sourceConfig(recipe: recipe), depth: .nano9BMixHeuristic)
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

        // Importance scores, computed once per (checkpoint, calibration, options) and stored (pruning.md §2–§3).
        let opts = scoreOptions(recipe: recipe, source: source)
        let progress = options.progress
        let scored = try Importance.loadOrCompute(folder: folder, calibration: calibration, options: opts, dbPath: options.dbPath,
                                                  cacheBudgetBytes: options.cacheBudgetBytes,
                                                  progress: progress?.callback(prefix: "score:", units: ["layers": "sample-rounds"]))
        let scores = scored.scores
        let plan = try SearchPlan(recipe: recipe, source: source, depth: .ranking(scores.layerRanking?.removalOrder ?? []))

        let evaluator = try CandidateEvaluator(base: folder, heldout: heldout, cacheBudgetBytes: options.cacheBudgetBytes, progress: progress)
        let store = try TrialStore(path: options.dbPath)
        let name = options.studyName ?? ((recipe.path as NSString).lastPathComponent as NSString).deletingPathExtension
        let study = try store.openStudy(.init(name: name, recipe: recipe, checkpointPath: modelPath, checkpointFingerprint: folder.fingerprint,
                                              calibrationFingerprint: calibration.fingerprint, heldoutFingerprint: heldout.fingerprint,
                                              plan: plan, fullLoss: evaluator.fullLoss))
        if options.retryFailed { try store.retryFailed(study: study.id) }
        let infeasible = plan.candidates.filter { !$0.isFeasible }

        var evaluated = 0
        /// Claims and evaluates trials of `stages` until none is left (true) or `maxTrials` is reached (false).
        func work(_ stages: [TrialStage]) throws -> Bool {
            let total = try store.trials(study: study.id).filter { stages.contains($0.stage) && $0.state != .pruned }.count
            progress?.start("trials", total: total, unit: "trials")
            defer { progress?.finish() }
            while options.maxTrials.map({ evaluated < $0 }) ?? true {
                switch try store.claimNext(study: study.id, stages: stages, worker: options.worker, staleAfter: options.staleAfter) {
                case .done: return true
                case .busy:
                    Thread.sleep(forTimeInterval: 0.2)
                case let .claimed(t):
                    options.log?("trial \(t.number) [\(t.stage.rawValue)] claimed: \(t.architecture.canonicalJSON)\(t.attempts > 1 ? " (attempt \(t.attempts))" : "")")
                    let t0 = Date()
                    var lastBeat = Date()
                    do {
                        let p = try PruningPlan(source: source, scores: scores, target: t.architecture)
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
            try store.register(study: study.id, stage: .joint, evaluate: plan.picked.map { plan.candidates[$0] }, pruned: infeasible, seed: recipe.seed)
            finished = try work([.joint])
        case .depthThenWidth:
            try store.register(study: study.id, stage: .depth, evaluate: plan.depthProbes, pruned: [], seed: recipe.seed)
            try store.register(study: study.id, stage: .width, evaluate: [], pruned: infeasible, seed: recipe.seed)
            finished = try work([.depth])
            if finished {
                let probes = try store.trials(study: study.id).filter { $0.stage == .depth && $0.state == .complete && $0.objectiveValue != nil }
                if let best = probes.min(by: { ($0.objectiveValue!, -$0.architecture.numLayers!) < ($1.objectiveValue!, -$1.architecture.numLayers!) }) {
                    let depth = best.architecture.numLayers!
                    try store.setBestDepth(study: study.id, depth: depth)
                    options.log?("depth stage done: best depth \(depth) layers (\(recipe.objective.rawValue) \(best.objectiveValue!))")
                    try store.register(study: study.id, stage: .width, evaluate: (plan.pickedPerDepth[depth] ?? []).map { plan.candidates[$0] },
                                       pruned: [], seed: recipe.seed)
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
