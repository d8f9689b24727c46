import Foundation

/// Errors from importance scoring (exit code 2: bad input).
public enum ImportanceError: Error, CustomStringConvertible {
    case badRemove(Int, numLayers: Int)
    case emptyCalibration

    public var description: String {
        switch self {
        case let .badRemove(k, n): return "--remove \(k) is out of range: the model has \(n) layers, so 1...\(n - 1) layers can be removed"
        case .emptyCalibration: return "the calibration set has zero samples"
        }
    }
}

/// Importance scoring (pruning.md §2–§3): width scores and block influence from one full forward pass per
/// sample through the tap, then the iterative logit-distance layer ranking.
public enum Importance {
    /// Computes every score for `set` on `model`: the job's units (``ScoringJobSpec``) with one unit per phase,
    /// run here and reduced.
    /// - Parameter progress: (phase, done, total) callbacks, e.g. for a progress bar.
    /// - Throws: ``ImportanceError`` for an empty set or a bad `remove`; ``ModelError`` for bad ids.
    public static func compute(model: NemotronHModel, set: CalibrationSet, options: ScoreOptions,
                               progress: ((String, Int, Int) -> Void)? = nil) throws -> ImportanceScores {
        let spec = ScoringJobSpec(checkpoint: "", calibration: "", options: options, numLayers: model.config.numLayers,
                                  sampleCount: set.samples.count, unitSamples: max(1, set.samples.count))
        return try spec.runLocally(ScoringUnitRunner(model: model, set: set, options: options), progress: progress)
    }

    /// Stored scores for (checkpoint, calibration set, options) from `store` (or a compatible stored set, see
    /// ``compatibleKeys(_:numLayers:)``), or computes and stores them.
    /// - Returns: the scores, whether they were reused, the scoring seconds (0 when reused) and the key of the
    ///   stored row they are (what a study records).
    /// - Throws: ``StoreError`` for database problems, and whatever ``compute(model:set:options:progress:)`` throws.
    public static func loadOrCompute(folder: ModelFolder, calibration: CalibrationSet, options: ScoreOptions, store: any StudyStore,
                                     cacheBudgetBytes: Int = 4 << 30, batchBudgetBytes: Int = NemotronHModel.defaultBatchBudgetBytes,
                                     progress: ((String, Int, Int) -> Void)? = nil) throws -> (scores: ImportanceScores, reused: Bool, seconds: Double, key: ScoreKey) {
        guard !calibration.samples.isEmpty else { throw ImportanceError.emptyCalibration }
        let fp = folder.fingerprint
        if let (s, key) = try stored(folder: folder, calibration: calibration, options: options, store: store) { return (s, true, 0, key) }
        let model = try NemotronHModel(source: folder, cacheBudgetBytes: cacheBudgetBytes, batchBudgetBytes: batchBudgetBytes)
        let start = Date()
        let scores = try compute(model: model, set: calibration, options: options, progress: progress)
        let secs = Date().timeIntervalSince(start)
        let key = ScoreKey(checkpointFingerprint: fp, calibrationFingerprint: calibration.fingerprint, optionsKey: options.key)
        try store.saveScores(ScoreSet(key: key, checkpointPath: absolutePath(folder.path), calibrationSource: calibration.source,
                                      samples: calibration.samples.count, tokens: calibration.tokenCount, scores: scores, seconds: secs,
                                      layerEvaluations: scores.layerRanking?.layerEvaluations ?? 0))
        return (scores, false, secs, key)
    }
}

extension Importance {
    /// The stored scores that answer `options` for this checkpoint and calibration set (what ``loadOrCompute``
    /// reuses), with their key; nil when none is stored. - Throws: ``StoreError``.
    public static func stored(folder: ModelFolder, calibration: CalibrationSet, options: ScoreOptions,
                              store: any StudyStore) throws -> (ImportanceScores, ScoreKey)? {
        for k in compatibleKeys(options, numLayers: folder.config.numLayers) {
            let key = ScoreKey(checkpointFingerprint: folder.fingerprint, calibrationFingerprint: calibration.fingerprint, optionsKey: k)
            if let s = try store.scores(key) { return (s.scores, key) }
        }
        return nil
    }

    /// Option keys whose stored scores answer `options`, best first: the exact key; for an iterative ranking
    /// of K rounds, any deeper ranking with the same metric (the greedy removal is deterministic, so its first K
    /// rounds are the K-round ranking); for block influence or no depth scores, any ranking with the same
    /// aggregation (width scores and block influence do not depend on the depth options).
    static func compatibleKeys(_ options: ScoreOptions, numLayers L: Int) -> [String] {
        var keys = [options.key]
        var o = options
        switch options.layers {
        case .iterativeMSE:
            let k = options.remove ?? (L - 1)
            o.remove = nil; keys.append(o.key)
            for r in stride(from: L - 1, to: k, by: -1) { o.remove = r; keys.append(o.key) }
        case .blockInfluence, .none:
            for layers in ScoreOptions.LayerMethod.allCases where layers != options.layers {
                o.layers = layers
                if layers == .iterativeMSE {
                    for metric in ScoreOptions.Metric.allCases {
                        o.metric = metric; o.remove = nil; keys.append(o.key)
                        for r in stride(from: L - 1, through: 1, by: -1) { o.remove = r; keys.append(o.key) }
                    }
                    o.metric = options.metric; o.remove = options.remove
                } else {
                    keys.append(o.key)
                }
            }
        }
        return keys
    }

    /// Stored scores for the key, or nil (never computes).
    public static func stored(folder: ModelFolder, calibration: CalibrationSet, options: ScoreOptions, store: (any StudyStore)?) throws -> ImportanceScores? {
        try store?.scores(ScoreKey(checkpointFingerprint: folder.fingerprint, calibrationFingerprint: calibration.fingerprint, optionsKey: options.key))?.scores
    }
}
