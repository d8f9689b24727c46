import Foundation

// The JSON form of a scoring job's spec and options (stored in `scoring_jobs.spec_json`, shown by
// `prunekit jobs --format json`): snake_case keys (formats.md §7). The decoders also read the camelCase keys
// that jobs of an older PruneKit stored.

extension ScoreOptions {
    enum JSONKeys: String, CodingKey {
        case layers, metric, remove, sequenceAggregation = "sequence_aggregation", sampleAggregation = "sample_aggregation", dtFloor = "dt_floor"
    }

    /// `{"layers", "metric", "remove", "sequence_aggregation", "sample_aggregation", "dt_floor"}` (`remove` omitted when nil).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: JSONKeys.self)
        try c.encode(layers, forKey: .layers); try c.encode(metric, forKey: .metric); try c.encodeIfPresent(remove, forKey: .remove)
        try c.encode(sequenceAggregation, forKey: .sequenceAggregation); try c.encode(sampleAggregation, forKey: .sampleAggregation)
        try c.encode(dtFloor, forKey: .dtFloor)
    }

    /// Reads the snake_case form or the camelCase one of an older PruneKit.
    /// - Throws: `DecodingError` naming the missing or mistyped key.
    public init(from decoder: Decoder) throws {
        let c = try LenientKeyedContainer(decoder)
        self.init()
        layers = try c.decode("layers"); metric = try c.decode("metric"); remove = try c.decodeIfPresent("remove")
        sequenceAggregation = try c.decode("sequence_aggregation"); sampleAggregation = try c.decode("sample_aggregation")
        dtFloor = try c.decode("dt_floor")
    }
}

extension ScoringJobSpec {
    enum JSONKeys: String, CodingKey {
        case checkpoint, calibration, options, numLayers = "num_layers", sampleCount = "sample_count", unitSamples = "unit_samples"
        case unitCandidates = "unit_candidates", sampleTokens = "sample_tokens"
    }

    /// `{"checkpoint", "calibration", "options", "num_layers", "sample_count", "unit_samples", "unit_candidates",
    /// "sample_tokens"}` (`sample_tokens`, tokens per calibration sample, omitted when nil).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: JSONKeys.self)
        try c.encode(checkpoint, forKey: .checkpoint); try c.encode(calibration, forKey: .calibration); try c.encode(options, forKey: .options)
        try c.encode(numLayers, forKey: .numLayers); try c.encode(sampleCount, forKey: .sampleCount); try c.encode(unitSamples, forKey: .unitSamples)
        try c.encode(unitCandidates, forKey: .unitCandidates); try c.encodeIfPresent(sampleTokens, forKey: .sampleTokens)
    }

    /// Reads the snake_case form or the camelCase one of an older PruneKit.
    /// - Throws: `DecodingError` naming the missing or mistyped key.
    public init(from decoder: Decoder) throws {
        let c = try LenientKeyedContainer(decoder)
        self.init(checkpoint: try c.decode("checkpoint"), calibration: try c.decode("calibration"), options: try c.decode("options"),
                  numLayers: try c.decode("num_layers"), sampleCount: try c.decode("sample_count"))
        // Stored as written (the initializer clamps; a stored spec is already valid).
        unitSamples = try c.decode("unit_samples"); unitCandidates = try c.decode("unit_candidates")
        sampleTokens = try c.decodeIfPresent("sample_tokens")
    }
}
