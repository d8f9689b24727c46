import Foundation

/// Which channels, heads and layers a pruned model keeps, in the source's numbering (sorted ascending),
/// and the resulting architecture. This is what `pruning.json` records for distillation pipelines.
///
/// Keep-sets come from importance scores (pruning.md §2, §4): hidden channels by one global ranking; FFN
/// neurons per MLP layer; attention heads ranked within each KV group, the same number kept per group;
/// Mamba head-dim channels by one ranking shared by all heads of a layer; Mamba heads ranked within each of
/// the G groups by the L2 over their kept channels. Depth from the iterative removal order or an explicit list.
public struct PruningPlan: Sendable {
    public let source: NemotronHConfig
    public let target: NemotronHConfig
    public let architecture: TargetArchitecture
    /// Kept layers (source numbering), ascending. Target layer j is source layer keptLayers[j].
    public let keptLayers: [Int]
    /// Kept hidden channels [H'].
    public let keptHidden: [Int]
    /// Per kept MLP layer (source numbering): kept FFN neurons [F'].
    public let keptFFN: [Int: [Int]]
    /// Per kept attention layer: kept query heads [nq'].
    public let keptAttentionHeads: [Int: [Int]]
    /// Per kept Mamba layer: kept Mamba heads [nh'].
    public let keptMambaHeads: [Int: [Int]]
    /// Per kept Mamba layer: kept head-dim channels [P'] (shared by all its heads).
    public let keptMambaHeadDim: [Int: [Int]]

    /// Builds the plan for a concrete architecture (its kept layers exactly, when known).
    public init(source: NemotronHConfig, scores: ImportanceScores?, architecture: Architecture) throws {
        try self.init(source: source, scores: scores, target: architecture.target(sourceLayers: source.numLayers))
    }

    /// Builds the plan for `target` from `scores`.
    /// - Throws: ``PruneError/invalidTarget(_:)`` for targets that break the structure (Mamba heads not a
    ///   multiple of G, attention heads not a multiple of the KV heads, anything larger than the source,
    ///   unknown layers); ``PruneError/needsScores(_:)`` when a pruned dimension has no scores.
    public init(source: NemotronHConfig, scores: ImportanceScores?, target arch: TargetArchitecture) throws {
        let s = source
        func check(_ name: String, _ v: Int?, _ max: Int) throws -> Int {
            guard let v else { return max }
            guard v > 0 else { throw PruneError.invalidTarget("\(name) must be positive, got \(v)") }
            guard v <= max else { throw PruneError.invalidTarget("\(name) \(v) is larger than the source's \(max)") }
            return v
        }
        let H = try check("hidden_size", arch.hiddenSize, s.hiddenSize)
        let F = try check("intermediate_size (FFN hidden size)", arch.ffnHiddenSize, s.ffnHiddenSize)
        let nh = try check("mamba_num_heads", arch.mambaNumHeads, s.mambaNumHeads)
        let P = try check("mamba_head_dim", arch.mambaHeadDim, s.mambaHeadDim)
        let nq = try check("num_attention_heads", arch.numAttentionHeads, s.numAttentionHeads)
        guard nh % s.nGroups == 0 else {
            throw PruneError.invalidTarget("mamba_num_heads \(nh) is not a multiple of n_groups \(s.nGroups) (heads are kept per group)")
        }
        guard nq % s.numKeyValueHeads == 0 else {
            throw PruneError.invalidTarget("num_attention_heads \(nq) is not a multiple of num_key_value_heads \(s.numKeyValueHeads) (KV heads are not pruned)")
        }
        // Depth.
        var kept: [Int]
        if arch.numLayers != nil && arch.dropLayers != nil {
            throw PruneError.invalidTarget("give either a layer count or layers to drop, not both")
        }
        if let drop = arch.dropLayers {
            for l in drop where l < 0 || l >= s.numLayers {
                throw PruneError.invalidTarget("layer \(l) to drop does not exist (the source has layers 0..<\(s.numLayers))")
            }
            guard Set(drop).count == drop.count else { throw PruneError.invalidTarget("layers to drop contain duplicates: \(drop)") }
            kept = (0..<s.numLayers).filter { !drop.contains($0) }
        } else if let n = arch.numLayers, n != s.numLayers {
            let n = try check("num_layers", n, s.numLayers)
            guard let ranking = scores?.layerRanking else {
                throw PruneError.needsScores("dropping to \(n) layers needs the iterative layer ranking (run `prunekit score` with --layers iterative-mse)")
            }
            let order = ranking.removalOrder
            guard order.count >= s.numLayers - n else {
                throw PruneError.needsScores("the stored ranking removes \(order.count) layers but \(s.numLayers - n) must be dropped; score again with a larger --remove")
            }
            let drop = Set(order.prefix(s.numLayers - n))
            kept = (0..<s.numLayers).filter { !drop.contains($0) }
        } else {
            kept = Array(0..<s.numLayers)
        }
        guard !kept.isEmpty else { throw PruneError.invalidTarget("no layers left") }

        /// Scores of a dimension, checked for length (a scores file for another checkpoint must not crash `topK`).
        func need(_ v: [Float]?, _ what: String, count n: Int) throws -> [Float] {
            guard let v else { throw PruneError.needsScores(what) }
            guard v.count == n else { throw PruneError.needsScores("\(what) have \(v.count) entries, expected \(n) (scores of another checkpoint?)") }
            return v
        }
        // Width.
        let keptHidden = H == s.hiddenSize ? Array(0..<H) : topK(try need(scores?.hidden, "hidden channel scores", count: s.hiddenSize), H)
        var ffn = [Int: [Int]](), attn = [Int: [Int]](), mHeads = [Int: [Int]](), mDim = [Int: [Int]]()
        for l in kept {
            switch s.pattern[l] {
            case .mlp:
                ffn[l] = F == s.ffnHiddenSize ? Array(0..<F) : topK(try need(scores?.ffn[l], "FFN scores of layer \(l)", count: s.ffnHiddenSize), F)
            case .attention:
                if nq == s.numAttentionHeads { attn[l] = Array(0..<nq); continue }
                let sc = try need(scores?.attentionHeads[l], "attention head scores of layer \(l)", count: s.numAttentionHeads)
                let rep = s.numAttentionHeads / s.numKeyValueHeads, keepPer = nq / s.numKeyValueHeads
                var heads = [Int]()
                for g in 0..<s.numKeyValueHeads {
                    let within = Array(sc[(g * rep)..<((g + 1) * rep)])
                    heads += topK(within, keepPer).map { g * rep + $0 }
                }
                attn[l] = heads
            case .mamba:
                let sP = s.mambaHeadDim, snh = s.mambaNumHeads
                let dims = P == sP ? Array(0..<P) : topK(try need(scores?.mambaHeadDim[l], "Mamba head-dim scores of layer \(l)", count: sP), P)
                mDim[l] = dims
                if nh == snh { mHeads[l] = Array(0..<nh); continue }
                // Head score: L2 over its kept channels. With every channel kept that is the stored head score,
                // so scores files without per-channel scores (`prunekit score --format json`) still work.
                let headScore: [Float]
                if let ch = try scores?.mambaChannels[l].map({ try need($0, "Mamba channel scores of layer \(l)", count: snh * sP) }) {
                    headScore = (0..<snh).map { h in dims.reduce(Float(0)) { $0 + ch[h * sP + $1] * ch[h * sP + $1] }.squareRoot() }
                } else if P == sP, let hs = scores?.mambaHeads[l] {
                    headScore = hs
                } else {
                    throw PruneError.needsScores("Mamba channel scores (nh × P) of layer \(l): pruning heads and head-dim together ranks heads over the kept channels only")
                }
                guard headScore.count == snh else {
                    throw PruneError.needsScores("Mamba head scores of layer \(l) have \(headScore.count) entries, expected \(snh)")
                }
                let per = snh / s.nGroups, keepPer = nh / s.nGroups
                var heads = [Int]()
                for g in 0..<s.nGroups {
                    heads += topK(Array(headScore[(g * per)..<((g + 1) * per)]), keepPer).map { g * per + $0 }
                }
                mHeads[l] = heads
            }
        }
        var t = source
        t.pattern = kept.map { s.pattern[$0] }
        t.hiddenSize = H; t.ffnHiddenSize = F; t.numAttentionHeads = nq; t.mambaNumHeads = nh; t.mambaHeadDim = P
        t.raw = t.updatedJSON()
        self.source = source; self.target = t; self.architecture = arch
        self.keptLayers = kept; self.keptHidden = keptHidden; self.keptFFN = ffn
        self.keptAttentionHeads = attn; self.keptMambaHeads = mHeads; self.keptMambaHeadDim = mDim
    }

    /// A plan with random keep-sets of the same sizes (seeded): the baseline that importance must beat.
    /// - Parameter layerRanking: when given, depth follows it (the same layers are dropped as with importance
    ///   scores, so the baseline has exactly the same architecture and parameter count); otherwise the layer
    ///   order is random too.
    public static func random(source: NemotronHConfig, target: TargetArchitecture, seed: UInt64,
                              layerRanking: LayerRanking? = nil) throws -> PruningPlan {
        var rng = SplitMix64(seed: seed)
        func r(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.uniform()) } }
        var ffn = [Int: [Float]](), attn = [Int: [Float]](), ch = [Int: [Float]](), hd = [Int: [Float]](), mh = [Int: [Float]]()
        for (l, k) in source.pattern.enumerated() {
            switch k {
            case .mlp: ffn[l] = r(source.ffnHiddenSize)
            case .attention: attn[l] = r(source.numAttentionHeads)
            case .mamba: ch[l] = r(source.mambaNumHeads * source.mambaHeadDim); hd[l] = r(source.mambaHeadDim); mh[l] = r(source.mambaNumHeads)
            }
        }
        let order = Array(0..<source.numLayers).shuffled(using: &rng)
        let ranking = layerRanking ?? LayerRanking(metric: "random", rounds: order.map { LayerRemovalRound(removed: $0, score: 0, all: [:]) },
                                   layerEvaluations: 0, maxEvaluationsPerRound: 0)
        let scores = ImportanceScores(hidden: r(source.hiddenSize), ffn: ffn, attentionHeads: attn, mambaChannels: ch,
                                      mambaHeadDim: hd, mambaHeads: mh, blockInfluence: nil, layerRanking: ranking, aggregation: "random")
        return try PruningPlan(source: source, scores: scores, target: target)
    }
}
