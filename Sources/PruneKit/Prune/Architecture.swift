import Foundation

/// One concrete architecture of a Nemotron-H model (a study's source or a pruned candidate): every size
/// present, the layer pattern and the source layers it keeps. The one shape a model's architecture has from
/// the search (``Candidate``, ``SourceSummary``) through the store (``TrialRecord``, `studies.source_json`) to
/// the export (``PruningPlan``), the leaderboard and the report (``ReportInput``). `Codable` with snake_case
/// keys, the same names as the trial columns and config.json; the decoder also reads the camelCase keys that
/// an older PruneKit wrote for a study's source (its former report summary shape).
public struct Architecture: Codable, Hashable, Sendable {
    /// Layers (= `pattern.count`).
    public var numLayers: Int
    public var hiddenSize: Int
    public var ffnHiddenSize: Int
    public var mambaNumHeads: Int
    public var mambaHeadDim: Int
    public var numAttentionHeads: Int
    /// Attention KV heads. Never pruned, so a candidate has its source's; recorded for a study's source
    /// model (``init(_:)``) and nil for candidates and trials (their source's value applies).
    public var numKeyValueHeads: Int?
    /// `hybrid_override_pattern` of the model (`M` Mamba, `*` attention, `-` MLP), `numLayers` characters.
    public var pattern: String
    /// Source layers kept (checkpoint numbering, ascending), `numLayers` entries (every layer for a source
    /// model); nil only for trials stored by an older PruneKit, which recorded the layer count alone.
    public var keptLayers: [Int]?

    enum CodingKeys: String, CodingKey {
        case numLayers = "num_layers", hiddenSize = "hidden_size", ffnHiddenSize = "ffn_hidden_size"
        case mambaNumHeads = "mamba_num_heads", mambaHeadDim = "mamba_head_dim", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads", pattern, keptLayers = "kept_layers"
    }

    public init(numLayers: Int, hiddenSize: Int, ffnHiddenSize: Int, mambaNumHeads: Int, mambaHeadDim: Int, numAttentionHeads: Int,
                numKeyValueHeads: Int? = nil, pattern: String, keptLayers: [Int]?) {
        self.numLayers = numLayers; self.hiddenSize = hiddenSize; self.ffnHiddenSize = ffnHiddenSize; self.mambaNumHeads = mambaNumHeads
        self.mambaHeadDim = mambaHeadDim; self.numAttentionHeads = numAttentionHeads; self.numKeyValueHeads = numKeyValueHeads
        self.pattern = pattern; self.keptLayers = keptLayers
    }

    /// The architecture of a whole model (a study's source): its config's sizes, KV heads, pattern, every layer kept.
    public init(_ c: NemotronHConfig) {
        self.init(numLayers: c.numLayers, hiddenSize: c.hiddenSize, ffnHiddenSize: c.ffnHiddenSize, mambaNumHeads: c.mambaNumHeads,
                  mambaHeadDim: c.mambaHeadDim, numAttentionHeads: c.numAttentionHeads, numKeyValueHeads: c.numKeyValueHeads,
                  pattern: c.patternString, keptLayers: Array(0..<c.numLayers))
    }

    /// Reads the snake_case form, or the camelCase one of an older PruneKit (without `num_layers`, which is
    /// then the pattern's length). `num_key_value_heads` and `kept_layers` may be absent.
    /// - Throws: `DecodingError` naming the missing or mistyped key.
    public init(from decoder: Decoder) throws {
        let c = try LenientKeyedContainer(decoder)
        let pattern = try c.decode("pattern", as: String.self)
        self.init(numLayers: try c.decodeIfPresent("num_layers", as: Int.self) ?? pattern.count, hiddenSize: try c.decode("hidden_size"),
                  ffnHiddenSize: try c.decode("ffn_hidden_size"), mambaNumHeads: try c.decode("mamba_num_heads"),
                  mambaHeadDim: try c.decode("mamba_head_dim"), numAttentionHeads: try c.decode("num_attention_heads"),
                  numKeyValueHeads: try c.decodeIfPresent("num_key_value_heads"), pattern: pattern,
                  keptLayers: try c.decodeIfPresent("kept_layers"))
    }

    /// The architecture `target` makes of `source`: sizes not given keep the source's; depth from
    /// `target.dropLayers`, or the first L − `numLayers` layers of `removalOrder` (least important first,
    /// pruning.md §3). Widths of a layer kind the pattern no longer has keep the source's value, so equal
    /// models are one architecture.
    /// - Throws: ``PruneError/invalidTarget(_:)`` when the depth cannot be resolved (unknown or duplicate
    ///   layers, a removal order shorter than the layers to remove, both a count and a drop list).
    public init(source s: NemotronHConfig, target t: TargetArchitecture, removalOrder: [Int]) throws {
        let kept = try Self.keptLayers(source: s, target: t, removalOrder: removalOrder)
        let kinds = Set(kept.map { s.pattern[$0] })
        self.init(numLayers: kept.count, hiddenSize: t.hiddenSize ?? s.hiddenSize,
                  ffnHiddenSize: kinds.contains(.mlp) ? t.ffnHiddenSize ?? s.ffnHiddenSize : s.ffnHiddenSize,
                  mambaNumHeads: kinds.contains(.mamba) ? t.mambaNumHeads ?? s.mambaNumHeads : s.mambaNumHeads,
                  mambaHeadDim: kinds.contains(.mamba) ? t.mambaHeadDim ?? s.mambaHeadDim : s.mambaHeadDim,
                  numAttentionHeads: kinds.contains(.attention) ? t.numAttentionHeads ?? s.numAttentionHeads : s.numAttentionHeads,
                  pattern: String(kept.map { s.pattern[$0].rawValue }), keptLayers: kept)
    }

    /// Kept source layers for a target: `dropLayers` removed, or the first L − `numLayers` of `removalOrder`.
    static func keptLayers(source s: NemotronHConfig, target t: TargetArchitecture, removalOrder: [Int]) throws -> [Int] {
        if t.numLayers != nil && t.dropLayers != nil { throw PruneError.invalidTarget("give either a layer count or layers to drop, not both") }
        if let drop = t.dropLayers {
            for l in drop where l < 0 || l >= s.numLayers {
                throw PruneError.invalidTarget("layer \(l) to drop does not exist (the source has layers 0..<\(s.numLayers))")
            }
            guard Set(drop).count == drop.count else { throw PruneError.invalidTarget("layers to drop contain duplicates: \(drop)") }
            guard drop.count < s.numLayers else { throw PruneError.invalidTarget("cannot drop every layer") }
            return (0..<s.numLayers).filter { !drop.contains($0) }
        }
        let n = t.numLayers ?? s.numLayers
        guard n > 0 else { throw PruneError.invalidTarget("num_layers must be positive, got \(n)") }
        guard n <= s.numLayers else { throw PruneError.invalidTarget("num_layers \(n) is larger than the source's \(s.numLayers)") }
        let remove = s.numLayers - n
        guard removalOrder.count >= remove else {
            throw PruneError.needsScores("num_layers \(n) needs \(remove) layers removed but the layer ranking has \(removalOrder.count)")
        }
        let d = Set(removalOrder.prefix(remove))
        return (0..<s.numLayers).filter { !d.contains($0) }
    }

    /// The target that reproduces this architecture exactly from a source of `sourceLayers` layers: the layers
    /// not kept as an explicit drop list (the layer count for architectures stored without kept layers) and
    /// every width.
    public func target(sourceLayers: Int) -> TargetArchitecture {
        let drop = keptLayers.map { k in let kept = Set(k); return (0..<sourceLayers).filter { !kept.contains($0) } }
        return TargetArchitecture(numLayers: drop == nil ? numLayers : nil, dropLayers: drop, hiddenSize: hiddenSize, ffnHiddenSize: ffnHiddenSize,
                                  mambaNumHeads: mambaNumHeads, mambaHeadDim: mambaHeadDim, numAttentionHeads: numAttentionHeads)
    }

    /// The identity of a candidate in a study: the sizes as a ``TargetArchitecture`` with a layer count
    /// (the layers dropped follow from the study's one ranking).
    public var candidateTarget: TargetArchitecture {
        TargetArchitecture(numLayers: numLayers, hiddenSize: hiddenSize, ffnHiddenSize: ffnHiddenSize, mambaNumHeads: mambaNumHeads,
                           mambaHeadDim: mambaHeadDim, numAttentionHeads: numAttentionHeads)
    }

    /// Hex SHA-256 of the candidate target's canonical JSON: unique per study (`arch_hash`).
    public var hash: String { candidateTarget.hash }

    /// The pruned config: the source with these sizes and pattern.
    public func config(source: NemotronHConfig) -> NemotronHConfig {
        var c = source
        c.pattern = pattern.compactMap { LayerKind(rawValue: $0) }
        c.hiddenSize = hiddenSize; c.ffnHiddenSize = ffnHiddenSize; c.mambaNumHeads = mambaNumHeads
        c.mambaHeadDim = mambaHeadDim; c.numAttentionHeads = numAttentionHeads
        return c
    }
}
