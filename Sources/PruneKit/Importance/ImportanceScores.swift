import Foundation

/// One round of iterative layer removal (pruning.md §3, paper §4.1): the layer removed this round, its
/// score (logit MSE or KL against the full model), and every candidate's score.
public struct LayerRemovalRound: Codable, Sendable, Equatable {
    /// Layer removed (checkpoint numbering, 0-based).
    public var removed: Int
    /// Its score: MSE (or KL) between the logits without it (and without earlier removals) and the full model's.
    public var score: Double
    /// Every kept layer's score this round, layer → score.
    public var all: [Int: Double]
    public init(removed: Int, score: Double, all: [Int: Double]) { self.removed = removed; self.score = score; self.all = all }
}

/// Depth importance by iterative removal.
public struct LayerRanking: Codable, Sendable, Equatable {
    /// "mse" or "kl".
    public var metric: String
    public var rounds: [LayerRemovalRound]
    /// Layer evaluations spent (each layer run on one sample counts one).
    public var layerEvaluations: Int
    /// Largest number of layer evaluations in one round, per sample (≤ |S|(|S|+1)/2).
    public var maxEvaluationsPerRound: Int
    public init(metric: String, rounds: [LayerRemovalRound], layerEvaluations: Int, maxEvaluationsPerRound: Int) {
        self.metric = metric; self.rounds = rounds; self.layerEvaluations = layerEvaluations; self.maxEvaluationsPerRound = maxEvaluationsPerRound
    }
    /// Layers in the order they were removed (least important first).
    public var removalOrder: [Int] { rounds.map(\.removed) }
}

/// Every importance score of pruning.md §2–§3 for one (checkpoint, calibration set). Layer keys are
/// checkpoint layer numbers (0-based). Width scores use the default aggregation
/// `score_c = sqrt(Σ_b (mean_s |A[b,s,c]|)²)` unless ``aggregation`` says otherwise.
public struct ImportanceScores: Sendable, Equatable {
    /// Hidden (embedding) channels [H]: Σ over layers of the channel score of each pre-norm output.
    public var hidden: [Float]
    /// FFN neurons per MLP layer [F]: channel scores of the input of `down_proj`.
    public var ffn: [Int: [Float]]
    /// Attention heads per attention layer [nq]: L2 over each head's d channel scores of the `o_proj` input.
    public var attentionHeads: [Int: [Float]]
    /// Mamba channel scores per Mamba layer [nh · P] (head-major): channel score of the x slice of `in_proj`.
    public var mambaChannels: [Int: [Float]]
    /// Mamba head-dim channels per Mamba layer [P]: L2 over heads of ``mambaChannels``.
    public var mambaHeadDim: [Int: [Float]]
    /// Mamba heads per Mamba layer [nh]: L2 over all P channels of ``mambaChannels`` (with head-dim pruning,
    /// plans recompute it over the kept channels).
    public var mambaHeads: [Int: [Float]]
    /// Block influence per layer [L]: 1 − mean_tokens cos(h_in, h_out) (ShortGPT).
    public var blockInfluence: [Float]?
    /// Iterative logit-MSE (or KL) removal order.
    public var layerRanking: LayerRanking?
    /// Aggregation used: "<sequence>/<samples>", default "mean/l2".
    public var aggregation: String

    public init(hidden: [Float], ffn: [Int: [Float]], attentionHeads: [Int: [Float]], mambaChannels: [Int: [Float]],
                mambaHeadDim: [Int: [Float]], mambaHeads: [Int: [Float]], blockInfluence: [Float]?, layerRanking: LayerRanking?,
                aggregation: String = "mean/l2") {
        self.hidden = hidden; self.ffn = ffn; self.attentionHeads = attentionHeads; self.mambaChannels = mambaChannels
        self.mambaHeadDim = mambaHeadDim; self.mambaHeads = mambaHeads; self.blockInfluence = blockInfluence
        self.layerRanking = layerRanking; self.aggregation = aggregation
    }

    /// The `prunekit score --format json` shape (issue 5): `hidden`, `ffn`, `attention_heads`, `mamba_heads`,
    /// `mamba_head_dim`, `block_influence`, `iterative_mse` (or `iterative_kl`).
    public var json: JSONValue {
        func arr(_ v: [Float]) -> JSONValue { .array(v.map { .double(Double($0)) }) }
        func map(_ m: [Int: [Float]]) -> JSONValue { .object(m.keys.sorted().map { (String($0), arr(m[$0]!)) }) }
        var o: [(String, JSONValue)] = [
            ("aggregation", .string(aggregation)),
            ("hidden", arr(hidden)), ("ffn", map(ffn)), ("attention_heads", map(attentionHeads)),
            ("mamba_heads", map(mambaHeads)), ("mamba_head_dim", map(mambaHeadDim)), ("mamba_channels", map(mambaChannels)),
            ("block_influence", blockInfluence.map(arr) ?? .null),
        ]
        if let r = layerRanking {
            o.append(("iterative_\(r.metric)", .array(r.rounds.map { round in
                .object([("removed", .int(round.removed)), (r.metric, .double(round.score)),
                         ("all", .object(round.all.keys.sorted().map { (String($0), .double(round.all[$0]!)) }))])
            })))
            o.append(("layer_evaluations", .int(r.layerEvaluations)))
            o.append(("max_layer_evaluations_per_round", .int(r.maxEvaluationsPerRound)))
        } else {
            o.append(("iterative_mse", .null))
        }
        return .object(o)
    }
}

/// Indices of the `k` largest scores, returned in ascending index order (pruning.md §4: sort by score,
/// highest first, then restore the original order). Ties break toward the lower index.
public func topK(_ scores: [Float], _ k: Int) -> [Int] {
    precondition(k >= 0 && k <= scores.count, "k out of range")
    let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    return Array(order.prefix(k)).sorted()
}

/// One serialized form: `Codable` writes the scores file's shape (``ImportanceScores/json``, snake_case, layer
/// numbers as object keys) — in the store, in report inputs and in `score --format json` alike. Decoding also
/// accepts the camelCase form an older PruneKit stored in its database.
extension ImportanceScores: Codable {
    public init(from decoder: Decoder) throws {
        let v = try JSONValue(from: decoder)
        if v["attentionHeads"] != nil {
            let legacy = try JSONDecoder().decode(LegacyForm.self, from: Data(JSONWriter(indent: nil).string(v).utf8))
            self.init(hidden: legacy.hidden, ffn: legacy.ffn, attentionHeads: legacy.attentionHeads, mambaChannels: legacy.mambaChannels,
                      mambaHeadDim: legacy.mambaHeadDim, mambaHeads: legacy.mambaHeads, blockInfluence: legacy.blockInfluence,
                      layerRanking: legacy.layerRanking, aggregation: legacy.aggregation)
            return
        }
        do { try self.init(json: v) } catch let e as ScoresFormatError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: e.description))
        }
    }

    public func encode(to encoder: Encoder) throws { try json.encode(to: encoder) }

    /// The synthesized camelCase form stored by an older PruneKit (read only).
    private struct LegacyForm: Decodable {
        var hidden: [Float]
        var ffn: [Int: [Float]]
        var attentionHeads: [Int: [Float]]
        var mambaChannels: [Int: [Float]]
        var mambaHeadDim: [Int: [Float]]
        var mambaHeads: [Int: [Float]]
        var blockInfluence: [Float]?
        var layerRanking: LayerRanking?
        var aggregation: String
    }
}
