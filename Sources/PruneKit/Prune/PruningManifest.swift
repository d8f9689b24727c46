import Foundation

/// `pruning.json`, written next to every export (pruning.md §7): tool and version, source (teacher) path,
/// fingerprint and sizes, calibration fingerprint, how the keep-sets were chosen (``Recipe``), the target
/// (as a ``TargetArchitecture`` and as config.json sizes), parameter counts, and the kept indices in the
/// source's numbering. snake_case keys, ``PruneKitJSON``.
public struct PruningManifest: Codable, Sendable, Equatable {
    /// Architecture sizes of a config, with config.json's key names.
    public struct ConfigSizes: Codable, Sendable, Equatable {
        public var hybridOverridePattern: String
        public var numHiddenLayers: Int
        public var hiddenSize: Int
        public var intermediateSize: Int
        public var numAttentionHeads: Int
        public var numKeyValueHeads: Int
        public var headDim: Int
        public var mambaNumHeads: Int
        public var mambaHeadDim: Int
        public var ssmStateSize: Int
        public var nGroups: Int
        public var vocabSize: Int
        enum CodingKeys: String, CodingKey {
            case hybridOverridePattern = "hybrid_override_pattern", numHiddenLayers = "num_hidden_layers", hiddenSize = "hidden_size"
            case intermediateSize = "intermediate_size", numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
            case headDim = "head_dim", mambaNumHeads = "mamba_num_heads", mambaHeadDim = "mamba_head_dim", ssmStateSize = "ssm_state_size"
            case nGroups = "n_groups", vocabSize = "vocab_size"
        }
        public init(_ c: NemotronHConfig) {
            hybridOverridePattern = c.patternString; numHiddenLayers = c.numLayers; hiddenSize = c.hiddenSize; intermediateSize = c.ffnHiddenSize
            numAttentionHeads = c.numAttentionHeads; numKeyValueHeads = c.numKeyValueHeads; headDim = c.headDim; mambaNumHeads = c.mambaNumHeads
            mambaHeadDim = c.mambaHeadDim; ssmStateSize = c.ssmStateSize; nGroups = c.nGroups; vocabSize = c.vocabSize
        }
    }

    public struct Source: Codable, Sendable, Equatable {
        /// Resolved path of the source folder.
        public var path: String
        public var fingerprint: String
        public var config: ConfigSizes
    }

    public struct ParameterCounts: Codable, Sendable, Equatable {
        public var source: Int
        public var target: Int
        public init(source: Int, target: Int) { self.source = source; self.target = target }
    }

    /// Kept indices in the source's numbering; per-layer maps are keyed by the source layer.
    public struct Kept: Codable, Sendable, Equatable {
        public var layers: [Int]
        public var hiddenChannels: [Int]
        public var ffnNeurons: [Int: [Int]]
        public var attentionHeads: [Int: [Int]]
        public var mambaHeads: [Int: [Int]]
        public var mambaHeadDim: [Int: [Int]]
        enum CodingKeys: String, CodingKey {
            case layers, hiddenChannels = "hidden_channels", ffnNeurons = "ffn_neurons", attentionHeads = "attention_heads"
            case mambaHeads = "mamba_heads", mambaHeadDim = "mamba_head_dim"
        }
        public init(_ p: PruningPlan) {
            layers = p.keptLayers; hiddenChannels = p.keptHidden; ffnNeurons = p.keptFFN; attentionHeads = p.keptAttentionHeads
            mambaHeads = p.keptMambaHeads; mambaHeadDim = p.keptMambaHeadDim
        }
    }

    /// How the keep-sets were chosen. Keys that do not apply to the way the export was made are absent.
    public struct Recipe: Codable, Sendable, Equatable {
        /// The sizes asked for.
        public var target: TargetArchitecture?
        /// `importance`, `random`, `none (no width pruned)`, or the random-with-study-ranking baseline.
        public var keepSets: String?
        /// `--scores FILE.json`, `--data FILE`, `--samples`, `--seq-len` as given.
        public var scores: String?
        public var calibrationData: String?
        public var samples: Int?
        public var seqLen: Int?
        /// `--random-seed`.
        public var seed: UInt64?
        /// `--study` / `--trial`: the study, its trial's number and search metrics, and the study's recipe YAML.
        public var study: String?
        public var trial: Int?
        public var trialMetrics: TrialMetrics?
        public var recipeYAML: String?
        enum CodingKeys: String, CodingKey {
            case target, keepSets = "keep_sets", scores, calibrationData = "calibration_data", samples, seqLen = "seq_len", seed, study, trial
            case trialMetrics = "trial_metrics", recipeYAML = "recipe_yaml"
        }
        public init(target: TargetArchitecture? = nil, keepSets: String? = nil, scores: String? = nil, calibrationData: String? = nil,
                    samples: Int? = nil, seqLen: Int? = nil, seed: UInt64? = nil, study: String? = nil, trial: Int? = nil,
                    trialMetrics: TrialMetrics? = nil, recipeYAML: String? = nil) {
            self.target = target; self.keepSets = keepSets; self.scores = scores; self.calibrationData = calibrationData
            self.samples = samples; self.seqLen = seqLen; self.seed = seed; self.study = study; self.trial = trial
            self.trialMetrics = trialMetrics; self.recipeYAML = recipeYAML
        }
    }

    /// A study trial's figures from the search (nats; bytes; predicted tokens/s per GPU).
    public struct TrialMetrics: Codable, Sendable, Equatable {
        @FiniteOrNull public var kl: Double?
        @FiniteOrNull public var mse: Double?
        @FiniteOrNull public var loss: Double?
        @FiniteOrNull public var predictedTokensPerSecond: Double
        public var memoryBytes: Int
        public var budgetBytes: Int
        enum CodingKeys: String, CodingKey {
            case kl, mse, loss, predictedTokensPerSecond = "predicted_tokens_per_second", memoryBytes = "memory_bytes", budgetBytes = "budget_bytes"
        }
        public init(kl: Double?, mse: Double?, loss: Double?, predictedTokensPerSecond: Double, memoryBytes: Int, budgetBytes: Int) {
            self.kl = kl; self.mse = mse; self.loss = loss; self.predictedTokensPerSecond = predictedTokensPerSecond
            self.memoryBytes = memoryBytes; self.budgetBytes = budgetBytes
        }
    }

    public var tool: String
    public var version: String
    public var source: Source
    public var calibrationFingerprint: String?
    public var recipe: Recipe?
    /// The target that reproduces the export from the source (explicit drop list and every width).
    public var architecture: TargetArchitecture
    public var target: ConfigSizes
    public var parameters: ParameterCounts
    public var kept: Kept
    enum CodingKeys: String, CodingKey {
        case tool, version, source, calibrationFingerprint = "calibration_fingerprint", recipe, architecture, target, parameters, kept
    }

    /// The manifest of `plan` applied to `folder`.
    public init(folder: ModelFolder, plan: PruningPlan, calibrationFingerprint: String?, recipe: Recipe?) {
        tool = "prunekit"; version = PruneKitVersion.string
        source = Source(path: realPath(folder.path) ?? folder.path, fingerprint: folder.fingerprint, config: ConfigSizes(plan.source))
        self.calibrationFingerprint = calibrationFingerprint; self.recipe = recipe; architecture = plan.architecture
        target = ConfigSizes(plan.target); parameters = ParameterCounts(source: plan.source.parameterCount, target: plan.target.parameterCount)
        kept = Kept(plan)
    }

    /// Nil optionals at the top level are written as `null` (every key present).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tool, forKey: .tool); try c.encode(version, forKey: .version); try c.encode(source, forKey: .source)
        try c.encode(calibrationFingerprint, forKey: .calibrationFingerprint); try c.encode(recipe, forKey: .recipe)
        try c.encode(architecture, forKey: .architecture); try c.encode(target, forKey: .target); try c.encode(parameters, forKey: .parameters)
        try c.encode(kept, forKey: .kept)
    }
}

/// `prune --dry-run --format json`: the target's config.json sizes, parameter counts, tensor shapes, shards
/// and kept indices (the same sections as pruning.json).
public struct ExportPlanOutput: Codable, Sendable, Equatable {
    public struct Tensor: Codable, Sendable, Equatable {
        public var name: String
        public var source: String
        public var sourceShape: [Int]
        public var shape: [Int]
        public var dtype: String
        enum CodingKeys: String, CodingKey { case name, source, sourceShape = "source_shape", shape, dtype }
    }
    public var target: PruningManifest.ConfigSizes
    public var parameters: PruningManifest.ParameterCounts
    public var tensors: [Tensor]
    public var shards: ShardPlan.Summary
    public var kept: PruningManifest.Kept
    public init(_ p: Exporter.Plan, plan: PruningPlan) {
        target = .init(p.target)
        parameters = .init(source: p.sourceParameters, target: p.targetParameters)
        tensors = p.tensors.map { Tensor(name: $0.name, source: $0.sourceName, sourceShape: $0.sourceShape, shape: $0.targetShape, dtype: $0.dtype.rawValue) }
        shards = p.shards.summary
        kept = .init(plan)
    }
}
