import Foundation

/// Errors from importance scoring (exit code 2: bad input).
public enum ImportanceError: Error, CustomStringConvertible, ExitCodeProviding {
    case badRemove(Int, numLayers: Int)
    case emptyCalibration

    public var description: String {
        switch self {
        case let .badRemove(k, n): return "--remove \(k) is out of range: the model has \(n) layers, so 1...\(n - 1) layers can be removed"
        case .emptyCalibration: return "the calibration set has zero samples"
        }
    }
    public var exitCode: Int32 { 2 }
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

    /// Stored scores for (checkpoint, calibration set, options) from `dbPath`, or computes and stores them.
    /// - Returns: the scores and whether they were reused.
    /// - Throws: ``StoreError`` for database problems, and whatever ``compute(model:set:options:progress:)`` throws.
    public static func loadOrCompute(folder: ModelFolder, calibration: CalibrationSet, options: ScoreOptions, dbPath: String,
                                     cacheBudgetBytes: Int = 4 << 30,
                                     progress: ((String, Int, Int) -> Void)? = nil) throws -> (scores: ImportanceScores, reused: Bool, seconds: Double) {
        guard !calibration.samples.isEmpty else { throw ImportanceError.emptyCalibration }
        let db = try PruneKitDatabase(path: dbPath)
        let store = ScoreStore(db: db)
        let fp = folder.fingerprint
        for key in compatibleKeys(options, numLayers: folder.config.numLayers) {
            if let s = try store.load(checkpoint: fp, calibration: calibration.fingerprint, optionsKey: key) { return (s, true, 0) }
        }
        let model = try NemotronHModel(source: folder, cacheBudgetBytes: cacheBudgetBytes)
        let start = Date()
        let scores = try compute(model: model, set: calibration, options: options, progress: progress)
        let secs = Date().timeIntervalSince(start)
        try store.save(scores, checkpoint: fp, checkpointPath: folder.path, calibration: calibration, optionsKey: options.key, seconds: secs)
        return (scores, false, secs)
    }
}

extension Importance {
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
    public static func loadOrComputeIfStored(folder: ModelFolder, calibration: CalibrationSet, options: ScoreOptions, dbPath: String) throws -> ImportanceScores? {
        guard FileManager.default.fileExists(atPath: dbPath) else { return nil }
        return try ScoreStore(db: try PruneKitDatabase(path: dbPath)).load(checkpoint: folder.fingerprint, calibration: calibration.fingerprint, optionsKey: options.key)
    }
}
