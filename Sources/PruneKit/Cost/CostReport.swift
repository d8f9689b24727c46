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

    /// The report as `cost --format json` writes it (``Output``).
    public var output: Output {
        Output(hardware: hardware,
               dtype: .init(weights: weightDType.rawValue, kvCache: kvCacheDType.rawValue, ssmCache: ssmCacheDType.rawValue),
               parameters: parameters, weightBytes: weightBytes, kvBytesPerToken: kvBytesPerToken, convStateBytes: convStateBytes,
               ssmStateBytes: ssmStateBytes, mambaStateBytes: mambaStateBytes,
               memory: .init(context: context, batch: batch, kvBytes: kvBytes, memoryBytes: memoryBytes, memoryGiB: GiB.of(memoryBytes),
                             budgetBytes: budgetBytes, budgetGiB: GiB.of(budgetBytes), fits: fits, slackBytes: slackBytes, slackGiB: GiB.of(slackBytes)),
               throughput: .init(inputLength: workload.inputLength, outputLength: workload.outputLength, numPrompts: serving.numPrompts,
                                 gpuMemoryUtilization: serving.gpuMemoryUtilization, kvPoolBytes: kvPoolBytes, kvPoolGiB: GiB.of(kvPoolBytes),
                                 maxBatch: maxBatch, prefillSeconds: prefillSeconds, decodeSeconds: decodeSeconds,
                                 outputTokensPerSecond: outputTokensPerSecond, computeEfficiency: throughputParameters.computeEfficiency,
                                 bandwidthEfficiency: throughputParameters.bandwidthEfficiency,
                                 stepOverheadMs: throughputParameters.stepOverheadSeconds * 1e3, calibrated: calibrated, basis: throughputBasis))
    }

    /// `cost --format json` (formats.md §5): exact byte counts plus GiB figures for reading; snake_case keys,
    /// non-finite numbers as `null` (``PruneKitJSON``).
    public struct Output: Codable, Sendable, Equatable {
        public struct DTypes: Codable, Sendable, Equatable {
            public var weights: String
            public var kvCache: String
            public var ssmCache: String
            enum CodingKeys: String, CodingKey { case weights, kvCache = "kv_cache", ssmCache = "ssm_cache" }
        }
        /// Memory at `context` tokens × `batch` sequences against the budget, bytes (and GiB).
        public struct Memory: Codable, Sendable, Equatable {
            public var context: Int
            public var batch: Int
            public var kvBytes: Int
            public var memoryBytes: Int
            @FiniteOrNull public var memoryGiB: Double
            public var budgetBytes: Int
            @FiniteOrNull public var budgetGiB: Double
            public var fits: Bool
            public var slackBytes: Int
            @FiniteOrNull public var slackGiB: Double
            enum CodingKeys: String, CodingKey {
                case context, batch, kvBytes = "kv_bytes", memoryBytes = "memory_bytes", memoryGiB = "memory_gib", budgetBytes = "budget_bytes"
                case budgetGiB = "budget_gib", fits, slackBytes = "slack_bytes", slackGiB = "slack_gib"
            }
        }
        /// The throughput prediction at the workload's ISL/OSL.
        public struct Throughput: Codable, Sendable, Equatable {
            public var inputLength: Int
            public var outputLength: Int
            public var numPrompts: Int?
            @FiniteOrNull public var gpuMemoryUtilization: Double
            public var kvPoolBytes: Int
            @FiniteOrNull public var kvPoolGiB: Double
            public var maxBatch: Int
            @FiniteOrNull public var prefillSeconds: Double?
            @FiniteOrNull public var decodeSeconds: Double?
            @FiniteOrNull public var outputTokensPerSecond: Double
            @FiniteOrNull public var computeEfficiency: Double
            @FiniteOrNull public var bandwidthEfficiency: Double
            @FiniteOrNull public var stepOverheadMs: Double
            public var calibrated: Bool
            public var basis: String
            enum CodingKeys: String, CodingKey {
                case inputLength = "input_length", outputLength = "output_length", numPrompts = "num_prompts"
                case gpuMemoryUtilization = "gpu_memory_utilization", kvPoolBytes = "kv_pool_bytes", kvPoolGiB = "kv_pool_gib"
                case maxBatch = "max_batch", prefillSeconds = "prefill_seconds", decodeSeconds = "decode_seconds"
                case outputTokensPerSecond = "output_tokens_per_second", computeEfficiency = "compute_efficiency"
                case bandwidthEfficiency = "bandwidth_efficiency", stepOverheadMs = "step_overhead_ms", calibrated, basis
            }
            /// Nil optionals are written as `null` (every key present).
            public func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(inputLength, forKey: .inputLength); try c.encode(outputLength, forKey: .outputLength)
                try c.encode(numPrompts, forKey: .numPrompts); try c.encode(_gpuMemoryUtilization, forKey: .gpuMemoryUtilization)
                try c.encode(kvPoolBytes, forKey: .kvPoolBytes); try c.encode(_kvPoolGiB, forKey: .kvPoolGiB); try c.encode(maxBatch, forKey: .maxBatch)
                try c.encode(_prefillSeconds, forKey: .prefillSeconds); try c.encode(_decodeSeconds, forKey: .decodeSeconds)
                try c.encode(_outputTokensPerSecond, forKey: .outputTokensPerSecond); try c.encode(_computeEfficiency, forKey: .computeEfficiency)
                try c.encode(_bandwidthEfficiency, forKey: .bandwidthEfficiency); try c.encode(_stepOverheadMs, forKey: .stepOverheadMs)
                try c.encode(calibrated, forKey: .calibrated); try c.encode(basis, forKey: .basis)
            }
        }
        public var hardware: String
        public var dtype: DTypes
        public var parameters: Int
        public var weightBytes: Int
        public var kvBytesPerToken: Int
        public var convStateBytes: Int
        public var ssmStateBytes: Int
        public var mambaStateBytes: Int
        public var memory: Memory
        public var throughput: Throughput
        enum CodingKeys: String, CodingKey {
            case hardware, dtype, parameters, weightBytes = "weight_bytes", kvBytesPerToken = "kv_bytes_per_token"
            case convStateBytes = "conv_state_bytes", ssmStateBytes = "ssm_state_bytes", mambaStateBytes = "mamba_state_bytes", memory, throughput
        }
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
