import Foundation

/// The free parameters of the throughput model (pruning.md §5), what `prunekit cost calibrate` fits.
public struct ThroughputParameters: Sendable, Equatable, CustomStringConvertible {
    /// η_c: fraction of the profile's peak FLOP/s reached in matmuls and attention. Default 0.7.
    public var computeEfficiency: Double
    /// η_b: fraction of the profile's peak memory bandwidth reached when reading weights, KV and Mamba state. Default 0.7.
    public var bandwidthEfficiency: Double
    /// τ: fixed time per engine step (scheduling, sampling, kernel launches), seconds. Default 0.
    public var stepOverheadSeconds: Double

    public init(computeEfficiency: Double = 0.7, bandwidthEfficiency: Double = 0.7, stepOverheadSeconds: Double = 0) {
        self.computeEfficiency = computeEfficiency; self.bandwidthEfficiency = bandwidthEfficiency
        self.stepOverheadSeconds = stepOverheadSeconds
    }

    /// - Throws: ``CostError/badParameter(what:message:)`` for an efficiency outside (0, 1] or a negative or
    ///   non-finite step overhead.
    public func validate() throws {
        for (n, e) in [("compute efficiency", computeEfficiency), ("bandwidth efficiency", bandwidthEfficiency)] where !(e > 0 && e <= 1) {
            throw CostError.badParameter(what: n, message: "must be in (0, 1], got \(e)")
        }
        guard stepOverheadSeconds >= 0, stepOverheadSeconds.isFinite else {
            throw CostError.badParameter(what: "step overhead", message: "must be a non-negative number of seconds, got \(stepOverheadSeconds)")
        }
    }

    public var description: String {
        String(format: "η_c %.3f, η_b %.3f, step overhead %.2f ms", computeEfficiency, bandwidthEfficiency, stepOverheadSeconds * 1e3)
    }
}

/// How the serving runtime runs a workload: vLLM's engine arguments that decide concurrency and step sizes.
///
/// Defaults are vLLM's for `vllm bench throughput` (the offline `LLM` class): `gpu_memory_utilization` 0.9
/// (vllm/config/cache.py), and from `EngineArgs.get_batch_defaults` (vllm/engine/arg_utils.py) on a GPU with
/// ≥ 70 GiB that is not an A100: `max_num_seqs` 1024 and `max_num_batched_tokens` 16384, else 256 and 8192.
public struct ServingSettings: Sendable, Equatable {
    /// Fraction of GPU memory vLLM may use for weights, activations and the KV cache (`--gpu-memory-utilization`).
    public var gpuMemoryUtilization: Double
    /// `--max-num-seqs`; nil for vLLM's default on the profile's GPU (``maxNumSeqs(for:)``).
    public var maxNumSeqs: Int?
    /// `--max-num-batched-tokens` (prefill chunk); nil for vLLM's default (``maxNumBatchedTokens(for:)``).
    public var maxNumBatchedTokens: Int?
    /// Memory vLLM keeps besides weights and KV cache (activation peak of the profiling run, CUDA graphs, non-torch
    /// allocations; vLLM logs it as "PyTorch activation peak memory" + "non_torch_memory"), bytes; nil for the
    /// estimate ``CostModel/estimatedRuntimeOverheadBytes(_:)``.
    public var runtimeOverheadBytes: Int?
    /// Prompts in the run (`--num-prompts`); nil for the steady state of full waves (the search's workload).
    public var numPrompts: Int?
    /// Concurrency observed in the run (vLLM's "Maximum concurrency" log line), used instead of the memory model.
    public var concurrency: Int?

    public init(gpuMemoryUtilization: Double = 0.9, maxNumSeqs: Int? = nil, maxNumBatchedTokens: Int? = nil,
                runtimeOverheadBytes: Int? = nil, numPrompts: Int? = nil, concurrency: Int? = nil) {
        self.gpuMemoryUtilization = gpuMemoryUtilization; self.maxNumSeqs = maxNumSeqs
        self.maxNumBatchedTokens = maxNumBatchedTokens; self.runtimeOverheadBytes = runtimeOverheadBytes
        self.numPrompts = numPrompts; self.concurrency = concurrency
    }

    /// Whether vLLM treats the GPU as "large" (≥ 70 GiB, and not an A100) for its batch defaults.
    static func isLarge(_ hw: HardwareProfile) -> Bool {
        hw.memoryBytes >= 70 * GiB.bytes && !hw.name.lowercased().contains("a100")
    }
    /// max_num_seqs in effect on `hw`.
    public func maxNumSeqs(for hw: HardwareProfile) -> Int { maxNumSeqs ?? (Self.isLarge(hw) ? 1024 : 256) }
    /// max_num_batched_tokens in effect on `hw`.
    public func maxNumBatchedTokens(for hw: HardwareProfile) -> Int { maxNumBatchedTokens ?? (Self.isLarge(hw) ? 16384 : 8192) }

    /// - Throws: ``CostError/badParameter(what:message:)`` / ``CostError/nonPositive(what:value:)``.
    public func validate() throws {
        guard gpuMemoryUtilization > 0, gpuMemoryUtilization <= 1 else {
            throw CostError.badParameter(what: "gpu memory utilization", message: "must be in (0, 1], got \(gpuMemoryUtilization)")
        }
        if let r = runtimeOverheadBytes, r < 0 { throw CostError.badParameter(what: "runtime overhead", message: "must not be negative, got \(r) bytes") }
        for (n, v) in [("max_num_seqs", maxNumSeqs), ("max_num_batched_tokens", maxNumBatchedTokens), ("number of prompts", numPrompts), ("concurrency", concurrency)] {
            if let v, v <= 0 { throw CostError.nonPositive(what: n, value: "\(v)") }
            if let v, v > CostModel.maxBatch && n != "max_num_batched_tokens" { throw CostError.badParameter(what: n, message: "\(v) is beyond the supported \(CostModel.maxBatch)") }
        }
    }

    /// The settings as JSON (what a calibrated profile records).
    public func json(for hw: HardwareProfile) -> JSONValue {
        .object([("gpu_memory_utilization", .double(gpuMemoryUtilization)), ("max_num_seqs", .int(maxNumSeqs(for: hw))),
                 ("max_num_batched_tokens", .int(maxNumBatchedTokens(for: hw))),
                 ("runtime_overhead_gib", runtimeOverheadBytes.map { .double(GiB.of($0)) } ?? .string("estimated per model"))])
    }
}

/// What ``CostModel/serve(_:)`` predicts for a workload.
public struct ServingPrediction: Sendable, Equatable {
    /// Concurrent sequences (the batch of each full wave).
    public var concurrency: Int
    /// Prompts run; nil for the steady state (one full wave).
    public var prompts: Int?
    /// Prefill and decode time over all waves, seconds.
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    public var totalSeconds: Double
    /// Output tokens/s and (prompt + output) tokens/s per GPU.
    public var outputTokensPerSecond: Double
    public var totalTokensPerSecond: Double
    /// Mean time per output token after the first in a full wave, seconds.
    public var meanTPOTSeconds: Double
}
