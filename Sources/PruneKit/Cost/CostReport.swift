import Foundation

/// What ``CostModel/evaluate(_:context:batch:)`` predicts for one architecture (pruning.md §5). Sizes in bytes.
public struct CostReport: Sendable, Equatable {
    /// Hardware profile name.
    public var hardware: String
    public var workload: Workload
    public var weightDType: CostDType
    public var kvCacheDType: CostDType
    public var ssmCacheDType: CostDType
    /// Context length the memory figure is for, tokens.
    public var context: Int
    /// Batch the memory figure is for, sequences.
    public var batch: Int
    /// Parameters, from the exact formula (nemotron-h.md §4).
    public var parameters: Int
    /// params × bytes per element.
    public var weightBytes: Int
    /// KV cache per token of one sequence over all attention layers.
    public var kvBytesPerToken: Int
    /// Mamba conv state of one sequence.
    public var convStateBytes: Int
    /// Mamba SSM state of one sequence.
    public var ssmStateBytes: Int
    /// Weights + batch × (KV at `context` + Mamba state).
    public var memoryBytes: Int
    /// gpu_memory × (1 − framework_fraction) − reserved.
    public var budgetBytes: Int
    /// Concurrent sequences of the serving model at ISL+OSL: min(prompts, max_num_seqs, what fits the KV pool)
    /// (0 if not one sequence fits).
    public var maxBatch: Int
    /// Prefill time of the workload's waves, seconds (nil when `maxBatch` is 0).
    public var prefillSeconds: Double?
    /// Decode time of the workload's waves, seconds (nil when `maxBatch` is 0).
    public var decodeSeconds: Double?
    /// Predicted output tokens/s per GPU (0 when nothing fits).
    public var outputTokensPerSecond: Double
    /// vLLM's KV-cache pool: ⌊u × gpu_memory⌋ − weights − runtime overhead (negative when the weights do not fit).
    public var kvPoolBytes: Int
    /// Serving settings and throughput parameters the prediction used.
    public var serving: ServingSettings
    public var throughputParameters: ThroughputParameters
    /// Where the throughput figures come from (calibrated profile and its error, or defaults); see ``CostModel/throughputBasis``.
    public var throughputBasis: String
    /// Whether the throughput parameters come from a calibrated profile.
    public var calibrated: Bool

    /// Conv + SSM state of one sequence.
    public var mambaStateBytes: Int { convStateBytes + ssmStateBytes }
    /// KV cache of the whole batch at `context`.
    /// (Saturates at `Int.max`, like ``memoryBytes``.)
    public var kvBytes: Int { satMul(batch, satMul(kvBytesPerToken, context)) }
    /// Whether `memoryBytes ≤ budgetBytes`.
    public var fits: Bool { memoryBytes <= budgetBytes }
    /// budget − memory (negative when it does not fit).
    public var slackBytes: Int { budgetBytes - memoryBytes }

    public init(hardware: String, workload: Workload, weightDType: CostDType, kvCacheDType: CostDType, ssmCacheDType: CostDType,
                context: Int, batch: Int, parameters: Int, weightBytes: Int, kvBytesPerToken: Int, convStateBytes: Int,
                ssmStateBytes: Int, memoryBytes: Int, budgetBytes: Int, maxBatch: Int, prefillSeconds: Double?,
                decodeSeconds: Double?, outputTokensPerSecond: Double, kvPoolBytes: Int = 0,
                serving: ServingSettings = ServingSettings(), throughputParameters: ThroughputParameters = ThroughputParameters(),
                throughputBasis: String = "", calibrated: Bool = false) {
        self.hardware = hardware; self.workload = workload; self.weightDType = weightDType; self.kvCacheDType = kvCacheDType
        self.ssmCacheDType = ssmCacheDType; self.context = context; self.batch = batch; self.parameters = parameters
        self.weightBytes = weightBytes; self.kvBytesPerToken = kvBytesPerToken; self.convStateBytes = convStateBytes
        self.ssmStateBytes = ssmStateBytes; self.memoryBytes = memoryBytes; self.budgetBytes = budgetBytes
        self.maxBatch = maxBatch; self.prefillSeconds = prefillSeconds; self.decodeSeconds = decodeSeconds
        self.outputTokensPerSecond = outputTokensPerSecond; self.kvPoolBytes = kvPoolBytes; self.serving = serving
        self.throughputParameters = throughputParameters; self.throughputBasis = throughputBasis; self.calibrated = calibrated
    }

    /// The report as JSON: exact byte counts plus GiB figures for reading.
    public var json: JSONValue {
        func opt(_ d: Double?) -> JSONValue { d.map { .double($0) } ?? .null }
        return .object([
            ("hardware", .string(hardware)),
            ("dtype", .object([("weights", .string(weightDType.rawValue)), ("kv_cache", .string(kvCacheDType.rawValue)),
                               ("ssm_cache", .string(ssmCacheDType.rawValue))])),
            ("parameters", .int(parameters)),
            ("weight_bytes", .int(weightBytes)),
            ("kv_bytes_per_token", .int(kvBytesPerToken)),
            ("conv_state_bytes", .int(convStateBytes)),
            ("ssm_state_bytes", .int(ssmStateBytes)),
            ("mamba_state_bytes", .int(mambaStateBytes)),
            ("memory", .object([
                ("context", .int(context)), ("batch", .int(batch)),
                ("kv_bytes", .int(kvBytes)),
                ("memory_bytes", .int(memoryBytes)), ("memory_gib", .double(GiB.of(memoryBytes))),
                ("budget_bytes", .int(budgetBytes)), ("budget_gib", .double(GiB.of(budgetBytes))),
                ("fits", .bool(fits)), ("slack_bytes", .int(slackBytes)), ("slack_gib", .double(GiB.of(slackBytes))),
            ])),
            ("throughput", .object([
                ("input_length", .int(workload.inputLength)), ("output_length", .int(workload.outputLength)),
                ("num_prompts", serving.numPrompts.map { .int($0) } ?? .null),
                ("gpu_memory_utilization", .double(serving.gpuMemoryUtilization)),
                ("kv_pool_bytes", .int(kvPoolBytes)), ("kv_pool_gib", .double(GiB.of(kvPoolBytes))),
                ("max_batch", .int(maxBatch)),
                ("prefill_seconds", opt(prefillSeconds)), ("decode_seconds", opt(decodeSeconds)),
                ("output_tokens_per_second", .double(outputTokensPerSecond)),
                ("compute_efficiency", .double(throughputParameters.computeEfficiency)),
                ("bandwidth_efficiency", .double(throughputParameters.bandwidthEfficiency)),
                ("step_overhead_ms", .double(throughputParameters.stepOverheadSeconds * 1e3)),
                ("calibrated", .bool(calibrated)), ("basis", .string(throughputBasis)),
            ])),
        ])
    }

    /// A human-readable table.
    public var table: String {
        func g(_ b: Int) -> String { byteString(b) }
        func n(_ v: Int) -> String {
            let s = String(v.magnitude); var out = ""
            for (i, c) in s.enumerated() { if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }; out.append(c) }
            return (v < 0 ? "-" : "") + out
        }
        var rows: [(String, String)] = [
            ("hardware", hardware),
            ("parameters", n(parameters)),
            ("weights (\(weightDType.rawValue))", "\(g(weightBytes))  (\(n(weightBytes)) bytes)"),
            ("KV cache per token (\(kvCacheDType.rawValue))", "\(n(kvBytesPerToken)) bytes"),
            ("Mamba conv state / sequence", "\(n(convStateBytes)) bytes"),
            ("Mamba SSM state / sequence (\(ssmCacheDType.rawValue))", "\(n(ssmStateBytes)) bytes"),
            ("memory at \(n(context)) tokens × batch \(batch)", "\(g(memoryBytes))  (KV \(g(kvBytes)), Mamba state \(g(satMul(batch, mambaStateBytes))))"),
            ("budget", g(budgetBytes)),
            ("fits", fits ? "yes (slack \(g(slackBytes)))" : "NO (short by \(g(-slackBytes)))"),
            ("workload ISL / OSL", "\(n(workload.inputLength)) / \(n(workload.outputLength)) tokens"),
            ("KV pool at utilisation \(serving.gpuMemoryUtilization)", g(kvPoolBytes)),
            ("concurrent sequences at ISL+OSL", "\(maxBatch)"),
        ]
        let what = serving.numPrompts.map { "\(n($0)) prompts" } ?? "one wave"
        if let p = prefillSeconds, let d = decodeSeconds {
            rows += [("prefill (\(what))", String(format: "%.2f s", p)),
                     ("decode (\(what))", String(format: "%.2f s", d)),
                     ("output tokens/s per GPU", String(format: "%.2f", outputTokensPerSecond))]
        } else {
            rows.append(("output tokens/s per GPU", "0 (not one sequence fits the KV pool at ISL+OSL)"))
        }
        rows.append(("throughput figures", throughputBasis))
        let w = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}
