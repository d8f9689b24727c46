import Foundation

/// One concrete pruned architecture: every size present, the layer pattern and the source layers it keeps.
/// The one shape a candidate has from the search (``Candidate``) through the store (``TrialRecord``) to the
/// export (``PruningPlan``), the leaderboard and the report. `Codable` with snake_case keys, the same names
/// as the trial columns and config.json.
public struct Architecture: Codable, Hashable, Sendable {
    public var numLayers: Int
    public var hiddenSize: Int
    public var ffnHiddenSize: Int
    public var mambaNumHeads: Int
    public var mambaHeadDim: Int
    public var numAttentionHeads: Int
    /// `hybrid_override_pattern` of the pruned model (`M` Mamba, `*` attention, `-` MLP), `numLayers` characters.
    public var pattern: String
    /// Source layers kept (checkpoint numbering, ascending), `numLayers` entries; nil only for trials stored by
    /// an older PruneKit, which recorded the layer count alone.
    public var keptLayers: [Int]?

    enum CodingKeys: String, CodingKey {
        case numLayers = "num_layers", hiddenSize = "hidden_size", ffnHiddenSize = "ffn_hidden_size"
        case mambaNumHeads = "mamba_num_heads", mambaHeadDim = "mamba_head_dim", numAttentionHeads = "num_attention_heads"
        case pattern, keptLayers = "kept_layers"
    }

    public init(numLayers: Int, hiddenSize: Int, ffnHiddenSize: Int, mambaNumHeads: Int, mambaHeadDim: Int, numAttentionHeads: Int,
                pattern: String, keptLayers: [Int]?) {
        self.numLayers = numLayers; self.hiddenSize = hiddenSize; self.ffnHiddenSize = ffnHiddenSize; self.mambaNumHeads = mambaNumHeads
        self.mambaHeadDim = mambaHeadDim; self.numAttentionHeads = numAttentionHeads; self.pattern = pattern; self.keptLayers = keptLayers
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
