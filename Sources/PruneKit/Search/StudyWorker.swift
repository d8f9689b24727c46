import Foundation

extension ArchitectureSearch {
    /// The recipe a stored study was created from: its YAML as stored, anchored at the recipe's original path (so
    /// relative `model`, `calibration` and `heldout` paths resolve as they did for the search), with K raised to the
    /// study's.
    /// - Throws: ``SearchError/unknownStudy(name:known:)``, ``SearchError/badRecipe(file:message:)``, ``StoreError``.
    public static func recipe(ofStudy name: String, store: any StudyStore) throws -> Recipe {
        let study = try store.study(named: name)
        var r = try Recipe(yaml: study.recipeYAML, path: study.recipePath)
        if let k = study.topK { r.topK = max(r.topK, k) }
        return r
    }

    /// Works on an existing study as one more search process (`prunekit worker --study NAME`): the same run as
    /// ``run(recipe:options:)`` with the study's stored recipe, so the same claim / lease / heartbeat protocol and
    /// the same evaluation code. The stored scores and the full model's stored held-out logits are reused; the model
    /// and data are read at the paths the study's recipe names (the same paths on every machine, e.g. a shared
    /// filesystem), and their fingerprints must be the study's (``SearchError/studyMismatch(study:message:)``
    /// otherwise). Returns when no trial is WAITING or RUNNING, or after `options.idleExit` seconds with only
    /// other workers' RUNNING trials left, or after `options.maxTrials`.
    /// - Throws: as ``run(recipe:options:)``; ``SearchError/unknownStudy(name:known:)`` when the store has no such study.
    public static func work(study name: String, options: SearchRunOptions) throws -> SearchOutcome {
        let r: Recipe
        do {
            let store = try openStore(options.db, mode: .readOnly)
            r = try recipe(ofStudy: name, store: store)
        }
        var o = options
        o.studyName = name
        return try run(recipe: r, options: o)
    }

    /// Studies with trials WAITING or RUNNING, oldest first (what `prunekit worker` without `--job`/`--study` may join).
    public static func pendingStudies(store: any StudyStore) throws -> [StudyRecord] {
        try store.listStudies().filter { ($0.counts[.waiting] ?? 0) + ($0.counts[.running] ?? 0) > 0 }
    }
}
