import Foundation

extension ReportInput {
    /// Builds the report input of a stored study from the store alone: the study's settings, resolved paths and
    /// fingerprints, its source model figures, every trial with the cost figures the search stored, the score
    /// set the search used, and post-hoc metrics. Nothing is recomputed (studies of an older PruneKit, which did
    /// not store the source and cost figures, get them from their stored recipe).
    /// - Throws: ``StoreError``, ``SearchError/unknownStudy(name:known:)``; for an older study, ``SearchError``
    ///   / ``ConfigError`` when its stored recipe or source config cannot be read.
    public static func fromStudy(store: any StudyStore, study name: String) throws -> ReportInput {
        let study = try store.study(named: name)
        let stored = try store.trials(study: study.id)
        var source = study.source
        var costs = [Int: CostFigures]()
        var inputLength = study.inputLength, outputLength = study.outputLength
        if source == nil || stored.contains(where: { $0.cost == nil }) {
            // A study stored by an older PruneKit: its source and cost figures from the recipe it recorded.
            let recipe = try Recipe(yaml: study.recipeYAML, path: study.recipePath)
            let config = try ArchitectureSearch.sourceConfig(recipe: recipe)
            let cost = try recipe.costModel()
            source = source ?? SourceSummary(architecture: Architecture(config), cost: CostFigures(cost.evaluate(config, context: recipe.context, batch: recipe.batch)))
            for t in stored where t.cost == nil {
                costs[t.number] = CostFigures(cost.evaluate(t.architecture.config(source: config), context: recipe.context, batch: recipe.batch))
            }
            inputLength = inputLength ?? recipe.workload.inputLength
            outputLength = outputLength ?? recipe.workload.outputLength
        }
        let trials = stored.map { t in
            Trial(number: t.number, state: t.state, target: t.architecture.candidateTarget,
                  architecture: { var a = t.architecture; a.numKeyValueHeads = source!.architecture.numKeyValueHeads; return a }(),
                  cost: t.cost ?? costs[t.number]!, budgetSlackBytes: t.slackBytes, fits: t.fits,
                  metrics: Metrics(kl: t.kl, mse: t.mse, loss: t.loss), error: t.error, infeasibleReason: t.prunedReason, seconds: t.evalSeconds)
        }
        let s = Study(name: study.name, objective: study.objective.rawValue, direction: study.direction, recipeYAML: study.recipeYAML,
                      hardware: study.hardware, context: study.context, batch: study.batch, inputLength: inputLength ?? 0,
                      outputLength: outputLength ?? 0, budgetBytes: study.budgetBytes, checkpointPath: study.checkpointPath,
                      checkpointFingerprint: study.checkpointFingerprint, calibrationFingerprint: study.calibrationFingerprint,
                      heldOutFingerprint: study.heldoutFingerprint, toolVersion: study.toolVersion, created: study.createdAt,
                      enumeratedCandidates: study.enumerated, feasibleCandidates: study.feasible)
        // The score set the search pruned with (recorded by the study).
        let scores = try study.scoreKey.flatMap { try store.scores($0) }?.scores
        var input = ReportInput(study: s, source: source!,
                                scores: scores, trials: trials, chosenTrial: StudyRanking.best(stored)?.number)
        let posthoc = TrialMetrics.currentMetrics(try store.metrics(study: study.id))
        if !posthoc.isEmpty {
            input.postHoc = posthoc.map { PostHocMetric(trial: $0.trialNumber, student: $0.student, name: $0.name, value: $0.value, kdSteps: $0.kdSteps) }
        }
        return input
    }
}
