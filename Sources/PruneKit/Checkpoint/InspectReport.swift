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

    public var json: JSONValue {
        let c = config
        var o: [(String, JSONValue)] = [
            ("path", .string(path)),
            ("pattern", .string(c.patternString)),
            ("num_layers", .int(c.numLayers)),
            ("layers", .object([("mamba", .int(c.count(.mamba))), ("attention", .int(c.count(.attention))), ("mlp", .int(c.count(.mlp)))])),
            ("hidden_size", .int(c.hiddenSize)),
            ("intermediate_size", .int(c.ffnHiddenSize)),
            ("num_attention_heads", .int(c.numAttentionHeads)),
            ("num_key_value_heads", .int(c.numKeyValueHeads)),
            ("head_dim", .int(c.headDim)),
            ("mamba_num_heads", .int(c.mambaNumHeads)),
            ("mamba_head_dim", .int(c.mambaHeadDim)),
            ("mamba_intermediate", .int(c.mambaIntermediate)),
            ("ssm_state_size", .int(c.ssmStateSize)),
            ("n_groups", .int(c.nGroups)),
            ("conv_kernel", .int(c.convKernel)),
            ("vocab_size", .int(c.vocabSize)),
            ("tie_word_embeddings", .bool(c.tieWordEmbeddings)),
            ("parameters_formula", .int(formulaParameters)),
            ("parameters_tensors", tensorParameters.map { .int($0) } ?? .null),
            ("parameters_agree", tensorParameters.map { .bool($0 == formulaParameters) } ?? .null),
            ("parameters_per_kind", .object(parametersPerKind.map { ($0.0, .int($0.1)) })),
        ]
        if let bytesPerDType { o.append(("bytes_per_dtype", .object(bytesPerDType.map { ($0.0, .int($0.1)) }))) }
        if let shardCount { o.append(("shards", .int(shardCount))) }
        if let fingerprint { o.append(("fingerprint", .string(fingerprint))) }
        return .object(o)
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
