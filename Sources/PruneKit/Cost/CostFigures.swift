import Foundation

/// Cost figures of one architecture at a study's context × batch (pruning.md §5), as the search stores them
/// with each trial (`trials.cost_json`) and the study's source (`studies.source_json`) and the leaderboard and
/// report show them. Bytes unless stated. `Codable` with snake_case keys (formats.md §7); the decoder also
/// reads the camelCase keys an older PruneKit wrote (old databases opened read-only, old report inputs).
public struct CostFigures: Codable, Sendable, Equatable {
    /// Parameters (count).
    public var parameters: Int
    /// Weights at the checkpoint's dtype, bytes.
    public var weightBytes: Int
    /// KV cache of the batch at the context length, bytes.
    public var kvBytes: Int
    /// Mamba conv + SSM state of the batch, bytes.
    public var mambaStateBytes: Int
    /// weights + KV + Mamba state, bytes.
    public var memoryBytes: Int
    /// Predicted output tokens/s per GPU at ISL/OSL (0 when nothing fits; non-finite is written as null).
    @FiniteOrNull public var outputTokensPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case parameters, weightBytes = "weight_bytes", kvBytes = "kv_bytes", mambaStateBytes = "mamba_state_bytes"
        case memoryBytes = "memory_bytes", outputTokensPerSecond = "output_tokens_per_second"
    }

    public init(parameters: Int, weightBytes: Int, kvBytes: Int, mambaStateBytes: Int, memoryBytes: Int, outputTokensPerSecond: Double) {
        self.parameters = parameters; self.weightBytes = weightBytes; self.kvBytes = kvBytes
        self.mambaStateBytes = mambaStateBytes; self.memoryBytes = memoryBytes; self.outputTokensPerSecond = outputTokensPerSecond
    }

    /// The figures of a ``CostReport``.
    public init(_ r: CostReport) {
        self.init(parameters: r.parameters, weightBytes: r.weightBytes, kvBytes: r.kvBytes,
                  mambaStateBytes: r.batch * r.mambaStateBytes, memoryBytes: r.memoryBytes,
                  outputTokensPerSecond: r.outputTokensPerSecond)
    }

    /// Reads the snake_case form or the camelCase one of an older PruneKit; a null or absent throughput reads as NaN.
    /// - Throws: `DecodingError` naming the missing or mistyped key.
    public init(from decoder: Decoder) throws {
        let c = try LenientKeyedContainer(decoder)
        self.init(parameters: try c.decode("parameters"), weightBytes: try c.decode("weight_bytes"), kvBytes: try c.decode("kv_bytes"),
                  mambaStateBytes: try c.decode("mamba_state_bytes"), memoryBytes: try c.decode("memory_bytes"),
                  outputTokensPerSecond: try c.finiteOrNull("output_tokens_per_second") ?? .nan)
    }
}
