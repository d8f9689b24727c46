import ArgumentParser
import Foundation
import PruneKit

struct Cost: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict memory and throughput of a Nemotron-H architecture on a GPU (pruning.md §5).",
        discussion: """
        MODEL may be a Hugging Face folder or a lone config.json. Prints parameters, weight bytes, KV bytes per token, \
        Mamba state bytes, memory at --context × --batch against the budget \
        (gpu_memory × (1 − framework fraction) − reserved), the largest batch for the ISL/OSL workload, and predicted \
        prefill/decode time and output tokens/s per GPU. Exit 4 when the model does not fit at --context × --batch \
        (the report is printed first); exit 2 for bad input.
        """
    )

    @Argument(help: "Model folder, or a config.json file.")
    var model: String

    @Option(help: "Hardware profile name (case-insensitive): a10g, l40s, h100-sxm, h200, or one from --hardware-file. Default a10g, or the only profile of --hardware-file.")
    var hardware: String?

    @Option(help: "JSON file of extra or replacement hardware profiles (same format as the built-in hardware.json).")
    var hardwareFile: String?

    @Option(help: "Context length for the memory check, tokens.")
    var context: Int = 131072

    @Option(help: "Batch size for the memory check, sequences.")
    var batch: Int = 1

    @Option(help: "Workload input (prompt) length, tokens.")
    var isl: Int = 8192

    @Option(help: "Workload output length, tokens.")
    var osl: Int = 16384

    @Option(help: "Weight and KV-cache dtype: bf16, fp16, fp32, fp8.")
    var dtype: String = "bf16"

    @Option(help: "SSM state dtype (default: the config's mamba_ssm_cache_dtype, float32 if absent).")
    var ssmDtype: String?

    @Option(help: "Fraction of GPU memory kept by the serving framework.")
    var frameworkFraction: Double = 0.05

    @Option(help: "Memory reserved for other uses (the paper: a vision encoder), GiB.")
    var reservedGib: Double = 1.3

    @Option(help: "Fraction of peak FLOP/s reached (0, 1].")
    var computeEfficiency: Double = 0.7

    @Option(help: "Fraction of peak memory bandwidth reached (0, 1].")
    var bandwidthEfficiency: Double = 0.7

    @Option(help: "Output format: table or json.")
    var format: OutputFormat = .table

    func run() throws {
        try runReportingErrors {
            try CostModel.validate(context: context, batch: batch)
            let workload = try Workload(inputLength: isl, outputLength: osl)
            guard reservedGib >= 0, reservedGib.isFinite else {
                throw CostError.badParameter(what: "--reserved-gib", message: "must be a non-negative number, got \(reservedGib)")
            }
            let profiles = try HardwareProfiles.catalogue(userFile: hardwareFile)
            let profile: HardwareProfile
            if let hardware {
                profile = try HardwareProfiles.named(hardware, in: profiles)
            } else if let hardwareFile {
                let own = try HardwareProfiles.load(path: hardwareFile)
                profile = own.count == 1 ? own[0] : try HardwareProfiles.named("a10g", in: profiles)
            } else {
                profile = try HardwareProfiles.named("a10g", in: profiles)
            }
            let configPath = model.hasSuffix(".json") ? model : URL(fileURLWithPath: model).appendingPathComponent("config.json").path
            let config = try NemotronHConfig.load(path: configPath)
            let costModel = try CostModel(hardware: profile, workload: workload, weightDType: try CostDType.parse(dtype),
                                          ssmCacheDType: try ssmDtype.map { try CostDType.parse($0) },
                                          frameworkFraction: frameworkFraction, reservedBytes: GiB.toBytes(reservedGib),
                                          computeEfficiency: computeEfficiency, bandwidthEfficiency: bandwidthEfficiency)
            let report = costModel.evaluate(config, context: context, batch: batch)
            switch format {
            case .json: printJSON(report.json)
            case .table: print(report.table)
            }
            try CostModel.requireFits(report)
        }
    }
}
