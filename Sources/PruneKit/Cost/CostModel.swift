import Foundation

/// Element types the cost model sizes weights and caches with.
public enum CostDType: String, CaseIterable, Sendable {
    case float32, bfloat16, float16, float8
    /// Bytes per element.
    public var bytes: Int {
        switch self { case .float32: return 4; case .bfloat16, .float16: return 2; case .float8: return 1 }
    }
    /// Reads the usual spellings: `bf16`/`bfloat16`, `fp16`/`float16`/`half`, `fp32`/`float32`/`float`, `fp8`/`float8`
    /// (also `torch.`-prefixed and safetensors names such as `BF16`, `F32`).
    public init?(name: String) {
        var s = name.lowercased()
        if s.hasPrefix("torch.") { s.removeFirst(6) }
        switch s {
        case "float32", "fp32", "f32", "float": self = .float32
        case "bfloat16", "bf16": self = .bfloat16
        case "float16", "fp16", "f16", "half": self = .float16
        case "float8", "fp8", "f8_e4m3", "f8_e5m2", "float8_e4m3fn", "float8_e5m2", "fp8_e4m3", "fp8_e5m2": self = .float8
        default: return nil
        }
    }
    /// Like ``init(name:)`` but throws ``CostError/unknownDType(_:)``.
    public static func parse(_ name: String) throws -> CostDType {
        guard let d = CostDType(name: name) else { throw CostError.unknownDType(name) }
        return d
    }
}

/// A serving workload: every request has `inputLength` prompt tokens (ISL) and generates `outputLength` tokens (OSL).
/// Nemotron Nano 2's throughput figure uses 8k in / 16k out (paper §4, pruning.md §5).
public struct Workload: Sendable, Equatable {
    /// ISL, tokens.
    public var inputLength: Int
    /// OSL, tokens.
    public var outputLength: Int
    /// ISL + OSL: the context every sequence reaches, tokens.
    public var totalLength: Int { inputLength + outputLength }

    /// - Throws: ``CostError/nonPositive(what:value:)`` if a length is zero or negative.
    public init(inputLength: Int = 8192, outputLength: Int = 16384) throws {
        guard inputLength > 0 else { throw CostError.nonPositive(what: "input length (ISL)", value: "\(inputLength)") }
        guard outputLength > 0 else { throw CostError.nonPositive(what: "output length (OSL)", value: "\(outputLength)") }
        for (w, v) in [("input length (ISL)", inputLength), ("output length (OSL)", outputLength)] where v > CostModel.maxTokens {
            throw CostError.badParameter(what: w, message: "\(v) tokens is beyond the supported \(CostModel.maxTokens)")
        }
        self.inputLength = inputLength; self.outputLength = outputLength
    }

    /// 8192 in / 16384 out, the Nemotron Nano 2 setting.
    public static let nano2 = try! Workload(inputLength: 8192, outputLength: 16384)
}

/// Inference memory of one sequence (nemotron-h.md §5), bytes.
public struct SequenceMemory: Sendable, Equatable {
    /// KV cache per token over all `*` layers: Σ 2·nkv·d·bytes_kv.
    public var kvBytesPerToken: Int
    /// Mamba conv state over all `M` layers: Σ Cc·(K−1)·bytes_conv. Does not grow with context.
    public var convStateBytes: Int
    /// Mamba SSM state over all `M` layers: Σ nh·P·N·bytes_ssm (`mamba_ssm_cache_dtype`). Does not grow with context.
    public var ssmStateBytes: Int
    /// Conv + SSM state, bytes.
    public var mambaStateBytes: Int { convStateBytes + ssmStateBytes }
    /// KV at `context` tokens + Mamba state, bytes.
    /// (Saturates at `Int.max` instead of overflowing: such a size never fits a budget.)
    public func bytes(context: Int) -> Int { satAdd(satMul(kvBytesPerToken, context), mambaStateBytes) }
}

/// The analytic cost model of pruning.md §5: exact memory of any Nemotron-H architecture at a context length and
/// batch against the paper's budget (the **feasibility rule**), and predicted serving throughput for a workload
/// the way vLLM runs it (the **throughput model**). The two are separate: the budget check is the paper's
/// (19.66 GiB on an A10G at 128k, batch 1); the throughput model sizes vLLM's KV-cache pool at
/// `--gpu-memory-utilization`.
///
/// Pure and allocation-light: ``evaluate(_:context:batch:)`` does no I/O, so an architecture search can call it
/// for thousands of candidates.
///
/// **Memory** (bytes), nemotron-h.md §5:
/// - weights `W = params × bytes(dtype)` (params from the exact formula, nemotron-h.md §4);
/// - per sequence at `L` tokens: `KV(L) = L × Σ_* 2·nkv·d·bytes_kv`, conv state `Σ_M Cc·(K−1)·bytes_kv`,
///   SSM state `Σ_M nh·P·N·bytes_ssm` (`mamba_ssm_cache_dtype`, float32 when absent);
/// - total `W + B·(KV(L) + conv + SSM)`.
///
/// **Budget** (bytes): `gpu_memory × (1 − framework_fraction) − reserved`; Nano 2 on an A10G:
/// 22.06 GiB × 0.95 − 1.3 GiB = 19.66 GiB (paper §4).
///
/// **Throughput** at ISL/OSL, vLLM-style continuous batching (see ``ServingSettings`` and pruning.md §5):
/// - KV pool `= ⌊u·gpu_memory⌋ − W − runtime overhead` (vLLM's `gpu_memory_utilization` u, default 0.9; overhead
///   given, or estimated by ``estimatedRuntimeOverheadBytes(_:)``);
/// - concurrency `B = min(prompts, max_num_seqs, ⌊pool / (KV(ISL+OSL) + conv + SSM)⌋)`;
/// - a wave of `b` sequences costs prefill + decode: prefill of `b·ISL` tokens in `s = ⌈b·ISL / max_num_batched_tokens⌉`
///   steps, `max(b·(2·P_mm·ISL + Σ_* 2·nq·d·ISL²) / (η_c·peak), s·W / (η_b·BW)) + s·τ`; then OSL − 1 decode steps,
///   step `k` at context `c = ISL + k`: `τ + max((W + b·kv_tok·c + 2·b·state) / (η_b·BW), b·(2·P_mm + Σ_* 4·nq·d·c) / (η_c·peak))`,
///   summed in closed form (``sumOfMax(_:_:from:through:)``);
/// - N prompts run as `⌊N/B⌋` waves of `B` and one of `N mod B`; output tokens/s `= N·OSL / total time`. With no
///   prompt count (the search's workload) the steady state of full waves: `B·OSL / wave time`.
/// `P_mm` is the parameters used in matmuls (all but the input embedding lookup, unless tied). Not modelled: SSM
/// scan FLOPs (≈ 6·nh·P·N per token per M layer, a few % of 2·params), the overlap of chunked prefill with decode,
/// preemption, tensor parallelism. `η_c`, `η_b` (default 0.7) and the per-step overhead `τ` (default 0) are what
/// `prunekit cost calibrate` fits from measured runs; a profile carrying a ``HardwareCalibration`` supplies them.
public struct CostModel: Sendable {
    public var hardware: HardwareProfile
    public var workload: Workload
    /// Weight element type (bytes = params × weightDType.bytes).
    public var weightDType: CostDType
    /// KV cache and Mamba conv-state element type (default: the weight dtype).
    public var kvCacheDType: CostDType
    /// SSM state dtype; nil means each config's own `mamba_ssm_cache_dtype` (float32 by default).
    public var ssmCacheDTypeOverride: CostDType?
    /// Fraction of GPU memory kept by the serving framework (activations, CUDA graphs…): 0.05 in the paper.
    public var frameworkFraction: Double
    /// Memory reserved for other things (the paper keeps 1.3 GiB for a vision encoder), bytes.
    public var reservedBytes: Int
    /// η_c, η_b and τ used for throughput.
    public var parameters: ThroughputParameters
    /// How the serving runtime batches (vLLM's memory utilisation, max_num_seqs, max_num_batched_tokens…).
    public var serving: ServingSettings
    /// Whether ``parameters`` come from the profile's calibration (false: defaults or values given by hand).
    public var isCalibrated: Bool

    /// η_c: fraction of peak FLOP/s reached.
    public var computeEfficiency: Double { parameters.computeEfficiency }
    /// η_b: fraction of peak memory bandwidth reached.
    public var bandwidthEfficiency: Double { parameters.bandwidthEfficiency }

    /// Efficiencies and the step overhead default to the profile's calibration when it has one, else 0.7, 0.7, 0 s;
    /// a value given here overrides the calibration (and the model is then not called calibrated).
    /// - Throws: ``CostError/badParameter(what:message:)`` for a fraction outside [0, 1), an efficiency outside (0, 1],
    ///   a negative reservation or step overhead, bad serving settings, or a budget ≤ 0 bytes.
    public init(hardware: HardwareProfile, workload: Workload = .nano2, weightDType: CostDType = .bfloat16,
                kvCacheDType: CostDType? = nil, ssmCacheDType: CostDType? = nil,
                frameworkFraction: Double = 0.05, reservedBytes: Int = GiB.toBytes(1.3),
                computeEfficiency: Double? = nil, bandwidthEfficiency: Double? = nil, stepOverheadSeconds: Double? = nil,
                serving: ServingSettings = ServingSettings()) throws {
        guard frameworkFraction >= 0, frameworkFraction < 1 else {
            throw CostError.badParameter(what: "framework fraction", message: "must be in [0, 1), got \(frameworkFraction)")
        }
        guard reservedBytes >= 0 else { throw CostError.badParameter(what: "reserved memory", message: "must not be negative, got \(reservedBytes) bytes") }
        let base = hardware.calibration?.parameters ?? ThroughputParameters()
        let p = ThroughputParameters(computeEfficiency: computeEfficiency ?? base.computeEfficiency,
                                     bandwidthEfficiency: bandwidthEfficiency ?? base.bandwidthEfficiency,
                                     stepOverheadSeconds: stepOverheadSeconds ?? base.stepOverheadSeconds)
        try p.validate()
        try serving.validate()
        self.hardware = hardware; self.workload = workload; self.weightDType = weightDType
        self.kvCacheDType = kvCacheDType ?? weightDType; self.ssmCacheDTypeOverride = ssmCacheDType
        self.frameworkFraction = frameworkFraction; self.reservedBytes = reservedBytes
        self.parameters = p; self.serving = serving
        self.isCalibrated = hardware.calibration != nil && computeEfficiency == nil && bandwidthEfficiency == nil && stepOverheadSeconds == nil
        guard budgetBytes > 0 else {
            throw CostError.badParameter(what: "memory budget", message: String(format: "%.2f GiB × (1 − %.3f) − %.2f GiB reserved leaves nothing",
                                                                               GiB.of(hardware.memoryBytes), frameworkFraction, GiB.of(reservedBytes)))
        }
    }

    /// `gpu_memory × (1 − framework_fraction) − reserved`, bytes (rounded down to a byte before subtracting).
    public var budgetBytes: Int {
        Int((Double(hardware.memoryBytes) * (1 - frameworkFraction)).rounded(.down)) - reservedBytes
    }

    /// One line saying where the throughput figures come from: the calibrated profile and its fit error, or defaults.
    public var throughputBasis: String {
        if isCalibrated, let c = hardware.calibration { return "calibrated: \(c.summary(profile: hardware.name))" }
        if hardware.calibration != nil { return "calibration of \(hardware.name) overridden by hand: " + parameters.description }
        if parameters == ThroughputParameters() { return "uncalibrated defaults (\(parameters.description)); fit them with `prunekit cost calibrate`" }
        return "uncalibrated, given by hand: " + parameters.description
    }

    /// Checks a context length and batch given by a user.
    /// - Throws: ``CostError/nonPositive(what:value:)``.
    public static func validate(context: Int, batch: Int) throws {
        guard context > 0 else { throw CostError.nonPositive(what: "context length", value: "\(context)") }
        guard batch > 0 else { throw CostError.nonPositive(what: "batch size", value: "\(batch)") }
        guard context <= maxTokens else { throw CostError.badParameter(what: "context length", message: "\(context) tokens is beyond the supported \(maxTokens)") }
        guard batch <= maxBatch else { throw CostError.badParameter(what: "batch size", message: "\(batch) is beyond the supported \(maxBatch)") }
    }

    /// Largest context / ISL / OSL accepted (tokens) and largest batch: far beyond any real deployment, and
    /// small enough that every byte count stays exact in 64 bits.
    public static let maxTokens = 1 << 32
    public static let maxBatch = 1 << 20

    // MARK: - Memory (nemotron-h.md §5)

    /// SSM-state dtype used for `config`: the override, else its `mamba_ssm_cache_dtype` (float32 if unknown).
    public func ssmCacheDType(for config: NemotronHConfig) -> CostDType {
        ssmCacheDTypeOverride ?? CostDType(name: config.ssmCacheDtype) ?? .float32
    }

    /// Weights in bytes: params × bytes per element.
    public func weightBytes(_ config: NemotronHConfig) -> Int { satMul(config.parameterCount, weightDType.bytes) }

    /// Per-sequence cache sizes of `config`, bytes.
    public func sequenceMemory(_ config: NemotronHConfig) -> SequenceMemory {
        let attn = config.count(.attention), mamba = config.count(.mamba)
        return SequenceMemory(
            kvBytesPerToken: attn * 2 * config.numKeyValueHeads * config.headDim * kvCacheDType.bytes,
            convStateBytes: mamba * config.convDim * (config.convKernel - 1) * kvCacheDType.bytes,
            ssmStateBytes: mamba * config.mambaNumHeads * config.mambaHeadDim * config.ssmStateSize * ssmCacheDType(for: config).bytes)
    }

    /// Weights + batch × (KV at `context` + Mamba state), bytes.
    public func memoryBytes(_ config: NemotronHConfig, context: Int, batch: Int) -> Int {
        satAdd(weightBytes(config), satMul(batch, sequenceMemory(config).bytes(context: context)))
    }

    // MARK: - Serving memory (vLLM)

    /// Estimate of vLLM's memory besides weights and KV cache, bytes: two live activations of the widest projection
    /// for each of `max_num_batched_tokens` tokens of the profiling run, `T·(hidden + max(FFN, Mamba in_proj, 3·nq·d))·bytes_w·2`,
    /// plus float32 logits of `max_num_seqs` sequences, `S·vocab·4`. For Nano-9B-v2 on an A10G (T 8192, S 256):
    /// 8192 × (4480 + 22,656) × 2 × 2 + 256 × 131,072 × 4 = 1,023,410,176 bytes (0.95 GiB); CUDA graphs and non-torch
    /// allocations (a few hundred MiB) are not included. Give ``ServingSettings/runtimeOverheadBytes`` to override.
    public func estimatedRuntimeOverheadBytes(_ config: NemotronHConfig) -> Int {
        let t = serving.maxNumBatchedTokens(for: hardware), seqs = serving.maxNumSeqs(for: hardware)
        let inProj = config.count(.mamba) > 0 ? 2 * config.mambaNumHeads * config.mambaHeadDim + 2 * config.nGroups * config.ssmStateSize + config.mambaNumHeads : 0
        let qkv = config.count(.attention) > 0 ? (config.numAttentionHeads + 2 * config.numKeyValueHeads) * config.headDim : 0
        let ffn = config.count(.mlp) > 0 ? config.ffnHiddenSize : 0
        return t * (config.hiddenSize + max(ffn, inProj, qkv)) * weightDType.bytes * 2 + seqs * config.vocabSize * 4
    }

    /// Runtime overhead in effect for `config`: the given figure, else the estimate.
    public func runtimeOverheadBytes(_ config: NemotronHConfig) -> Int {
        serving.runtimeOverheadBytes ?? estimatedRuntimeOverheadBytes(config)
    }

    /// vLLM's KV-cache pool: `⌊u × gpu_memory⌋ − W − runtime overhead`, bytes (negative when the weights do not fit).
    public func kvPoolBytes(_ config: NemotronHConfig) -> Int {
        Int((serving.gpuMemoryUtilization * Double(hardware.memoryBytes)).rounded(.down)) - weightBytes(config) - runtimeOverheadBytes(config)
    }

    /// Sequences whose caches at ISL+OSL fit the KV pool together (0 when not even one does). A model with no
    /// caches at all (MLP-only) is not limited by memory: max_num_seqs.
    public func memoryConcurrency(_ config: NemotronHConfig) -> Int {
        let pool = kvPoolBytes(config)
        guard pool > 0 else { return 0 }
        let s = sequenceMemory(config).bytes(context: workload.totalLength)
        guard s > 0 else { return serving.maxNumSeqs(for: hardware) }
        return pool / s
    }

    /// Concurrent sequences vLLM runs: `min(prompts, max_num_seqs, memory)`, or the forced ``ServingSettings/concurrency``.
    public func concurrency(_ config: NemotronHConfig) -> Int {
        if let forced = serving.concurrency { return serving.numPrompts.map { min($0, forced) } ?? forced }
        var b = min(memoryConcurrency(config), serving.maxNumSeqs(for: hardware))
        if let n = serving.numPrompts { b = min(b, n) }
        return b
    }

    // MARK: - Throughput (pruning.md §5)

    /// Parameters that take part in matmuls: all of them except the input embedding table (a lookup), unless tied.
    public static func matmulParameters(_ config: NemotronHConfig) -> Int {
        config.parameterCount - (config.tieWordEmbeddings ? 0 : config.vocabSize * config.hiddenSize)
    }

    /// Σ over `*` layers of nq·d: attention FLOPs are `2·that·ISL²` in prefill and `4·that·c` per decoded token.
    private static func attentionWidth(_ config: NemotronHConfig) -> Int {
        config.count(.attention) * config.numAttentionHeads * config.headDim
    }

    /// Prefill steps for `batch` prompts: ⌈batch·ISL / max_num_batched_tokens⌉ (chunked prefill).
    public func prefillSteps(batch: Int) -> Int {
        let t = serving.maxNumBatchedTokens(for: hardware)
        return (batch * workload.inputLength + t - 1) / t
    }

    /// Prefill time of `batch` prompts of ISL tokens, seconds (see the type's documentation).
    public func prefillSeconds(_ config: NemotronHConfig, batch: Int) -> Double {
        let isl = Double(workload.inputLength), b = Double(batch), steps = Double(prefillSteps(batch: batch))
        let flops = b * (2 * Double(Self.matmulParameters(config)) * isl + 2 * Double(Self.attentionWidth(config)) * isl * isl)
        let seq = sequenceMemory(config)
        let bytes = steps * Double(weightBytes(config)) + b * Double(seq.bytes(context: workload.inputLength))
        return max(flops / (parameters.computeEfficiency * hardware.peakFLOPS), bytes / (parameters.bandwidthEfficiency * hardware.memoryBandwidth))
            + steps * parameters.stepOverheadSeconds
    }

    /// Per-step decode time as two lines in the context length c, seconds: memory-bound and compute-bound
    /// (the step overhead τ is not included).
    public func decodeStepLines(_ config: NemotronHConfig, batch: Int) -> (memory: Line, compute: Line) {
        let b = Double(batch), seq = sequenceMemory(config)
        let bw = parameters.bandwidthEfficiency * hardware.memoryBandwidth, fl = parameters.computeEfficiency * hardware.peakFLOPS
        let memory = Line(intercept: (Double(weightBytes(config)) + 2 * b * Double(seq.mambaStateBytes)) / bw,
                          slope: b * Double(seq.kvBytesPerToken) / bw)
        let compute = Line(intercept: b * 2 * Double(Self.matmulParameters(config)) / fl,
                           slope: b * 4 * Double(Self.attentionWidth(config)) / fl)
        return (memory, compute)
    }

    /// Decode time of `batch` sequences: OSL − 1 steps (prefill emits the first token), the context growing from
    /// ISL+1 to ISL+OSL−1 tokens, each step `τ + max(memory, compute)`, seconds.
    public func decodeSeconds(_ config: NemotronHConfig, batch: Int) -> Double {
        let (m, c) = decodeStepLines(config, batch: batch)
        let lo = workload.inputLength + 1, hi = workload.totalLength - 1
        return Self.sumOfMax(m, c, from: lo, through: hi) + Double(max(0, hi - lo + 1)) * parameters.stepOverheadSeconds
    }

    /// Predicted serving of the workload (see the type's documentation); nil when not one sequence fits.
    public func serve(_ config: NemotronHConfig) -> ServingPrediction? {
        let b = concurrency(config)
        guard b > 0 else { return nil }
        let p = prefillSeconds(config, batch: b), d = decodeSeconds(config, batch: b)
        let osl = Double(workload.outputLength), isl = Double(workload.inputLength)
        let steps = Double(max(0, workload.outputLength - 1))
        let tpot = steps > 0 ? d / steps : 0
        guard let n = serving.numPrompts else {
            let t = p + d
            return ServingPrediction(concurrency: b, prompts: nil, prefillSeconds: p, decodeSeconds: d, totalSeconds: t,
                                     outputTokensPerSecond: Double(b) * osl / t, totalTokensPerSecond: Double(b) * (isl + osl) / t,
                                     meanTPOTSeconds: tpot)
        }
        let full = n / b, rest = n % b
        var pre = Double(full) * p, dec = Double(full) * d
        if rest > 0 { pre += prefillSeconds(config, batch: rest); dec += decodeSeconds(config, batch: rest) }
        let t = pre + dec
        return ServingPrediction(concurrency: b, prompts: n, prefillSeconds: pre, decodeSeconds: dec, totalSeconds: t,
                                 outputTokensPerSecond: Double(n) * osl / t, totalTokensPerSecond: Double(n) * (isl + osl) / t,
                                 meanTPOTSeconds: tpot)
    }

    /// `a + b·c`: a per-step time as a function of the context length c.
    public struct Line: Sendable, Equatable {
        public var intercept: Double
        public var slope: Double
        public init(intercept: Double, slope: Double) { self.intercept = intercept; self.slope = slope }
        public func callAsFunction(_ c: Double) -> Double { intercept + slope * c }
        /// Σ_{c=lo…hi} (a + b·c) = a·n + b·(lo+hi)·n/2, n = hi − lo + 1 (0 when hi < lo).
        public func sum(from lo: Int, through hi: Int) -> Double {
            guard hi >= lo else { return 0 }
            let n = Double(hi - lo + 1)
            return intercept * n + slope * Double(lo + hi) * n / 2
        }
    }

    /// Σ_{c=lo…hi} max(f(c), g(c)) for two lines, in closed form: two lines cross at most once, so the range splits
    /// at the crossing into two arithmetic series. (The naive loop is the ground truth in the tests.)
    public static func sumOfMax(_ f: Line, _ g: Line, from lo: Int, through hi: Int) -> Double {
        guard hi >= lo else { return 0 }
        if f.slope == g.slope { return (f.intercept >= g.intercept ? f : g).sum(from: lo, through: hi) }
        // f(x) = g(x) at x* = (g.a − f.a) / (f.b − g.b); split after ⌊x*⌋ clamped to the range.
        let x = (g.intercept - f.intercept) / (f.slope - g.slope)
        let split: Int
        if !(x >= Double(lo)) { split = lo - 1 } else if x >= Double(hi) { split = hi } else { split = Int(x.rounded(.down)) }
        func part(_ a: Int, _ b: Int) -> Double {
            guard b >= a else { return 0 }
            let mid = (Double(a) + Double(b)) / 2
            return (f(mid) >= g(mid) ? f : g).sum(from: a, through: b)
        }
        return part(lo, split) + part(split + 1, hi)
    }

    // MARK: - Everything at once

    /// Memory of `config` at `context` tokens × `batch` against the budget, and predicted serving throughput for the
    /// workload. Pure; no I/O. `context` and `batch` must be positive (see ``validate(context:batch:)``).
    public func evaluate(_ config: NemotronHConfig, context: Int, batch: Int) -> CostReport {
        precondition(context > 0 && batch > 0, "context and batch must be positive; check with CostModel.validate")
        let params = config.parameterCount
        let w = satMul(params, weightDType.bytes)
        let seq = sequenceMemory(config)
        let memory = satAdd(w, satMul(batch, seq.bytes(context: context)))
        let s = serve(config)
        return CostReport(hardware: hardware.name, workload: workload, weightDType: weightDType, kvCacheDType: kvCacheDType,
                          ssmCacheDType: ssmCacheDType(for: config), context: context, batch: batch,
                          parameters: params, weightBytes: w, kvBytesPerToken: seq.kvBytesPerToken,
                          convStateBytes: seq.convStateBytes, ssmStateBytes: seq.ssmStateBytes,
                          memoryBytes: memory, budgetBytes: budgetBytes, maxBatch: s?.concurrency ?? 0,
                          prefillSeconds: s?.prefillSeconds, decodeSeconds: s?.decodeSeconds,
                          outputTokensPerSecond: s?.outputTokensPerSecond ?? 0,
                          kvPoolBytes: kvPoolBytes(config), serving: serving, throughputParameters: parameters,
                          throughputBasis: throughputBasis, calibrated: isCalibrated)
    }

    /// Throws when `report` does not fit its budget.
    /// - Throws: ``CostError/weightsExceedBudget(weightBytes:budgetBytes:)`` if the weights alone are too large,
    ///   else ``CostError/doesNotFit(memoryBytes:budgetBytes:context:batch:)``.
    public static func requireFits(_ report: CostReport) throws {
        if report.weightBytes > report.budgetBytes {
            throw CostError.weightsExceedBudget(weightBytes: report.weightBytes, budgetBytes: report.budgetBytes)
        }
        if !report.fits {
            throw CostError.doesNotFit(memoryBytes: report.memoryBytes, budgetBytes: report.budgetBytes, context: report.context, batch: report.batch)
        }
    }
}

/// `a × b`, or `Int.max` when it overflows (sizes are non-negative): a saturated size fails every budget check.
func satMul(_ a: Int, _ b: Int) -> Int {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    return o ? Int.max : r
}

/// `a + b`, or `Int.max` when it overflows.
func satAdd(_ a: Int, _ b: Int) -> Int {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? Int.max : r
}
