import Foundation

// The study domain: one record type per table, `Codable` with the column names as keys (snake_case), so the
// same form serves the database rows, `--format json` and `db copy`. formats.md §4 lists the columns.

/// Trial states (Optuna's names, formats.md §4). WAITING: registered, not yet claimed; RUNNING: claimed by a
/// worker under a lease; COMPLETE: measured; PRUNED: infeasible, never evaluated (reason stored); FAIL:
/// evaluation threw.
public enum TrialState: String, Sendable, CaseIterable, Codable { case waiting = "WAITING", running = "RUNNING", complete = "COMPLETE", pruned = "PRUNED", fail = "FAIL" }

/// Search stage a trial belongs to: `joint`, or `depth` / `width` for the paper's depth-then-width strategy.
public enum TrialStage: String, Sendable, CaseIterable, Codable { case joint, depth, width }

/// The identity of a stored score set: checkpoint and calibration fingerprints and the scoring options
/// (``ScoreOptions/key``). Unique in the store.
public struct ScoreKey: Codable, Hashable, Sendable {
    public var checkpointFingerprint: String
    public var calibrationFingerprint: String
    public var optionsKey: String
    enum CodingKeys: String, CodingKey {
        case checkpointFingerprint = "checkpoint_fingerprint", calibrationFingerprint = "calibration_fingerprint", optionsKey = "options_key"
    }
    public init(checkpointFingerprint: String, calibrationFingerprint: String, optionsKey: String) {
        self.checkpointFingerprint = checkpointFingerprint; self.calibrationFingerprint = calibrationFingerprint; self.optionsKey = optionsKey
    }
}

/// Importance scores computed once per (checkpoint, calibration set, options) and reused (table `importance_scores`).
public struct ScoreSet: Codable, Sendable, Equatable {
    public var key: ScoreKey
    /// Resolved path of the checkpoint the scores were computed on.
    public var checkpointPath: String
    /// The calibration file (as given).
    public var calibrationSource: String
    public var samples: Int
    public var tokens: Int
    public var scores: ImportanceScores
    /// Seconds the scoring took.
    public var seconds: Double
    public var layerEvaluations: Int
    public var toolVersion: String
    /// ISO 8601 UTC.
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case key, checkpointPath = "checkpoint_path", calibrationSource = "calibration_source", samples, tokens, scores, seconds
        case layerEvaluations = "layer_evaluations", toolVersion = "tool_version", createdAt = "created_at"
    }

    public init(key: ScoreKey, checkpointPath: String, calibrationSource: String, samples: Int, tokens: Int, scores: ImportanceScores,
                seconds: Double, layerEvaluations: Int, toolVersion: String = PruneKitVersion.string, createdAt: String = timestampNow()) {
        self.key = key; self.checkpointPath = checkpointPath; self.calibrationSource = calibrationSource; self.samples = samples
        self.tokens = tokens; self.scores = scores; self.seconds = seconds; self.layerEvaluations = layerEvaluations
        self.toolVersion = toolVersion; self.createdAt = createdAt
    }
}

/// The source model of a study as the search saw it: its sizes and cost figures at the study's context × batch.
public struct SourceSummary: Codable, Sendable, Equatable {
    public var architecture: Architecture
    public var cost: CostFigures
    public init(architecture: Architecture, cost: CostFigures) { self.architecture = architecture; self.cost = cost }

    enum CodingKeys: String, CodingKey { case architecture, cost }

    /// Reads every stored form; the source model keeps all its layers, so a summary stored without
    /// `kept_layers` (before the snake_case migration) reads with all of them, as a migrated one does.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decode(Architecture.self, forKey: .architecture)
        cost = try c.decode(CostFigures.self, forKey: .cost)
        if architecture.keptLayers == nil { architecture.keptLayers = Array(0..<architecture.numLayers) }
    }
}

/// A stored search study (table `studies`): its recipe, the inputs it was run on (resolved paths and
/// fingerprints), the score set it used, and its candidate counts.
public struct StudyRecord: Codable, Sendable {
    /// Row id in its store (differs between stores; ``name`` is the identity).
    public var id: Int64
    public var name: String
    /// The recipe file, resolved to an absolute path when the study was created.
    public var recipePath: String
    /// The recipe file's text, as read.
    public var recipeYAML: String
    /// The parsed recipe with defaults (``Recipe/json``).
    public var recipeJSON: String
    /// Hex SHA-256 of ``recipeJSON`` with `top_k` removed: a study's identity with its fingerprints.
    public var recipeHash: String
    /// The objective metric (minimized).
    public var objective: Recipe.Metric
    public var direction: String
    public var strategy: String
    public var selection: String
    /// Absolute path of the model folder.
    public var checkpointPath: String
    public var checkpointFingerprint: String
    public var calibrationFingerprint: String
    public var heldoutFingerprint: String
    /// Absolute paths of the calibration and held-out files (nil in studies of an older PruneKit).
    public var calibrationPath: String?
    public var heldoutPath: String?
    /// ``ScoreOptions/key`` of the score set the search pruned with (with the checkpoint and calibration
    /// fingerprints: the ``ScoreKey``); nil in studies of an older PruneKit.
    public var scoreOptionsKey: String?
    public var hardware: String
    /// Context (tokens) and batch of the memory budget; the budget in bytes.
    public var context: Int
    public var batch: Int
    public var budgetBytes: Int
    /// Workload input and output lengths (tokens) of the throughput prediction.
    public var inputLength: Int?
    public var outputLength: Int?
    /// Candidates evaluated per stage (raised by `search --top-k N`).
    public var topK: Int?
    /// Candidates in the product of the search space, and those that satisfied every constraint.
    public var enumerated: Int
    public var feasible: Int
    /// Constraint → candidates it rejected (first failing constraint), in checking order.
    public var rejections: [SearchError.Rejection]
    /// The source model's sizes and cost figures.
    public var source: SourceSummary?
    /// The full model's held-out loss, nats/token.
    public var fullLoss: Double?
    /// depth-then-width: the layer count chosen by the depth stage.
    public var bestDepth: Int?
    public var seed: UInt64
    public var toolVersion: String
    public var createdAt: String
    /// Trials per state (computed by the store, not a column).
    public var counts: [TrialState: Int]

    /// The score set the study pruned with.
    public var scoreKey: ScoreKey? {
        scoreOptionsKey.map { ScoreKey(checkpointFingerprint: checkpointFingerprint, calibrationFingerprint: calibrationFingerprint, optionsKey: $0) }
    }

    enum CodingKeys: String, CodingKey {
        case name, recipePath = "recipe_path", recipeYAML = "recipe_yaml", recipeJSON = "recipe_json", recipeHash = "recipe_hash"
        case objective, direction, strategy, selection, checkpointPath = "checkpoint_path", checkpointFingerprint = "checkpoint_fingerprint"
        case calibrationFingerprint = "calibration_fingerprint", heldoutFingerprint = "heldout_fingerprint"
        case calibrationPath = "calibration_path", heldoutPath = "heldout_path", scoreOptionsKey = "score_options_key", hardware, context, batch
        case budgetBytes = "budget_bytes", inputLength = "input_length", outputLength = "output_length", topK = "top_k"
        case enumerated, feasible, rejections, source, fullLoss = "full_loss", bestDepth = "best_depth", seed, toolVersion = "tool_version"
        case createdAt = "created_at", counts = "trials"
    }

    public init(id: Int64 = 0, name: String, recipePath: String, recipeYAML: String, recipeJSON: String, recipeHash: String,
                objective: Recipe.Metric, direction: String = "minimize", strategy: String, selection: String, checkpointPath: String,
                checkpointFingerprint: String, calibrationFingerprint: String, heldoutFingerprint: String, calibrationPath: String?,
                heldoutPath: String?, scoreOptionsKey: String?, hardware: String, context: Int, batch: Int, budgetBytes: Int,
                inputLength: Int?, outputLength: Int?, topK: Int?, enumerated: Int, feasible: Int, rejections: [SearchError.Rejection],
                source: SourceSummary?, fullLoss: Double?, bestDepth: Int? = nil, seed: UInt64, toolVersion: String = PruneKitVersion.string,
                createdAt: String = timestampNow(), counts: [TrialState: Int] = [:]) {
        self.id = id; self.name = name; self.recipePath = recipePath; self.recipeYAML = recipeYAML; self.recipeJSON = recipeJSON
        self.recipeHash = recipeHash; self.objective = objective; self.direction = direction; self.strategy = strategy
        self.selection = selection; self.checkpointPath = checkpointPath; self.checkpointFingerprint = checkpointFingerprint
        self.calibrationFingerprint = calibrationFingerprint; self.heldoutFingerprint = heldoutFingerprint
        self.calibrationPath = calibrationPath; self.heldoutPath = heldoutPath; self.scoreOptionsKey = scoreOptionsKey
        self.hardware = hardware; self.context = context; self.batch = batch; self.budgetBytes = budgetBytes
        self.inputLength = inputLength; self.outputLength = outputLength; self.topK = topK; self.enumerated = enumerated
        self.feasible = feasible; self.rejections = rejections; self.source = source; self.fullLoss = fullLoss
        self.bestDepth = bestDepth; self.seed = seed; self.toolVersion = toolVersion; self.createdAt = createdAt; self.counts = counts
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = 0
        name = try c.decode(String.self, forKey: .name)
        recipePath = try c.decode(String.self, forKey: .recipePath)
        recipeYAML = try c.decode(String.self, forKey: .recipeYAML)
        recipeJSON = try c.decode(String.self, forKey: .recipeJSON)
        recipeHash = try c.decode(String.self, forKey: .recipeHash)
        objective = try c.decode(Recipe.Metric.self, forKey: .objective)
        direction = try c.decode(String.self, forKey: .direction)
        strategy = try c.decode(String.self, forKey: .strategy)
        selection = try c.decode(String.self, forKey: .selection)
        checkpointPath = try c.decode(String.self, forKey: .checkpointPath)
        checkpointFingerprint = try c.decode(String.self, forKey: .checkpointFingerprint)
        calibrationFingerprint = try c.decode(String.self, forKey: .calibrationFingerprint)
        heldoutFingerprint = try c.decode(String.self, forKey: .heldoutFingerprint)
        calibrationPath = try c.decodeIfPresent(String.self, forKey: .calibrationPath)
        heldoutPath = try c.decodeIfPresent(String.self, forKey: .heldoutPath)
        scoreOptionsKey = try c.decodeIfPresent(String.self, forKey: .scoreOptionsKey)
        hardware = try c.decode(String.self, forKey: .hardware)
        context = try c.decode(Int.self, forKey: .context)
        batch = try c.decode(Int.self, forKey: .batch)
        budgetBytes = try c.decode(Int.self, forKey: .budgetBytes)
        inputLength = try c.decodeIfPresent(Int.self, forKey: .inputLength)
        outputLength = try c.decodeIfPresent(Int.self, forKey: .outputLength)
        topK = try c.decodeIfPresent(Int.self, forKey: .topK)
        enumerated = try c.decode(Int.self, forKey: .enumerated)
        feasible = try c.decode(Int.self, forKey: .feasible)
        rejections = try c.decode(RejectionCounts.self, forKey: .rejections).list
        source = try c.decodeIfPresent(SourceSummary.self, forKey: .source)
        fullLoss = try c.decodeIfPresent(Double.self, forKey: .fullLoss)
        bestDepth = try c.decodeIfPresent(Int.self, forKey: .bestDepth)
        seed = try c.decode(UInt64.self, forKey: .seed)
        toolVersion = try c.decode(String.self, forKey: .toolVersion)
        createdAt = try c.decode(String.self, forKey: .createdAt)
        let byName = try c.decodeIfPresent([String: Int].self, forKey: .counts) ?? [:]
        counts = Dictionary(byName.compactMap { k, v in TrialState(rawValue: k.uppercased()).map { ($0, v) } }, uniquingKeysWith: { a, _ in a })
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name); try c.encode(recipePath, forKey: .recipePath); try c.encode(recipeYAML, forKey: .recipeYAML)
        try c.encode(recipeJSON, forKey: .recipeJSON); try c.encode(recipeHash, forKey: .recipeHash); try c.encode(objective, forKey: .objective)
        try c.encode(direction, forKey: .direction); try c.encode(strategy, forKey: .strategy); try c.encode(selection, forKey: .selection)
        try c.encode(checkpointPath, forKey: .checkpointPath); try c.encode(checkpointFingerprint, forKey: .checkpointFingerprint)
        try c.encode(calibrationFingerprint, forKey: .calibrationFingerprint); try c.encode(heldoutFingerprint, forKey: .heldoutFingerprint)
        try c.encode(calibrationPath, forKey: .calibrationPath); try c.encode(heldoutPath, forKey: .heldoutPath)
        try c.encode(scoreOptionsKey, forKey: .scoreOptionsKey); try c.encode(hardware, forKey: .hardware); try c.encode(context, forKey: .context)
        try c.encode(batch, forKey: .batch); try c.encode(budgetBytes, forKey: .budgetBytes); try c.encode(inputLength, forKey: .inputLength)
        try c.encode(outputLength, forKey: .outputLength); try c.encode(topK, forKey: .topK); try c.encode(enumerated, forKey: .enumerated)
        try c.encode(feasible, forKey: .feasible); try c.encode(RejectionCounts(list: rejections), forKey: .rejections)
        try c.encode(source, forKey: .source); try c.encode(FiniteOrNull(fullLoss), forKey: .fullLoss); try c.encode(bestDepth, forKey: .bestDepth)
        try c.encode(seed, forKey: .seed); try c.encode(toolVersion, forKey: .toolVersion); try c.encode(createdAt, forKey: .createdAt)
        try c.encode(OrderedCounts(counts: counts), forKey: .counts)
    }
}

/// One stored trial (table `trials`): a candidate architecture, its cost-model figures, and (when COMPLETE)
/// its metrics. Encoded flat: the ``Architecture`` keys sit next to the trial's own, as in the table.
public struct TrialRecord: Codable, Sendable {
    /// Row id in its store.
    public var id: Int64
    /// Row id of its study in its store.
    public var studyID: Int64
    /// Per-study trial number, from 0.
    public var number: Int
    public var stage: TrialStage
    public var state: TrialState
    public var architecture: Architecture
    /// ``Architecture/hash``: unique per study.
    public var archHash: String
    public var params: Int
    public var weightBytes: Int
    /// Memory at the study's context × batch, its budget and the slack (budget − memory), bytes.
    public var memoryBytes: Int
    public var budgetBytes: Int
    public var slackBytes: Int
    public var fits: Bool
    public var maxBatch: Int
    /// Predicted output tokens/s per GPU at the recipe's ISL/OSL.
    public var tokensPerSecond: Double
    /// The full cost figures at the study's context × batch (nil for trials of an older PruneKit).
    public var cost: CostFigures?
    public var prunedReason: String?
    public var kl: Double?
    public var mse: Double?
    public var loss: Double?
    public var objectiveValue: Double?
    public var error: String?
    public var seed: UInt64
    public var toolVersion: String
    public var workerID: String?
    public var workerHost: String?
    public var workerPID: Int?
    public var attempts: Int
    public var createdAt: String
    public var claimedAt: String?
    /// Database-clock Unix seconds of the last heartbeat (lease renewal).
    public var heartbeat: Double?
    public var finishedAt: String?
    public var evalSeconds: Double?

    /// The pruned layer pattern.
    public var pattern: String { architecture.pattern }

    enum CodingKeys: String, CodingKey {
        case number, stage, state, archHash = "architecture_hash", params, weightBytes = "weight_bytes", memoryBytes = "memory_bytes"
        case memoryGiB = "memory_gib", budgetBytes = "budget_bytes", slackBytes = "slack_bytes", slackGiB = "slack_gib", fits
        case maxBatch = "max_batch", tokensPerSecond = "tokens_per_second", cost, kl, mse, loss, objectiveValue = "objective_value"
        case prunedReason = "pruned_reason", error, seed, toolVersion = "tool_version", workerID = "worker_id", workerHost = "worker_host"
        case workerPID = "worker_pid", attempts, createdAt = "created_at", claimedAt = "claimed_at", heartbeat, finishedAt = "finished_at"
        case evalSeconds = "eval_seconds"
    }

    /// A trial with the given identity and architecture, every figure zero or nil (backends fill the rest from a row).
    public init(id: Int64, studyID: Int64, number: Int, stage: TrialStage, state: TrialState, architecture: Architecture, archHash: String) {
        self.id = id; self.studyID = studyID; self.number = number; self.stage = stage; self.state = state
        self.architecture = architecture; self.archHash = archHash
        params = 0; weightBytes = 0; memoryBytes = 0; budgetBytes = 0; slackBytes = 0; fits = false; maxBatch = 0; tokensPerSecond = 0
        seed = 0; toolVersion = PruneKitVersion.string; attempts = 0; createdAt = ""
    }

    /// A new trial for ``StudyStore/register(study:trials:)``: WAITING when `candidate` is feasible and
    /// `evaluate`, else PRUNED with its rejection.
    public init(candidate c: Candidate, stage: TrialStage, evaluate: Bool, seed: UInt64) {
        let r = c.cost
        id = 0; studyID = 0; number = 0; self.stage = stage
        state = evaluate && c.isFeasible ? .waiting : .pruned
        architecture = c.architecture; archHash = c.architecture.hash
        params = r.parameters; weightBytes = r.weightBytes; memoryBytes = r.memoryBytes; budgetBytes = r.budgetBytes
        slackBytes = r.slackBytes; fits = r.fits; maxBatch = r.maxBatch
        tokensPerSecond = r.outputTokensPerSecond.isFinite ? r.outputTokensPerSecond : 0
        cost = r.parameters == Int.max ? nil : CostFigures(r)
        prunedReason = state == .pruned ? (c.rejection.map { "\($0.constraint): \($0.reason)" } ?? "infeasible") : nil
        self.seed = seed; toolVersion = PruneKitVersion.string; attempts = 0; createdAt = timestampNow()
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = 0; studyID = 0
        number = try c.decode(Int.self, forKey: .number)
        stage = try c.decode(TrialStage.self, forKey: .stage)
        state = try c.decode(TrialState.self, forKey: .state)
        architecture = try Architecture(from: decoder)
        archHash = try c.decode(String.self, forKey: .archHash)
        params = try c.decode(Int.self, forKey: .params)
        weightBytes = try c.decode(Int.self, forKey: .weightBytes)
        memoryBytes = try c.decode(Int.self, forKey: .memoryBytes)
        budgetBytes = try c.decode(Int.self, forKey: .budgetBytes)
        slackBytes = try c.decode(Int.self, forKey: .slackBytes)
        fits = try c.decode(Bool.self, forKey: .fits)
        maxBatch = try c.decode(Int.self, forKey: .maxBatch)
        tokensPerSecond = try c.decodeIfPresent(Double.self, forKey: .tokensPerSecond) ?? 0
        cost = try c.decodeIfPresent(CostFigures.self, forKey: .cost)
        prunedReason = try c.decodeIfPresent(String.self, forKey: .prunedReason)
        kl = try c.decodeIfPresent(Double.self, forKey: .kl)
        mse = try c.decodeIfPresent(Double.self, forKey: .mse)
        loss = try c.decodeIfPresent(Double.self, forKey: .loss)
        objectiveValue = try c.decodeIfPresent(Double.self, forKey: .objectiveValue)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        seed = try c.decode(UInt64.self, forKey: .seed)
        toolVersion = try c.decode(String.self, forKey: .toolVersion)
        workerID = try c.decodeIfPresent(String.self, forKey: .workerID)
        workerHost = try c.decodeIfPresent(String.self, forKey: .workerHost)
        workerPID = try c.decodeIfPresent(Int.self, forKey: .workerPID)
        attempts = try c.decode(Int.self, forKey: .attempts)
        createdAt = try c.decode(String.self, forKey: .createdAt)
        claimedAt = try c.decodeIfPresent(String.self, forKey: .claimedAt)
        heartbeat = try c.decodeIfPresent(Double.self, forKey: .heartbeat)
        finishedAt = try c.decodeIfPresent(String.self, forKey: .finishedAt)
        evalSeconds = try c.decodeIfPresent(Double.self, forKey: .evalSeconds)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(number, forKey: .number); try c.encode(stage, forKey: .stage); try c.encode(state, forKey: .state)
        try architecture.encode(to: encoder)
        try c.encode(archHash, forKey: .archHash); try c.encode(params, forKey: .params); try c.encode(weightBytes, forKey: .weightBytes)
        try c.encode(memoryBytes, forKey: .memoryBytes); try c.encode(GiB.of(memoryBytes), forKey: .memoryGiB)
        try c.encode(budgetBytes, forKey: .budgetBytes); try c.encode(slackBytes, forKey: .slackBytes)
        try c.encode(GiB.of(slackBytes), forKey: .slackGiB); try c.encode(fits, forKey: .fits); try c.encode(maxBatch, forKey: .maxBatch)
        try c.encode(FiniteOrNull(tokensPerSecond), forKey: .tokensPerSecond); try c.encode(cost, forKey: .cost)
        try c.encode(FiniteOrNull(kl), forKey: .kl); try c.encode(FiniteOrNull(mse), forKey: .mse); try c.encode(FiniteOrNull(loss), forKey: .loss)
        try c.encode(FiniteOrNull(objectiveValue), forKey: .objectiveValue); try c.encode(prunedReason, forKey: .prunedReason)
        try c.encode(error, forKey: .error); try c.encode(seed, forKey: .seed); try c.encode(toolVersion, forKey: .toolVersion)
        try c.encode(workerID, forKey: .workerID); try c.encode(workerHost, forKey: .workerHost); try c.encode(workerPID, forKey: .workerPID)
        try c.encode(attempts, forKey: .attempts); try c.encode(createdAt, forKey: .createdAt); try c.encode(claimedAt, forKey: .claimedAt)
        try c.encode(FiniteOrNull(heartbeat), forKey: .heartbeat); try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(FiniteOrNull(evalSeconds), forKey: .evalSeconds)
    }
}

/// Rejection counts as a JSON object in checking order: `{"structure rule": 3, "memory budget": 12}`.
public struct RejectionCounts: Codable, Sendable, Equatable {
    public var list: [SearchError.Rejection]
    public init(list: [SearchError.Rejection]) { self.list = list }
    struct Key: CodingKey {
        var stringValue: String; var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let byName = Dictionary(uniqueKeysWithValues: try c.allKeys.map { ($0.stringValue, try c.decode(Int.self, forKey: $0)) })
        let known = CandidateRejection.order.filter { byName[$0] != nil }
        list = (known + byName.keys.filter { !CandidateRejection.order.contains($0) }.sorted()).map { SearchError.Rejection(constraint: $0, count: byName[$0]!) }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for r in list { try c.encode(r.count, forKey: Key(stringValue: r.constraint)) }
    }
}

/// Trial counts per state in ``TrialState`` order (every state present), keyed by the state in lower case
/// (`{"waiting": 0, "running": 0, "complete": 3, "pruned": 1, "fail": 0}`; keys are snake_case, formats.md §7).
struct OrderedCounts: Encodable {
    var counts: [TrialState: Int]
    struct Key: CodingKey {
        var stringValue: String; var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for s in TrialState.allCases { try c.encode(counts[s] ?? 0, forKey: Key(stringValue: s.rawValue.lowercased())) }
    }
}

extension StudyRecord {
    /// The record's one serialized form (its `Codable` encoding) as a ``JSONValue``, for `--format json`.
    public var json: JSONValue { jsonValue(of: self) }
}

extension TrialRecord {
    /// The record's one serialized form (its `Codable` encoding, flat) as a ``JSONValue``, for `--format json`.
    public var json: JSONValue { jsonValue(of: self) }
}

/// The `Codable` encoding of `v` (``PruneKitJSON``: sorted keys, non-finite numbers as null) as a ``JSONValue``.
func jsonValue<T: Encodable>(of v: T) -> JSONValue {
    (try? JSONParser().parse(PruneKitJSON.data(v))) ?? .null
}
