import Foundation

/// Errors from reading or checking a Nemotron-H `config.json`.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, message: String)
    case missingKey(file: String, key: String)
    case badValue(file: String, key: String, message: String)
    case unsupported(file: String, message: String)

    public var description: String {
        switch self {
        case let .unreadable(f, m): return "\(f): \(m)"
        case let .missingKey(f, k): return "\(f): missing required key \"\(k)\""
        case let .badValue(f, k, m): return "\(f): key \"\(k)\": \(m)"
        case let .unsupported(f, m): return "\(f): \(m)"
        }
    }
}
extension ConfigError: LocalizedError { public var errorDescription: String? { description } }

/// A layer's mixer kind, as one character of `hybrid_override_pattern` (nemotron-h.md §1).
public enum LayerKind: Character, Sendable, CaseIterable, Codable {
    case mamba = "M"
    case attention = "*"
    case mlp = "-"

    public var name: String {
        switch self { case .mamba: return "mamba"; case .attention: return "attention"; case .mlp: return "mlp" }
    }
    /// The `layers_block_type` spelling transformers 5 writes.
    var blockType: String {
        switch self { case .mamba: return "linear_attention"; case .attention: return "full_attention"; case .mlp: return "mlp" }
    }
}

/// The architecture of a Nemotron-H / Nemotron-Nano-v2 model, read from `config.json` (nemotron-h.md §1).
///
/// Reads both NVIDIA's style (`hybrid_override_pattern`, bare `Infinity`) and transformers 5's
/// (`layers_block_type`, `{"__float__": "Infinity"}`), and the old key names `mamba_n_groups`,
/// `mamba_d_conv`, `attention_head_dim`. `expand` is ignored: the Mamba inner width is
/// `mamba_num_heads × mamba_head_dim`. The original JSON is kept in ``raw`` so unknown keys survive.
public struct NemotronHConfig: Sendable, Equatable {
    public var pattern: [LayerKind]
    /// H: residual width.
    public var hiddenSize: Int
    /// F: MLP inner width (`intermediate_size`).
    public var ffnHiddenSize: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    /// d: attention head width (`head_dim`).
    public var headDim: Int
    /// nh
    public var mambaNumHeads: Int
    /// P
    public var mambaHeadDim: Int
    /// N
    public var ssmStateSize: Int
    /// G
    public var nGroups: Int
    /// K
    public var convKernel: Int
    public var useConvBias: Bool
    public var vocabSize: Int
    public var layerNormEpsilon: Double
    /// transformers' runtime floor on dt (nemotron-h.md §3.2 step 4).
    public var timeStepMin: Double
    public var tieWordEmbeddings: Bool
    /// `mamba_ssm_cache_dtype` (default float32), for the cost model.
    public var ssmCacheDtype: String
    /// `torch_dtype` / `dtype` as written, e.g. "bfloat16".
    public var torchDtype: String?
    /// The JSON as read, for a read-modify-write that keeps every other key.
    public var raw: JSONValue
    /// Whether the source wrote `layers_block_type` (transformers 5 style) instead of the pattern string.
    public var usesLayersBlockType: Bool

    public var numLayers: Int { pattern.count }
    public var patternString: String { String(pattern.map(\.rawValue)) }
    /// I = nh · P
    public var mambaIntermediate: Int { mambaNumHeads * mambaHeadDim }
    /// Cc = I + 2GN: channels through the causal conv.
    public var convDim: Int { mambaIntermediate + 2 * nGroups * ssmStateSize }
    /// Rows of `in_proj`: 2I + 2GN + nh.
    public var inProjDim: Int { 2 * mambaIntermediate + 2 * nGroups * ssmStateSize + mambaNumHeads }
    public func count(_ kind: LayerKind) -> Int { pattern.filter { $0 == kind }.count }

    /// Memberwise init for tests and synthetic models; `raw` is generated from the fields.
    public init(pattern: String, hiddenSize: Int, ffnHiddenSize: Int, numAttentionHeads: Int, numKeyValueHeads: Int,
                headDim: Int, mambaNumHeads: Int, mambaHeadDim: Int, ssmStateSize: Int, nGroups: Int, convKernel: Int = 4,
                useConvBias: Bool = true, vocabSize: Int, layerNormEpsilon: Double = 1e-5, timeStepMin: Double = 0.001,
                tieWordEmbeddings: Bool = false, ssmCacheDtype: String = "float32", torchDtype: String? = "bfloat16") {
        self.pattern = pattern.compactMap { LayerKind(rawValue: $0) }
        self.hiddenSize = hiddenSize; self.ffnHiddenSize = ffnHiddenSize
        self.numAttentionHeads = numAttentionHeads; self.numKeyValueHeads = numKeyValueHeads; self.headDim = headDim
        self.mambaNumHeads = mambaNumHeads; self.mambaHeadDim = mambaHeadDim; self.ssmStateSize = ssmStateSize
        self.nGroups = nGroups; self.convKernel = convKernel; self.useConvBias = useConvBias; self.vocabSize = vocabSize
        self.layerNormEpsilon = layerNormEpsilon; self.timeStepMin = timeStepMin; self.tieWordEmbeddings = tieWordEmbeddings
        self.ssmCacheDtype = ssmCacheDtype; self.torchDtype = torchDtype
        self.usesLayersBlockType = false
        var base: [(String, JSONValue)] = [("architectures", .array([.string("NemotronHForCausalLM")])), ("model_type", .string("nemotron_h")),
            ("layer_norm_epsilon", .double(layerNormEpsilon)), ("time_step_min", .double(timeStepMin)),
            ("time_step_limit", .array([.number("0.0"), .number("Infinity")])), ("use_conv_bias", .bool(useConvBias)),
            ("tie_word_embeddings", .bool(tieWordEmbeddings)), ("mlp_hidden_act", .string("relu2")),
            ("mamba_ssm_cache_dtype", .string(ssmCacheDtype))]
        if let torchDtype { base.append(("torch_dtype", .string(torchDtype))) }
        self.raw = .object(base)
        self.raw = self.updatedJSON()
    }

    /// Reads `config.json`.
    /// - Throws: ``ConfigError`` naming the file and key.
    public static func load(path: String) throws -> NemotronHConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigError.unreadable(file: path, message: "cannot read: \(error.localizedDescription)")
        }
        let json: JSONValue
        do { json = try JSONParser(allowNonFinite: true, rejectDuplicateKeys: true).parse(data) } catch {
            throw ConfigError.unreadable(file: path, message: "not valid JSON: \(error)")
        }
        return try NemotronHConfig(json: json, file: path)
    }

    public init(json: JSONValue, file: String = "config.json") throws {
        guard json.objectValue != nil else { throw ConfigError.unreadable(file: file, message: "config.json is not a JSON object") }
        raw = json
        func int(_ keys: [String], default def: Int? = nil) throws -> Int {
            for k in keys {
                guard let v = json[k], !v.isNull else { continue }
                guard let i = v.intValue else { throw ConfigError.badValue(file: file, key: k, message: "expected an integer, got \(JSONWriter(indent: nil).string(v))") }
                guard i > 0 else { throw ConfigError.badValue(file: file, key: k, message: "must be positive, got \(i)") }
                guard i <= Self.maxSize else { throw ConfigError.badValue(file: file, key: k, message: "\(i) is more than the largest size \(Self.maxSize)") }
                return i
            }
            if let def { return def }
            throw ConfigError.missingKey(file: file, key: keys[0])
        }
        func bool(_ k: String, _ def: Bool) throws -> Bool {
            guard let v = json[k], !v.isNull else { return def }
            guard let b = v.boolValue else { throw ConfigError.badValue(file: file, key: k, message: "expected true or false") }
            return b
        }
        func double(_ k: String, _ def: Double) throws -> Double {
            guard let v = json[k], !v.isNull else { return def }
            guard let d = v.doubleValue else { throw ConfigError.badValue(file: file, key: k, message: "expected a number") }
            return d
        }
        if let mt = json["model_type"]?.stringValue, mt != "nemotron_h" {
            throw ConfigError.unsupported(file: file, message: "model_type is \"\(mt)\"; PruneKit reads nemotron_h models only")
        }
        // Layer pattern: the string (NVIDIA) or the list (transformers 5).
        if let p = json["hybrid_override_pattern"]?.stringValue {
            var kinds = [LayerKind]()
            for (i, c) in p.enumerated() {
                if c == "E" { throw ConfigError.unsupported(file: file, message: "hybrid_override_pattern has an MoE layer ('E') at \(i); MoE (Nemotron-3) is not supported") }
                guard let k = LayerKind(rawValue: c) else {
                    throw ConfigError.badValue(file: file, key: "hybrid_override_pattern", message: "unknown layer character '\(c)' at position \(i) (expected M, * or -)")
                }
                kinds.append(k)
            }
            pattern = kinds
            usesLayersBlockType = false
        } else if let list = json["layers_block_type"]?.arrayValue {
            var kinds = [LayerKind]()
            for (i, v) in list.enumerated() {
                switch v.stringValue {
                case "linear_attention", "mamba": kinds.append(.mamba)
                case "full_attention", "attention": kinds.append(.attention)
                case "mlp": kinds.append(.mlp)
                case "moe": throw ConfigError.unsupported(file: file, message: "layers_block_type[\(i)] is \"moe\"; MoE (Nemotron-3) is not supported")
                default: throw ConfigError.badValue(file: file, key: "layers_block_type", message: "entry \(i) is \(JSONWriter(indent: nil).string(v)); expected linear_attention, full_attention or mlp")
                }
            }
            pattern = kinds
            usesLayersBlockType = true
        } else {
            throw ConfigError.missingKey(file: file, key: "hybrid_override_pattern")
        }
        guard !pattern.isEmpty else { throw ConfigError.badValue(file: file, key: "hybrid_override_pattern", message: "no layers") }
        if let n = json["num_hidden_layers"], !n.isNull, n.intValue != pattern.count {
            throw ConfigError.badValue(file: file, key: "num_hidden_layers", message: "is \(JSONWriter(indent: nil).string(n)) but the layer pattern has \(pattern.count) layers")
        }
        hiddenSize = try int(["hidden_size"])
        ffnHiddenSize = try int(["intermediate_size"])
        numAttentionHeads = try int(["num_attention_heads"])
        numKeyValueHeads = try int(["num_key_value_heads"], default: numAttentionHeads)
        headDim = try int(["head_dim", "attention_head_dim"], default: hiddenSize / numAttentionHeads)
        mambaNumHeads = try int(["mamba_num_heads"])
        mambaHeadDim = try int(["mamba_head_dim"])
        ssmStateSize = try int(["ssm_state_size"])
        nGroups = try int(["n_groups", "mamba_n_groups"])
        convKernel = try int(["conv_kernel", "mamba_d_conv"])
        vocabSize = try int(["vocab_size"])
        useConvBias = try bool("use_conv_bias", true)
        tieWordEmbeddings = try bool("tie_word_embeddings", false)
        layerNormEpsilon = try double("layer_norm_epsilon", 1e-5)
        timeStepMin = try double("time_step_min", 0.001)
        ssmCacheDtype = json["mamba_ssm_cache_dtype"]?.stringValue ?? "float32"
        torchDtype = json["torch_dtype"]?.stringValue ?? json["dtype"]?.stringValue
        for k in ["use_bias", "mamba_proj_bias", "mlp_bias", "attention_bias"] where try bool(k, false) {
            throw ConfigError.unsupported(file: file, message: "\(k) is true; released Nemotron-H models have no such biases and PruneKit does not support them")
        }
        if let act = json["mlp_hidden_act"]?.stringValue, act != "relu2" {
            throw ConfigError.unsupported(file: file, message: "mlp_hidden_act is \"\(act)\"; only relu2 is supported")
        }
        if let act = json["mamba_hidden_act"]?.stringValue, act != "silu" {
            throw ConfigError.unsupported(file: file, message: "mamba_hidden_act is \"\(act)\"; only silu is supported (the conv and gate activation of Nemotron-H)")
        }
        try validate(file: file)
    }

    /// Largest value of any size in config.json (2³¹ − 1: token ids are 32-bit, and products of sizes must fit).
    public static let maxSize = Int(Int32.max)
    /// Most parameters a config may imply (2⁵⁰ ≈ 1.1 × 10¹⁵, far beyond any real model), so parameter counts,
    /// tensor shapes and byte sizes computed from the config cannot overflow 64-bit integers.
    public static let maxParameterCount = 1 << 50

    /// Structural checks: head counts divide into groups, and the sizes imply at most ``maxParameterCount``
    /// parameters.
    /// - Throws: ``ConfigError/badValue(file:key:message:)`` naming the key.
    public func validate(file: String = "config.json") throws {
        // The parameter formula in floating point (no overflow); every intermediate of the integer formula is
        // at most the total, so below the limit the integer arithmetic is exact.
        let H = Double(hiddenSize), I = Double(mambaNumHeads) * Double(mambaHeadDim)
        let gn = 2 * Double(nGroups) * Double(ssmStateSize), conv = I + gn
        var total = Double(vocabSize) * H * 2 + H
        for kind in pattern {
            switch kind {
            case .mamba: total += H * (2 * I + gn + Double(mambaNumHeads)) + conv * Double(convKernel + 1) + 3 * Double(mambaNumHeads) + I + I * H + H
            case .attention: total += 2 * H * Double(headDim) * Double(numAttentionHeads + numKeyValueHeads) + H
            case .mlp: total += 2 * H * Double(ffnHiddenSize) + H
            }
        }
        if !(total <= Double(Self.maxParameterCount)) {
            let sizes = [("hidden_size", hiddenSize), ("intermediate_size", ffnHiddenSize), ("vocab_size", vocabSize),
                         ("num_attention_heads", numAttentionHeads), ("num_key_value_heads", numKeyValueHeads), ("head_dim", headDim),
                         ("mamba_num_heads", mambaNumHeads), ("mamba_head_dim", mambaHeadDim), ("ssm_state_size", ssmStateSize),
                         ("n_groups", nGroups), ("conv_kernel", convKernel)]
            let largest = sizes.max { $0.1 < $1.1 }!
            throw ConfigError.badValue(file: file, key: largest.0, message: "the sizes imply \(String(format: "%.3g", total)) parameters, more than \(Self.maxParameterCount) (is \(largest.0) = \(largest.1) mistyped?)")
        }
        if count(.attention) > 0, numAttentionHeads % numKeyValueHeads != 0 {
            throw ConfigError.badValue(file: file, key: "num_attention_heads", message: "\(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        if count(.mamba) > 0, mambaNumHeads % nGroups != 0 {
            throw ConfigError.badValue(file: file, key: "mamba_num_heads", message: "\(mambaNumHeads) is not a multiple of n_groups \(nGroups)")
        }
    }

    // MARK: - Parameter counts (nemotron-h.md §4)

    /// Parameters of one layer of `kind`, including its pre-norm weight.
    public func parameterCount(_ kind: LayerKind) -> Int {
        let H = hiddenSize
        switch kind {
        case .mamba:
            let I = mambaIntermediate, Cc = convDim, nh = mambaNumHeads
            return H * inProjDim + Cc * convKernel + (useConvBias ? Cc : 0) + 3 * nh + I + I * H + H
        case .attention:
            return 2 * H * numAttentionHeads * headDim + 2 * H * numKeyValueHeads * headDim + H
        case .mlp:
            return 2 * H * ffnHiddenSize + H
        }
    }

    /// Parameters outside the layers: embeddings, lm_head (unless tied), norm_f.
    public var globalParameterCount: Int { vocabSize * hiddenSize * (tieWordEmbeddings ? 1 : 2) + hiddenSize }

    /// Total parameters from the formula.
    public var parameterCount: Int { pattern.reduce(globalParameterCount) { $0 + parameterCount($1) } }

    // MARK: - Tensor names and shapes (nemotron-h.md §2)

    /// Every tensor the checkpoint must hold, in a canonical order, with its expected shape.
    public func expectedTensors() -> [(name: String, shape: [Int])] {
        var out: [(String, [Int])] = [("backbone.embeddings.weight", [vocabSize, hiddenSize])]
        for (i, kind) in pattern.enumerated() { out += layerTensors(i, kind) }
        out.append(("backbone.norm_f.weight", [hiddenSize]))
        if !tieWordEmbeddings { out.append(("lm_head.weight", [vocabSize, hiddenSize])) }
        return out
    }

    /// Tensors of layer `i` of `kind`, with shapes.
    public func layerTensors(_ i: Int, _ kind: LayerKind) -> [(name: String, shape: [Int])] {
        let p = "backbone.layers.\(i)."
        let H = hiddenSize
        var out: [(String, [Int])] = [(p + "norm.weight", [H])]
        switch kind {
        case .mamba:
            let m = p + "mixer."
            out += [(m + "in_proj.weight", [inProjDim, H]), (m + "conv1d.weight", [convDim, 1, convKernel])]
            if useConvBias { out.append((m + "conv1d.bias", [convDim])) }
            out += [(m + "A_log", [mambaNumHeads]), (m + "D", [mambaNumHeads]), (m + "dt_bias", [mambaNumHeads]),
                    (m + "norm.weight", [mambaIntermediate]), (m + "out_proj.weight", [H, mambaIntermediate])]
        case .attention:
            let m = p + "mixer."
            out += [(m + "q_proj.weight", [numAttentionHeads * headDim, H]), (m + "k_proj.weight", [numKeyValueHeads * headDim, H]),
                    (m + "v_proj.weight", [numKeyValueHeads * headDim, H]), (m + "o_proj.weight", [H, numAttentionHeads * headDim])]
        case .mlp:
            let m = p + "mixer."
            out += [(m + "up_proj.weight", [ffnHiddenSize, H]), (m + "down_proj.weight", [H, ffnHiddenSize])]
        }
        return out
    }

    // MARK: - Writing back

    /// The config JSON with the architecture fields set from this struct and every other key as read.
    /// Writes `mamba_num_heads` explicitly (nemotron-h.md §6.5) and the pattern in the source's style.
    public func updatedJSON() -> JSONValue {
        var j = raw
        j = j.setting("hidden_size", .int(hiddenSize))
        j = j.setting("intermediate_size", .int(ffnHiddenSize))
        j = j.setting("num_attention_heads", .int(numAttentionHeads))
        j = j.setting("num_key_value_heads", .int(numKeyValueHeads))
        if j["attention_head_dim"] != nil && j["head_dim"] == nil { j = j.setting("attention_head_dim", .int(headDim)) } else { j = j.setting("head_dim", .int(headDim)) }
        j = j.setting("mamba_num_heads", .int(mambaNumHeads))
        j = j.setting("mamba_head_dim", .int(mambaHeadDim))
        j = j.setting("ssm_state_size", .int(ssmStateSize))
        if j["mamba_n_groups"] != nil && j["n_groups"] == nil { j = j.setting("mamba_n_groups", .int(nGroups)) } else { j = j.setting("n_groups", .int(nGroups)) }
        if j["mamba_d_conv"] != nil && j["conv_kernel"] == nil { j = j.setting("mamba_d_conv", .int(convKernel)) } else { j = j.setting("conv_kernel", .int(convKernel)) }
        j = j.setting("vocab_size", .int(vocabSize))
        if usesLayersBlockType {
            j = j.setting("layers_block_type", .array(pattern.map { .string($0.blockType) }))
        } else {
            j = j.setting("hybrid_override_pattern", .string(patternString))
        }
        if j["num_hidden_layers"] != nil || !usesLayersBlockType { j = j.setting("num_hidden_layers", .int(numLayers)) }
        return j
    }

    public static func == (a: NemotronHConfig, b: NemotronHConfig) -> Bool {
        a.pattern == b.pattern && a.hiddenSize == b.hiddenSize && a.ffnHiddenSize == b.ffnHiddenSize &&
        a.numAttentionHeads == b.numAttentionHeads && a.numKeyValueHeads == b.numKeyValueHeads && a.headDim == b.headDim &&
        a.mambaNumHeads == b.mambaNumHeads && a.mambaHeadDim == b.mambaHeadDim && a.ssmStateSize == b.ssmStateSize &&
        a.nGroups == b.nGroups && a.convKernel == b.convKernel && a.useConvBias == b.useConvBias && a.vocabSize == b.vocabSize
    }
}
