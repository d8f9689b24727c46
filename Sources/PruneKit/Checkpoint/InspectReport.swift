import Foundation

/// What `prunekit inspect` reports about a checkpoint or a lone config.json.
public struct InspectReport {
    public let path: String
    public let config: NemotronHConfig
    /// From the formula (nemotron-h.md §4).
    public let formulaParameters: Int
    /// Summed from the tensor shapes; nil for a lone config.json.
    public let tensorParameters: Int?
    /// Parameters per layer kind (all layers of that kind, pre-norms included) plus "global".
    public let parametersPerKind: [(String, Int)]
    /// Bytes of tensor data per dtype (nil without weights).
    public let bytesPerDType: [(String, Int)]?
    /// Number of weight files (1 for model.safetensors).
    public let shardCount: Int?
    public let fingerprint: String?

    /// Inspects a folder (headers only) or a config.json file.
    public static func make(path: String) throws -> InspectReport {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CheckpointError.folder(path: path, message: "does not exist")
        }
        if isDir.boolValue {
            let folder = try ModelFolder(path: path)
            return InspectReport(path: path, config: folder.config, folder: folder)
        }
        let cfg = try NemotronHConfig.load(path: path)
        return InspectReport(path: path, config: cfg, folder: nil)
    }

    init(path: String, config: NemotronHConfig, folder: ModelFolder?) {
        self.path = path
        self.config = config
        formulaParameters = config.parameterCount
        var kinds = [(String, Int)]()
        for kind in LayerKind.allCases {
            kinds.append((kind.name, config.count(kind) * config.parameterCount(kind)))
        }
        kinds.append(("global", config.globalParameterCount))
        parametersPerKind = kinds
        if let folder {
            tensorParameters = folder.tensorParameterCount
            bytesPerDType = folder.bytesPerDType.map { ($0.key.rawValue, $0.value) }.sorted { $0.0 < $1.0 }
            shardCount = folder.files.count
            fingerprint = folder.fingerprint
        } else {
            tensorParameters = nil; bytesPerDType = nil; shardCount = nil; fingerprint = nil
        }
    }

    /// The report as `inspect --format json` writes it (``Output``).
    public var output: Output {
        let c = config
        return Output(path: path, pattern: c.patternString, numLayers: c.numLayers,
                      layers: .init(mamba: c.count(.mamba), attention: c.count(.attention), mlp: c.count(.mlp)),
                      hiddenSize: c.hiddenSize, intermediateSize: c.ffnHiddenSize, numAttentionHeads: c.numAttentionHeads,
                      numKeyValueHeads: c.numKeyValueHeads, headDim: c.headDim, mambaNumHeads: c.mambaNumHeads, mambaHeadDim: c.mambaHeadDim,
                      mambaIntermediate: c.mambaIntermediate, ssmStateSize: c.ssmStateSize, nGroups: c.nGroups, convKernel: c.convKernel,
                      vocabSize: c.vocabSize, tieWordEmbeddings: c.tieWordEmbeddings, parametersFormula: formulaParameters,
                      parametersTensors: tensorParameters, parametersAgree: tensorParameters.map { $0 == formulaParameters },
                      parametersPerKind: Dictionary(uniqueKeysWithValues: parametersPerKind),
                      bytesPerDType: bytesPerDType.map { Dictionary(uniqueKeysWithValues: $0) }, shards: shardCount, fingerprint: fingerprint)
    }

    /// `inspect --format json` (config.json key names for the sizes; snake_case keys, ``PruneKitJSON``).
    /// `parameters_tensors` and `parameters_agree` are null for a lone config.json; `bytes_per_dtype`, `shards`
    /// and `fingerprint` are then absent.
    public struct Output: Codable, Sendable, Equatable {
        public struct LayerCounts: Codable, Sendable, Equatable { public var mamba, attention, mlp: Int }
        public var path: String
        public var pattern: String
        public var numLayers: Int
        public var layers: LayerCounts
        public var hiddenSize: Int
        public var intermediateSize: Int
        public var numAttentionHeads: Int
        public var numKeyValueHeads: Int
        public var headDim: Int
        public var mambaNumHeads: Int
        public var mambaHeadDim: Int
        public var mambaIntermediate: Int
        public var ssmStateSize: Int
        public var nGroups: Int
        public var convKernel: Int
        public var vocabSize: Int
        public var tieWordEmbeddings: Bool
        public var parametersFormula: Int
        public var parametersTensors: Int?
        public var parametersAgree: Bool?
        /// Layer kind (`mamba`, `attention`, `mlp`, `global`) → parameters.
        public var parametersPerKind: [String: Int]
        /// dtype → bytes of tensor data.
        public var bytesPerDType: [String: Int]?
        public var shards: Int?
        public var fingerprint: String?
        enum CodingKeys: String, CodingKey {
            case path, pattern, numLayers = "num_layers", layers, hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
            case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads", headDim = "head_dim"
            case mambaNumHeads = "mamba_num_heads", mambaHeadDim = "mamba_head_dim", mambaIntermediate = "mamba_intermediate"
            case ssmStateSize = "ssm_state_size", nGroups = "n_groups", convKernel = "conv_kernel", vocabSize = "vocab_size"
            case tieWordEmbeddings = "tie_word_embeddings", parametersFormula = "parameters_formula", parametersTensors = "parameters_tensors"
            case parametersAgree = "parameters_agree", parametersPerKind = "parameters_per_kind", bytesPerDType = "bytes_per_dtype"
            case shards, fingerprint
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(path, forKey: .path); try c.encode(pattern, forKey: .pattern); try c.encode(numLayers, forKey: .numLayers)
            try c.encode(layers, forKey: .layers); try c.encode(hiddenSize, forKey: .hiddenSize); try c.encode(intermediateSize, forKey: .intermediateSize)
            try c.encode(numAttentionHeads, forKey: .numAttentionHeads); try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
            try c.encode(headDim, forKey: .headDim); try c.encode(mambaNumHeads, forKey: .mambaNumHeads); try c.encode(mambaHeadDim, forKey: .mambaHeadDim)
            try c.encode(mambaIntermediate, forKey: .mambaIntermediate); try c.encode(ssmStateSize, forKey: .ssmStateSize)
            try c.encode(nGroups, forKey: .nGroups); try c.encode(convKernel, forKey: .convKernel); try c.encode(vocabSize, forKey: .vocabSize)
            try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings); try c.encode(parametersFormula, forKey: .parametersFormula)
            try c.encode(parametersTensors, forKey: .parametersTensors); try c.encode(parametersAgree, forKey: .parametersAgree)
            try c.encode(parametersPerKind, forKey: .parametersPerKind); try c.encodeIfPresent(bytesPerDType, forKey: .bytesPerDType)
            try c.encodeIfPresent(shards, forKey: .shards); try c.encodeIfPresent(fingerprint, forKey: .fingerprint)
        }
    }

    public var table: String {
        let c = config
        let g = grouped
        var lines = [String]()
        lines.append("model        \(path)")
        lines.append("pattern      \(c.patternString)")
        lines.append("layers       \(c.numLayers)  (M \(c.count(.mamba)) / * \(c.count(.attention)) / - \(c.count(.mlp)))")
        lines.append("hidden       \(c.hiddenSize)    FFN hidden \(c.ffnHiddenSize)    vocab \(c.vocabSize)\(c.tieWordEmbeddings ? " (tied)" : "")")
        lines.append("attention    \(c.numAttentionHeads) query / \(c.numKeyValueHeads) KV heads × head_dim \(c.headDim)")
        lines.append("mamba        \(c.mambaNumHeads) heads × head_dim \(c.mambaHeadDim) = \(c.mambaIntermediate), state \(c.ssmStateSize), groups \(c.nGroups), conv \(c.convKernel)")
        lines.append("parameters   \(g(formulaParameters)) (formula)")
        if let t = tensorParameters {
            lines.append("             \(g(t)) (tensors) — \(t == formulaParameters ? "agree" : "DISAGREE by \(g(t - formulaParameters))")")
        }
        for (k, n) in parametersPerKind {
            // String(format: "%-10@") does not pad on Linux: pad by hand.
            let share = String(format: "%.1f", 100 * Double(n) / Double(max(formulaParameters, 1)))
            lines.append("  \(k.padding(toLength: max(10, k.count), withPad: " ", startingAt: 0)) \(g(n)) (\(share) %)")
        }
        if let bytesPerDType {
            for (d, b) in bytesPerDType { lines.append("bytes \(d.padding(toLength: 6, withPad: " ", startingAt: 0)) \(g(b)) (\(String(format: "%.3f", Double(b) / 1_073_741_824)) GiB)") }
        }
        if let shardCount { lines.append("weight files \(shardCount)") }
        if let fingerprint { lines.append("fingerprint  \(fingerprint.prefix(16))…") }
        return lines.joined(separator: "\n")
    }
}
