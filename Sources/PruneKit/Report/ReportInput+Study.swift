import Foundation

extension ReportInput {
    /// Builds the report input of a study stored in a PruneKit database: the study's recipe and fingerprints,
    /// the source model and every trial with its cost figures (recomputed with the recipe's cost model),
    /// metrics and state, and the importance scores the search used (when stored).
    /// - Throws: ``StoreError`` (no such database or study), ``SearchError`` (the stored recipe no longer parses),
    ///   ``ConfigError`` (the source config cannot be read).
    public static func fromStudy(dbPath: String, study name: String) throws -> ReportInput {
        guard FileManager.default.fileExists(atPath: dbPath) else {
            throw StoreError.sqlite(path: dbPath, message: "no such database (run `prunekit search` first)")
        }
        let store = try TrialStore(path: dbPath)
        let study = try store.study(named: name)
        let recipe = try Recipe(yaml: study.recipeYAML, path: study.recipePath)
        let source = try ArchitectureSearch.sourceConfig(recipe: recipe)
        let cost = try recipe.costModel()
        let sourceCost = cost.evaluate(source, context: recipe.context, batch: recipe.batch)

        // Scores of the same checkpoint and calibration set: a complete layer ranking when one is stored
        // (`prunekit score` with default options), else the (partial) one the search used.
        let scoreStore = ScoreStore(db: try PruneKitDatabase(path: dbPath))
        var complete = ArchitectureSearch.scoreOptions(recipe: recipe, source: source)
        complete.remove = nil
        let scores = (try? scoreStore.load(checkpoint: study.checkpointFingerprint, calibration: study.calibrationFingerprint, optionsKey: complete.key))
            ?? (try? scoreStore.load(checkpoint: study.checkpointFingerprint, calibration: study.calibrationFingerprint,
                                     optionsKey: ArchitectureSearch.scoreOptions(recipe: recipe, source: source).key))

        var trials = [Trial]()
        for t in try store.trials(study: study.id) {
            var c = source
            c.pattern = t.pattern.compactMap { LayerKind(rawValue: $0) }
            let a = t.architecture
            c.hiddenSize = a.hiddenSize ?? source.hiddenSize
            c.ffnHiddenSize = a.ffnHiddenSize ?? source.ffnHiddenSize
            c.numAttentionHeads = a.numAttentionHeads ?? source.numAttentionHeads
            c.mambaNumHeads = a.mambaNumHeads ?? source.mambaNumHeads
            c.mambaHeadDim = a.mambaHeadDim ?? source.mambaHeadDim
            let r = cost.evaluate(c, context: recipe.context, batch: recipe.batch)
            let state: TrialState
            switch t.state {
            case .complete: state = .complete
            case .pruned: state = .pruned
            case .fail: state = .fail
            case .running: state = .running
            case .waiting: state = .running  // not yet claimed: shown with the unfinished ones
            }
            trials.append(Trial(number: t.number, state: state, target: t.architecture, architecture: ArchitectureSummary(c),
                                cost: CostFigures(r), budgetSlackBytes: t.slackBytes, fits: t.fits,
                                metrics: Metrics(kl: t.kl, mse: t.mse, loss: t.loss), error: t.error,
                                infeasibleReason: t.prunedReason, seconds: t.evalSeconds))
        }
        let s = Study(name: study.name, objective: study.objective.rawValue, direction: study.direction, recipeYAML: study.recipeYAML,
                      hardware: study.hardware, context: study.context, batch: study.batch, inputLength: recipe.workload.inputLength,
                      outputLength: recipe.workload.outputLength, budgetBytes: study.budgetBytes, checkpointPath: study.checkpointPath,
                      checkpointFingerprint: study.checkpointFingerprint, calibrationFingerprint: study.calibrationFingerprint,
                      heldOutFingerprint: study.heldoutFingerprint, toolVersion: study.toolVersion, created: study.createdAt,
                      enumeratedCandidates: study.enumerated, feasibleCandidates: study.feasible)
        let best = try store.bestTrial(study: study)
        var input = ReportInput(study: s, source: SourceModel(architecture: ArchitectureSummary(source), cost: CostFigures(sourceCost)),
                                scores: scores, trials: trials, chosenTrial: best?.number)
        let posthoc = TrialStore.currentMetrics(try store.metrics(study: study.id))
        if !posthoc.isEmpty {
            input.postHoc = posthoc.map { PostHocMetric(trial: $0.trialNumber, student: $0.student, name: $0.name, value: $0.value, kdSteps: $0.kdSteps) }
        }
        return input
    }
}
