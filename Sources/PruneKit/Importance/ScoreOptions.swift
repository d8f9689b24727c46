/// What `prunekit score` computes (pruning.md §2–§3).
public struct ScoreOptions: Sendable, Hashable, Codable {
    /// Depth scoring: the paper's iterative logit MSE (§4.1), block influence only, or none.
    public enum LayerMethod: String, Sendable, CaseIterable, Codable { case iterativeMSE = "iterative-mse", blockInfluence = "block-influence", none }
    /// Distance to the full model's logits in the iterative ranking.
    public enum Metric: String, Sendable, CaseIterable, Codable { case mse, kl }
    /// Aggregation over the sequence of |A| (default mean) and over samples (default L2).
    public enum SequenceAggregation: String, Sendable, CaseIterable, Codable { case mean, l2, max }
    public enum SampleAggregation: String, Sendable, CaseIterable, Codable { case l2, mean }

    public var layers: LayerMethod = .iterativeMSE
    public var metric: Metric = .mse
    /// Layers removed by the iterative ranking (nil: all but one, a complete order).
    public var remove: Int?
    public var sequenceAggregation: SequenceAggregation = .mean
    public var sampleAggregation: SampleAggregation = .l2
    /// transformers' dt floor (part of the key: scores differ with it).
    public var dtFloor = true

    public init() {}

    /// Identifies the options in the score store.
    public var key: String {
        "layers=\(layers.rawValue);metric=\(metric.rawValue);remove=\(remove.map(String.init) ?? "all");agg=\(sequenceAggregation.rawValue)/\(sampleAggregation.rawValue);dtfloor=\(dtFloor)"
    }
}
