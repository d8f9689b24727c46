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
    /// Largest batch that fits the budget at ISL+OSL (0 if the weights alone do not fit).
    public var maxBatch: Int
    /// Prefill time of `maxBatch` prompts, seconds (nil when `maxBatch` is 0).
    public var prefillSeconds: Double?
    /// Decode time of OSL steps at `maxBatch`, seconds (nil when `maxBatch` is 0).
    public var decodeSeconds: Double?
    /// maxBatch × OSL / (prefill + decode): predicted output tokens/s per GPU (0 when nothing fits).
    public var outputTokensPerSecond: Double

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
                decodeSeconds: Double?, outputTokensPerSecond: Double) {
        self.hardware = hardware; self.workload = workload; self.weightDType = weightDType; self.kvCacheDType = kvCacheDType
        self.ssmCacheDType = ssmCacheDType; self.context = context; self.batch = batch; self.parameters = parameters
        self.weightBytes = weightBytes; self.kvBytesPerToken = kvBytesPerToken; self.convStateBytes = convStateBytes
        self.ssmStateBytes = ssmStateBytes; self.memoryBytes = memoryBytes; self.budgetBytes = budgetBytes
        self.maxBatch = maxBatch; self.prefillSeconds = prefillSeconds; self.decodeSeconds = decodeSeconds
        self.outputTokensPerSecond = outputTokensPerSecond
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
                ("max_batch", .int(maxBatch)),
                ("prefill_seconds", opt(prefillSeconds)), ("decode_seconds", opt(decodeSeconds)),
                ("output_tokens_per_second", .double(outputTokensPerSecond)),
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
            ("largest batch at ISL+OSL", "\(maxBatch)"),
        ]
        if let p = prefillSeconds, let d = decodeSeconds {
            rows += [("prefill (batch \(maxBatch))", String(format: "%.2f s", p)),
                     ("decode (batch \(maxBatch))", String(format: "%.2f s", d)),
                     ("output tokens/s per GPU", String(format: "%.2f", outputTokensPerSecond))]
        } else {
            rows.append(("output tokens/s per GPU", "0 (the weights do not fit the budget)"))
        }
        let w = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}
