import ArgumentParser
import Foundation
import PruneKit

/// `prunekit cost`: predict (the default subcommand, `prunekit cost MODEL …`) or calibrate.
struct Cost: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict memory and throughput of a Nemotron-H architecture on a GPU, or calibrate the throughput model (pruning.md §5).",
        subcommands: [CostPredict.self, CostCalibrate.self],
        defaultSubcommand: CostPredict.self
    )
}

struct CostPredict: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict memory and throughput of a Nemotron-H architecture on a GPU (the default: `prunekit cost MODEL`).",
        discussion: """
        MODEL may be a Hugging Face folder or a lone config.json. Prints parameters, weight bytes, KV bytes per token, \
        Mamba state bytes, memory at --context × --batch against the budget \
        (gpu_memory × (1 − framework fraction) − reserved; the feasibility rule), then the serving model: vLLM's KV \
        pool at --gpu-memory-utilization, the concurrent sequences at ISL+OSL, prefill/decode time and output tokens/s \
        per GPU, and whether those figures are calibrated (a profile from `prunekit cost calibrate`, with its fit \
        error) or defaults. Exit 4 when the model does not fit at --context × --batch (the report is printed first); \
        exit 2 for bad input.
        """
    )

    @Argument(help: "Model folder, or a config.json file.")
    var model: String

    @Option(help: "Hardware profile name (case-insensitive): a10g, l40s, h100-sxm, h200, or one from --hardware-file. Default a10g, or the only profile of --hardware-file.")
    var hardware: String?

    @Option(help: "JSON file of extra or replacement hardware profiles (same format as the built-in hardware.json; a calibrated profile from `prunekit cost calibrate`).")
    var hardwareFile: String?

    @Option(parsing: .unconditional, help: "Context length for the memory check, tokens.")
    var context: Int = 131072

    @Option(parsing: .unconditional, help: "Batch size for the memory check, sequences.")
    var batch: Int = 1

    @Option(parsing: .unconditional, help: "Workload input (prompt) length, tokens.")
    var isl: Int = 8192

    @Option(parsing: .unconditional, help: "Workload output length, tokens.")
    var osl: Int = 16384

    @Option(parsing: .unconditional, help: "Prompts in the workload (vLLM --num-prompts); default: the steady state of full waves.")
    var numPrompts: Int?

    @Option(help: "Weight and KV-cache dtype: bf16, fp16, fp32, fp8.")
    var dtype: String = "bf16"

    @Option(help: "SSM state dtype (default: the config's mamba_ssm_cache_dtype, float32 if absent).")
    var ssmDtype: String?

    @Option(parsing: .unconditional, help: "Fraction of GPU memory kept by the serving framework (budget check).")
    var frameworkFraction: Double = 0.05

    @Option(parsing: .unconditional, help: "Memory reserved for other uses (the paper: a vision encoder), GiB (budget check).")
    var reservedGib: Double = 1.3

    @Option(parsing: .unconditional, help: "vLLM --gpu-memory-utilization: fraction of GPU memory for weights + activations + KV cache.")
    var gpuMemoryUtilization: Double = 0.9

    @Option(parsing: .unconditional, help: "vLLM --max-num-seqs (default: vLLM's, 256, or 1024 on GPUs with ≥ 70 GiB).")
    var maxNumSeqs: Int?

    @Option(parsing: .unconditional, help: "vLLM --max-num-batched-tokens (default: vLLM's, 8192, or 16384 on GPUs with ≥ 70 GiB).")
    var maxNumBatchedTokens: Int?

    @Option(parsing: .unconditional, help: "Memory vLLM keeps besides weights and KV cache (activations, CUDA graphs), GiB; default: estimated per model.")
    var runtimeOverheadGib: Double?

    @Option(parsing: .unconditional, help: "Fraction of peak FLOP/s reached (0, 1]; default: the calibrated profile's, else 0.7.")
    var computeEfficiency: Double?

    @Option(parsing: .unconditional, help: "Fraction of peak memory bandwidth reached (0, 1]; default: the calibrated profile's, else 0.7.")
    var bandwidthEfficiency: Double?

    @Option(parsing: .unconditional, help: "Fixed time per engine step, ms; default: the calibrated profile's, else 0.")
    var stepOverheadMs: Double?

    @OptionGroup var output: FormatOptions

    func run() throws {
        try runReportingErrors {
            try CostModel.validate(context: context, batch: batch)
            let workload = try Workload(inputLength: isl, outputLength: osl)
            for (n, v) in [("--reserved-gib", reservedGib), ("--runtime-overhead-gib", runtimeOverheadGib ?? 0)] where !(v >= 0 && v.isFinite) {
                throw CostError.badParameter(what: n, message: "must be a non-negative number, got \(v)")
            }
            let profile = try selectProfile(hardware: hardware, hardwareFile: hardwareFile)
            let configPath = model.hasSuffix(".json") ? model : URL(fileURLWithPath: model).appendingPathComponent("config.json").path
            let config = try NemotronHConfig.load(path: configPath)
            let serving = ServingSettings(gpuMemoryUtilization: gpuMemoryUtilization, maxNumSeqs: maxNumSeqs,
                                          maxNumBatchedTokens: maxNumBatchedTokens, runtimeOverheadBytes: runtimeOverheadGib.map(GiB.toBytes),
                                          numPrompts: numPrompts)
            let costModel = try CostModel(hardware: profile, workload: workload, weightDType: try CostDType.parse(dtype),
                                          ssmCacheDType: try ssmDtype.map { try CostDType.parse($0) },
                                          frameworkFraction: frameworkFraction, reservedBytes: GiB.toBytes(reservedGib),
                                          computeEfficiency: computeEfficiency, bandwidthEfficiency: bandwidthEfficiency,
                                          stepOverheadSeconds: stepOverheadMs.map { $0 / 1e3 }, serving: serving)
            let report = costModel.evaluate(config, context: context, batch: batch)
            switch output.format {
            case .json: try printJSON(report.output)
            case .table: print(report.table)
            }
            try CostModel.requireFits(report)
        }
    }
}

/// The profile named by `--hardware` (from the built-ins plus `--hardware-file`), or the only profile of
/// `--hardware-file`, or the A10G.
func selectProfile(hardware: String?, hardwareFile: String?) throws -> HardwareProfile {
    let profiles = try HardwareProfiles.catalogue(userFile: hardwareFile)
    if let hardware { return try HardwareProfiles.named(hardware, in: profiles) }
    if let hardwareFile {
        let own = try HardwareProfiles.load(path: hardwareFile)
        if own.count == 1 { return own[0] }
    }
    return try HardwareProfiles.named("a10g", in: profiles)
}

struct CostCalibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Fit the throughput model to measured serving runs and write a calibrated hardware profile.",
        discussion: """
        MEASUREMENTS: CSV (header line) or JSONL files of runs with columns model, isl, osl, num_prompts and/or \
        max_concurrency, optional concurrency, dtype, kv_cache_dtype, gpu_memory_utilization, and \
        output_tokens_per_second (or total_tokens_per_second, or vllm_json: the file written by \
        `vllm bench throughput --output-json`), optional ttft_ms, tpot_ms; or such vLLM JSON files directly, with \
        --model, --isl and --osl saying what was run (they also fill those columns where a CSV or JSONL row \
        lacks them; a row's own value wins). Fits the compute efficiency, bandwidth efficiency and per-step \
        overhead by least squares on log output tokens/s (those the runs do not determine stay at their defaults, \
        and are named), prints each run's measured vs predicted tokens/s and leave-one-out error, and with --out \
        writes the profile (hardware.json format plus a `calibration` object: fitted values, SHA-256 of the \
        measurements, residuals) for --hardware-file and recipes' hardware_file. Exit 2 for bad input.
        """
    )

    @Argument(help: "Measurement files: .csv, .jsonl, or vLLM --output-json .json.")
    var measurements: [String]

    @Option(help: "Hardware profile the runs were measured on (a10g, h100-sxm, … or one from --hardware-file).")
    var hardware: String

    @Option(help: "JSON file of extra or replacement hardware profiles.")
    var hardwareFile: String?

    @Option(help: "Write the calibrated profile here (JSON).")
    var out: String?

    @Flag(help: "Overwrite --out if it exists.")
    var force = false

    @Option(help: "Model folder or config.json of bare vLLM JSON files (and of rows without a model column).")
    var model: String?

    @Option(parsing: .unconditional, help: "ISL of bare vLLM JSON files (and of rows without an isl column), tokens.")
    var isl: Int?

    @Option(parsing: .unconditional, help: "OSL of bare vLLM JSON files (and of rows without an osl column), tokens.")
    var osl: Int?

    @Option(help: "Weight dtype of bare vLLM JSON files.")
    var dtype: String = "bf16"

    @Option(parsing: .unconditional, help: "vLLM --gpu-memory-utilization of the runs (a run's own column wins).")
    var gpuMemoryUtilization: Double = 0.9

    @Option(parsing: .unconditional, help: "vLLM --max-num-batched-tokens of the runs (default: vLLM's for the GPU).")
    var maxNumBatchedTokens: Int?

    @Option(parsing: .unconditional, help: "Memory vLLM keeps besides weights and KV cache, GiB; default: estimated per model.")
    var runtimeOverheadGib: Double?

    @OptionGroup var output: FormatOptions

    func run() throws {
        try runReportingErrors {
            if let runtimeOverheadGib, !(runtimeOverheadGib >= 0 && runtimeOverheadGib.isFinite) {
                throw CostError.badParameter(what: "--runtime-overhead-gib", message: "must be a non-negative number, got \(runtimeOverheadGib)")
            }
            if let out {
                let o = URL(fileURLWithPath: out).standardizedFileURL.path
                if measurements.contains(where: { URL(fileURLWithPath: $0).standardizedFileURL.path == o }) {
                    throw ValidationError("--out \(out) is one of the measurement files; choose another path")
                }
                if FileManager.default.fileExists(atPath: out) && !force { throw ValidationError("--out \(out) exists; give --force to overwrite it") }
                try checkReplaceable(out, option: "--out")
            }
            let profile = try HardwareProfiles.named(hardware, in: HardwareProfiles.catalogue(userFile: hardwareFile))
            let data = try ServingMeasurements.load(paths: measurements, defaults: .init(model: model.map(absolutePath), inputLength: isl, outputLength: osl, dtype: dtype))
            guard !data.runs.isEmpty else { throw ValidationError("no runs in \(measurements.joined(separator: ", "))") }
            // A vLLM JSON named in a CSV row is an input too, known only once the rows are read.
            if let out { try checkOutputFile(out, option: "--out", inputs: data.files, force: force) }
            let serving = ServingSettings(gpuMemoryUtilization: gpuMemoryUtilization, maxNumBatchedTokens: maxNumBatchedTokens,
                                          runtimeOverheadBytes: runtimeOverheadGib.map(GiB.toBytes))
            try serving.validate()
            var base = profile
            base.calibration = nil
            let cal = ThroughputCalibration(hardware: base, serving: serving, runs: data.runs)
            var warnings = data.warnings + (try cal.checkMemory())
            let fit = try cal.fit()
            let loo = try cal.leaveOneOut()
            if !fit.atDefaults.isEmpty {
                warnings.append("\(data.runs.count) run\(data.runs.count == 1 ? " determines" : "s determine") only \(fit.fitted.isEmpty ? "nothing" : fit.fitted.map(\.rawValue).joined(separator: ", ")); left at their defaults: \(fit.atDefaults.map(\.rawValue).joined(separator: ", ")) (compute_efficiency needs compute-bound runs: long prompts, short outputs; step_overhead_ms needs runs with short steps: a much smaller model)")
            }
            let (calibrated, notes) = cal.profile(fit: fit, loo: loo, sha256: data.sha256)
            warnings += notes
            for w in warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            let c = calibrated.calibration!
            if let out {
                let doc = HardwareProfileFile(profiles: [calibrated])
                do { try writeFileAtomically(try PruneKitJSON.data(doc, pretty: true), to: out) } catch let e as FileAccessError {
                    throw CostError.badHardwareFile(file: out, message: e.message)
                }
            }
            switch output.format {
            case .json:
                try printJSON(CalibrateOutput(profile: calibrated, warnings: warnings, written: out))
            case .table:
                print("\(base.name): " + String(format: "%.0f GB/s, %.1f TFLOP/s bf16 dense", base.memoryBandwidth / 1e9, base.peakFLOPS / 1e12)
                      + "; \(data.runs.count) run\(data.runs.count == 1 ? "" : "s") (SHA-256 \(data.sha256.prefix(16))…)")
                print(cal.table(fit: fit, loo: loo))
                print("fitted: " + (fit.fitted.isEmpty ? "nothing" : fit.fitted.map(\.rawValue).joined(separator: ", "))
                      + (fit.atDefaults.isEmpty ? "" : "; at defaults: " + fit.atDefaults.map(\.rawValue).joined(separator: ", ")))
                print("calibrated: " + c.summary(profile: calibrated.name))
                if let out { print("wrote \(out); use it with --hardware-file \(out) (or hardware_file: in a recipe)") }
                else { print("(give --out FILE to write the calibrated profile)") }
            }
        }
    }
}

/// `cost calibrate --format json`: the calibrated profile, the warnings, and the file written (null when none).
struct CalibrateOutput: Encodable {
    var profile: HardwareProfile
    var warnings: [String]
    var written: String?
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(profile, forKey: .profile); try c.encode(warnings, forKey: .warnings); try c.encode(written, forKey: .written)
    }
    enum CodingKeys: String, CodingKey { case profile, warnings, written }
}
