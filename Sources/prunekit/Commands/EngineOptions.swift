import ArgumentParser
import Foundation
import PruneKit

/// `--weight-cache-gib` and `--memory-gib`: how much memory the forward pass may keep (widened weights) and use
/// per batch (activations). Shared by every command that runs a model.
struct EngineMemoryOptions: ParsableArguments {
    @Option(name: .customLong("weight-cache-gib"), parsing: .unconditional,
            help: "GiB of widened fp32 weights kept in memory per model (0 streams every layer from the bf16/f16 file in panels, as a real 12B needs; inf for no limit).")
    var weightCacheGiB: Double = 4

    @Option(name: .customLong("memory-gib"), parsing: .unconditional,
            help: ArgumentHelp("GiB of activations one batch may use: samples stacked into one product (eval, scoring, candidate evaluation, teacher cache), candidates stacked in a ranking round.",
                               discussion: "The default (4 GiB) is safe on 24 GiB at the 12B widths and T = 4096: one sequence needs 2.9 GiB with its logits, so each batch holds one; a ranking round stacks 4 candidates per product and, with its 5.3 GB of hidden states at 62 layers, `score` needs ≈ 10 GB, leaving the rest to the mapped bf16 weights. A sequence larger than the budget still runs, alone."))
    var memoryGiB: Double = EngineMemoryOptions.defaultMemoryGiB

    /// ``NemotronHModel/defaultBatchBudgetBytes`` in GiB.
    static let defaultMemoryGiB = Double(NemotronHModel.defaultBatchBudgetBytes) / 1_073_741_824

    func validate() throws {
        _ = try cacheBytes
        _ = try batchBytes
    }

    /// `--weight-cache-gib` in bytes: ≥ 0 (`inf` means no limit).
    var cacheBytes: Int {
        get throws {
            guard !weightCacheGiB.isNaN, weightCacheGiB >= 0 else {
                throw ValidationError("--weight-cache-gib must be ≥ 0 (GiB of fp32 weights kept; inf for no limit), got \(weightCacheGiB)")
            }
            let bytes = weightCacheGiB * 1_073_741_824
            return bytes >= Double(Int.max / 4) ? Int.max / 4 : Int(bytes)
        }
    }

    /// `--memory-gib` in bytes: finite and > 0 (at least one byte).
    var batchBytes: Int {
        get throws {
            guard memoryGiB.isFinite, memoryGiB > 0, memoryGiB * 1_073_741_824 < Double(Int.max / 4) else {
                throw ValidationError("--memory-gib must be a number of GiB > 0 and below 2^31 (activations per batch, e.g. \(EngineMemoryOptions.defaultMemoryGiB)), got \(memoryGiB)")
            }
            return max(1, Int(memoryGiB * 1_073_741_824))
        }
    }

    /// The options as command-line arguments, each budget divided by `share` (worker processes started by
    /// `score --workers N` split the memory between them).
    func arguments(share: Int = 1) -> [String] {
        ["--weight-cache-gib", String(weightCacheGiB / Double(share)), "--memory-gib", String(memoryGiB / Double(share))]
    }

    /// A model on `source` with these budgets.
    func model(_ source: WeightSource) throws -> NemotronHModel {
        try NemotronHModel(source: source, cacheBudgetBytes: try cacheBytes, batchBudgetBytes: try batchBytes)
    }
}

/// The engine's options for commands that run a model on their own terms: the memory budgets and `--no-dt-floor`.
/// (`search` and `worker` take only ``EngineMemoryOptions``: the study's score options and the job fix the dt floor.)
struct EngineOptions: ParsableArguments {
    @OptionGroup var memory: EngineMemoryOptions

    @Flag(name: .customLong("no-dt-floor"), help: "Do not floor dt at time_step_min (NVIDIA/vLLM/Megatron behaviour; transformers floors it).")
    var noDtFloor = false

    var dtFloor: Bool { !noDtFloor }

    /// A model on `source` with these budgets and dt floor.
    func model(_ source: WeightSource) throws -> NemotronHModel {
        let m = try memory.model(source)
        m.dtFloor = dtFloor
        return m
    }
}
