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
/// batch, the budget on a GPU, and predicted output throughput for a workload.
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
/// **Throughput** at ISL/OSL (static batching: the batch is prefilled, then decoded together):
/// - batch `B = ⌊(budget − W) / (KV(ISL+OSL) + conv + SSM)⌋` (0 when the weights do not fit);
/// - prefill, compute-bound: `t_pre = B·(2·P_mm·ISL + Σ_* 2·nq·d·ISL²) / (η_c·peak)` — `P_mm` is the parameters
///   used in matmuls (all but the input embedding lookup, unless tied), `2·nq·d·ISL²` is causal QKᵀ plus AV —
///   or the time to read the weights once, `(W + B·(KV(ISL) + state)) / (η_b·BW)`, if larger;
/// - decode step with `c` tokens in context (c = ISL+1 … ISL+OSL), the larger of
///   memory-bound `(W + B·kv_tok·c + 2·B·state) / (η_b·BW)` (weights read, KV read at the current length incl. the
///   new token's write, Mamba state read and written) and compute-bound `B·(2·P_mm + Σ_* 4·nq·d·c) / (η_c·peak)`;
///   both are linear in `c`, so the sum over the OSL steps is taken in closed form (``sumOfMax(_:_:from:through:)``);
/// - output tokens/s per GPU `= B·OSL / (t_pre + t_dec)`.
/// Not modelled: SSM scan FLOPs (≈ 6·nh·P·N per token per M layer, a few % of 2·params), kernel launch overheads,
/// continuous batching, tensor parallelism. Efficiencies `η_c`, `η_b` default to 0.7 and are meant to be fitted
/// from measured runs.
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
    /// η_c: fraction of peak FLOP/s reached (0, 1].
    public var computeEfficiency: Double
    /// η_b: fraction of peak memory bandwidth reached (0, 1].
    public var bandwidthEfficiency: Double
    /// Upper limit on the batch (e.g. a server's max_num_seqs); nil for memory-limited only.
    public var maxBatchLimit: Int?

    /// - Throws: ``CostError/badParameter(what:message:)`` for a fraction outside [0, 1), an efficiency outside (0, 1],
    ///   a negative reservation or batch limit, or a budget ≤ 0 bytes.
    public init(hardware: HardwareProfile, workload: Workload = .nano2, weightDType: CostDType = .bfloat16,
                kvCacheDType: CostDType? = nil, ssmCacheDType: CostDType? = nil,
                frameworkFraction: Double = 0.05, reservedBytes: Int = GiB.toBytes(1.3),
                computeEfficiency: Double = 0.7, bandwidthEfficiency: Double = 0.7, maxBatchLimit: Int? = nil) throws {
        guard frameworkFraction >= 0, frameworkFraction < 1 else {
            throw CostError.badParameter(what: "framework fraction", message: "must be in [0, 1), got \(frameworkFraction)")
        }
        guard reservedBytes >= 0 else { throw CostError.badParameter(what: "reserved memory", message: "must not be negative, got \(reservedBytes) bytes") }
        for (n, e) in [("compute efficiency", computeEfficiency), ("bandwidth efficiency", bandwidthEfficiency)] where !(e > 0 && e <= 1) {
            throw CostError.badParameter(what: n, message: "must be in (0, 1], got \(e)")
        }
        if let m = maxBatchLimit, m <= 0 { throw CostError.nonPositive(what: "batch limit", value: "\(m)") }
        self.hardware = hardware; self.workload = workload; self.weightDType = weightDType
        self.kvCacheDType = kvCacheDType ?? weightDType; self.ssmCacheDTypeOverride = ssmCacheDType
        self.frameworkFraction = frameworkFraction; self.reservedBytes = reservedBytes
        self.computeEfficiency = computeEfficiency; self.bandwidthEfficiency = bandwidthEfficiency
        self.maxBatchLimit = maxBatchLimit
        guard budgetBytes > 0 else {
            throw CostError.badParameter(what: "memory budget", message: String(format: "%.2f GiB × (1 − %.3f) − %.2f GiB reserved leaves nothing",
                                                                               GiB.of(hardware.memoryBytes), frameworkFraction, GiB.of(reservedBytes)))
        }
    }

    /// `gpu_memory × (1 − framework_fraction) − reserved`, bytes (rounded down to a byte before subtracting).
    public var budgetBytes: Int {
        Int((Double(hardware.memoryBytes) * (1 - frameworkFraction)).rounded(.down)) - reservedBytes
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

    /// The largest batch whose memory at ISL+OSL fits the budget (0 if the weights alone do not fit).
    public func maxBatch(_ config: NemotronHConfig) -> Int {
        maxBatch(weightBytes: weightBytes(config), perSequence: sequenceMemory(config).bytes(context: workload.totalLength))
    }

    private func maxBatch(weightBytes w: Int, perSequence s: Int) -> Int {
        let free = budgetBytes - w
        guard free >= 0 else { return 0 }
        // A model with no caches at all (MLP-only) is not limited by memory; fall back to the limit or 1.
        guard s > 0 else { return maxBatchLimit ?? 1 }
        let b = free / s
        return maxBatchLimit.map { min(b, $0) } ?? b
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

    /// Prefill time of `batch` prompts of ISL tokens, seconds (see the type's documentation).
    public func prefillSeconds(_ config: NemotronHConfig, batch: Int) -> Double {
        let isl = Double(workload.inputLength), b = Double(batch)
        let flops = b * (2 * Double(Self.matmulParameters(config)) * isl + 2 * Double(Self.attentionWidth(config)) * isl * isl)
        let seq = sequenceMemory(config)
        let bytes = Double(weightBytes(config)) + b * Double(seq.bytes(context: workload.inputLength))
        return max(flops / (computeEfficiency * hardware.peakFLOPS), bytes / (bandwidthEfficiency * hardware.memoryBandwidth))
    }

    /// Per-step decode time as two lines in the context length c, seconds: memory-bound and compute-bound.
    public func decodeStepLines(_ config: NemotronHConfig, batch: Int) -> (memory: Line, compute: Line) {
        let b = Double(batch), seq = sequenceMemory(config)
        let bw = bandwidthEfficiency * hardware.memoryBandwidth, fl = computeEfficiency * hardware.peakFLOPS
        let memory = Line(intercept: (Double(weightBytes(config)) + 2 * b * Double(seq.mambaStateBytes)) / bw,
                          slope: b * Double(seq.kvBytesPerToken) / bw)
        let compute = Line(intercept: b * 2 * Double(Self.matmulParameters(config)) / fl,
                           slope: b * 4 * Double(Self.attentionWidth(config)) / fl)
        return (memory, compute)
    }

    /// Decode time of `batch` sequences for OSL steps, the context growing from ISL+1 to ISL+OSL tokens, seconds.
    public func decodeSeconds(_ config: NemotronHConfig, batch: Int) -> Double {
        let (m, c) = decodeStepLines(config, batch: batch)
        return Self.sumOfMax(m, c, from: workload.inputLength + 1, through: workload.totalLength)
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

    /// Memory of `config` at `context` tokens × `batch` against the budget, and predicted throughput for the workload
    /// at the largest batch that fits. Pure; no I/O. `context` and `batch` must be positive (see ``validate(context:batch:)``).
    public func evaluate(_ config: NemotronHConfig, context: Int, batch: Int) -> CostReport {
        precondition(context > 0 && batch > 0, "context and batch must be positive; check with CostModel.validate")
        let params = config.parameterCount
        let w = satMul(params, weightDType.bytes)
        let seq = sequenceMemory(config)
        let memory = satAdd(w, satMul(batch, seq.bytes(context: context)))
        let budget = budgetBytes
        let b = maxBatch(weightBytes: w, perSequence: seq.bytes(context: workload.totalLength))
        var prefill: Double? = nil, decode: Double? = nil, tps = 0.0
        if b > 0 {
            let p = prefillSeconds(config, batch: b), d = decodeSeconds(config, batch: b)
            prefill = p; decode = d
            tps = Double(b) * Double(workload.outputLength) / (p + d)
        }
        return CostReport(hardware: hardware.name, workload: workload, weightDType: weightDType, kvCacheDType: kvCacheDType,
                          ssmCacheDType: ssmCacheDType(for: config), context: context, batch: batch,
                          parameters: params, weightBytes: w, kvBytesPerToken: seq.kvBytesPerToken,
                          convStateBytes: seq.convStateBytes, ssmStateBytes: seq.ssmStateBytes,
                          memoryBytes: memory, budgetBytes: budget, maxBatch: b,
                          prefillSeconds: prefill, decodeSeconds: decode, outputTokensPerSecond: tps)
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
