import Foundation
import PruneKit
import XCTest

/// PruneKit's one JSON convention (formats.md §7): every output is a `Codable` type encoded by ``PruneKitJSON``;
/// each decodes back to the same values, writes a non-finite number as `null`, and has the documented keys.
final class JSONConventionTests: XCTestCase {
    static let repoRoot = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()

    /// Encodes `v`, checks it decodes back to `v`, and returns the parsed JSON.
    @discardableResult
    func roundTrip<T: Codable & Equatable>(_ v: T, file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
        let data = try PruneKitJSON.data(v, pretty: true)
        XCTAssertTrue(try PruneKitJSON.decode(T.self, from: data) == v, "\(T.self) decodes back to the same values", file: file, line: line)
        XCTAssertFalse(String(decoding: data, as: UTF8.self).contains("NaN"), file: file, line: line)
        return try JSONParser(allowNonFinite: false).parse(data)
    }

    func keys(_ v: JSONValue?) -> Set<String> { Set(v?.objectValue?.map(\.0) ?? []) }

    func testFiniteOrNull() throws {
        struct R: Codable, Equatable { @FiniteOrNull var a: Double?; @FiniteOrNull var b: Double }
        XCTAssertEqual(try PruneKitJSON.string(R(a: .nan, b: .infinity)), #"{"a":null,"b":null}"#)
        XCTAssertEqual(try PruneKitJSON.string(R(a: 1.5, b: -2)), #"{"a":1.5,"b":-2}"#)
        let back = try PruneKitJSON.decode(R.self, from: Data(#"{"b":null}"#.utf8))
        XCTAssertNil(back.a, "a missing key reads as nil")
        XCTAssertTrue(back.b.isNaN, "null reads back as NaN for a non-optional number")
        // Report inputs of an older PruneKit wrote non-finite numbers as strings.
        XCTAssertTrue(try PruneKitJSON.decode(R.self, from: Data(#"{"a":"NaN","b":"-Infinity"}"#.utf8)).b == -.infinity)
        // An unmarked non-finite number is refused, not written as a bare NaN.
        struct U: Encodable { var x: Double }
        XCTAssertThrowsError(try PruneKitJSON.data(U(x: .nan)))
    }

    func testCostReportOutput() throws {
        let model = try CostModel(hardware: HardwareProfiles.named("a10g"))
        let r = model.evaluate(try NemotronHConfig.load(path: Fixtures.config9B), context: 131_072, batch: 1)
        let j = try roundTrip(r.output)
        XCTAssertEqual(keys(j), ["hardware", "dtype", "parameters", "weight_bytes", "kv_bytes_per_token", "conv_state_bytes", "ssm_state_bytes",
                                 "mamba_state_bytes", "memory", "throughput"])
        XCTAssertEqual(keys(j["memory"]), ["context", "batch", "kv_bytes", "memory_bytes", "memory_gib", "budget_bytes", "budget_gib", "fits",
                                           "slack_bytes", "slack_gib"])
        XCTAssertEqual(keys(j["throughput"]), ["input_length", "output_length", "num_prompts", "gpu_memory_utilization", "kv_pool_bytes",
                                               "kv_pool_gib", "max_batch", "prefill_seconds", "decode_seconds", "output_tokens_per_second",
                                               "compute_efficiency", "bandwidth_efficiency", "step_overhead_ms", "calibrated", "basis"])
        XCTAssertEqual(keys(j["dtype"]), ["weights", "kv_cache", "ssm_cache"])
        var bad = r.output
        bad.throughput.outputTokensPerSecond = .nan; bad.throughput.prefillSeconds = .infinity
        let jb = try JSONParser(allowNonFinite: false).parse(PruneKitJSON.data(bad))
        XCTAssertEqual(jb["throughput"]?["output_tokens_per_second"], .null)
        XCTAssertEqual(jb["throughput"]?["prefill_seconds"], .null)
    }

    func testInspectOutput() throws {
        let r = try InspectReport.make(path: Fixtures.nemoTiny)
        let j = try roundTrip(r.output)
        XCTAssertEqual(j["parameters_agree"], .bool(true))
        XCTAssertEqual(j["intermediate_size"]?.intValue, r.config.ffnHiddenSize)
        XCTAssertEqual(keys(j["parameters_per_kind"]), ["mamba", "attention", "mlp", "global"])
        XCTAssertTrue(keys(j).isSuperset(of: ["path", "pattern", "num_layers", "layers", "hidden_size", "parameters_formula", "parameters_tensors",
                                              "bytes_per_dtype", "shards", "fingerprint"]))
        // A lone config.json: no tensors, so null agreement and no file keys.
        let c = try roundTrip(InspectReport.make(path: Fixtures.config9B).output)
        XCTAssertEqual(c["parameters_tensors"], .null)
        XCTAssertNil(c["fingerprint"])
    }

    func testTrialMetric() throws {
        let m = TrialMetric(trialNumber: 3, student: "pruned", name: "kd_loss", value: 2.5, kdSteps: 10, note: nil,
                            provenance: .object([("host", .string("h"))]), toolVersion: "1", createdAt: "2026-12-03T00:00:00Z")
        let j = try roundTrip(m)
        XCTAssertEqual(keys(j), ["trial", "student", "name", "value", "kd_steps", "note", "provenance", "tool_version", "created_at"])
        var n = m
        n.value = .infinity
        XCTAssertEqual(try JSONParser(allowNonFinite: false).parse(PruneKitJSON.data(n))["value"], .null)
    }

    func testRecipeEchoAndSearchPlan() throws {
        let recipe = try Recipe.load(path: Self.repoRoot.appendingPathComponent("Searches/nemo-tiny.yaml").path)
        let echo = try roundTrip(recipe.echo)
        XCTAssertEqual(keys(echo), ["model", "calibration", "heldout", "hardware", "budget", "workload", "dtype", "search_space", "snap", "limits",
                                    "top_k", "selection", "target_params", "strategy", "metrics", "objective", "layer_ranking", "seed"])
        XCTAssertEqual(keys(echo["budget"]), ["context", "batch", "framework_fraction", "reserved_gib"])
        XCTAssertEqual(echo["hardware"]?["memory_bytes"]?.intValue, recipe.hardware.memoryBytes)
        var e = recipe.echo
        e.budget.frameworkFraction = .nan
        XCTAssertEqual(try JSONParser(allowNonFinite: false).parse(PruneKitJSON.data(e))["budget"]?["framework_fraction"], .null)
        // The study identity ignores top_k (it may be raised) and nothing else.
        var raised = recipe
        raised.topK += 3
        XCTAssertEqual(ArchitectureSearch.recipeHash(raised), ArchitectureSearch.recipeHash(recipe))
        raised.seed += 1
        XCTAssertNotEqual(ArchitectureSearch.recipeHash(raised), ArchitectureSearch.recipeHash(recipe))

        let source = try ModelFolder(path: Fixtures.nemoTiny).config
        let plan = try SearchPlan(recipe: recipe, source: source, depth: .nano9BMixHeuristic)
        let out = SearchPlanOutput(plan, recipe: recipe)
        let j = try roundTrip(out)
        XCTAssertEqual(keys(j), ["recipe", "recipe_path", "source_params", "source_pattern", "budget_bytes", "depth", "notes", "enumerated",
                                 "feasible", "rejections", "strategy", "picked", "depth_probes", "picked_per_depth", "candidates"])
        let first = try XCTUnwrap(j["candidates"]?.arrayValue?.first)
        XCTAssertEqual(keys(first), ["num_layers", "hidden_size", "ffn_hidden_size", "mamba_num_heads", "mamba_head_dim", "num_attention_heads",
                                     "pattern", "kept_layers", "layer_mix", "architecture_hash", "params", "memory_bytes", "memory_gib",
                                     "slack_bytes", "fits", "max_batch", "tokens_per_second", "feasible", "rejected_by", "reason", "picked"])
        XCTAssertEqual(j["enumerated"]?.intValue, plan.candidates.count)
        var inf = out
        inf.candidates[0].tokensPerSecond = .infinity
        XCTAssertEqual(try JSONParser(allowNonFinite: false).parse(PruneKitJSON.data(inf))["candidates"]?.arrayValue?.first?["tokens_per_second"], .null)
    }

    func testExportPlanOutputAndTrialMetricsOfPruningJSON() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let plan = try PruningPlan.random(source: folder.config, target: TargetArchitecture(dropLayers: [1], hiddenSize: 96), seed: 1)
        let p = try Exporter.plan(folder: folder, plan: plan, options: .init())
        let j = try roundTrip(ExportPlanOutput(p, plan: plan))
        XCTAssertEqual(keys(j), ["target", "parameters", "tensors", "shards", "kept"])
        XCTAssertEqual(j["target"]?["hidden_size"]?.intValue, 96)
        XCTAssertEqual(keys(j["tensors"]?.arrayValue?.first), ["name", "source", "source_shape", "shape", "dtype"])

        let recipe = PruningManifest.Recipe(target: plan.architecture, keepSets: "importance", study: "s", trial: 2,
                                            trialMetrics: .init(kl: .nan, mse: 0.5, loss: nil, predictedTokensPerSecond: 12,
                                                                memoryBytes: 1, budgetBytes: 2), recipeYAML: "seed: 0\n")
        let manifest = PruningManifest(folder: folder, plan: plan, calibrationFingerprint: nil, recipe: recipe)
        let m = try JSONParser(allowNonFinite: false).parse(PruneKitJSON.data(manifest))
        XCTAssertEqual(m["recipe"]?["trial_metrics"]?["kl"], .null, "NaN KL written as null")
        XCTAssertEqual(m["calibration_fingerprint"], .null)
        XCTAssertEqual(keys(m["recipe"]), ["target", "keep_sets", "study", "trial", "trial_metrics", "recipe_yaml"])
        XCTAssertEqual(m["recipe"]?["target"]?["drop_layers"], .array([.int(1)]))
        var finite = manifest
        finite.recipe?.trialMetrics?.kl = 0.25
        try roundTrip(finite)
    }

    func testReportInputWritesNullForNonFinite() throws {
        let cost = CostFigures(parameters: 1, weightBytes: 2, kvBytes: 3, mambaStateBytes: 4, memoryBytes: 9, outputTokensPerSecond: .nan)
        let arch = Architecture(numLayers: 2, hiddenSize: 8, ffnHiddenSize: 16, mambaNumHeads: 2, mambaHeadDim: 4, numAttentionHeads: 1,
                                numKeyValueHeads: 1, pattern: "M-", keptLayers: [0, 1])
        let trial = ReportInput.Trial(number: 0, state: .fail, target: TargetArchitecture(hiddenSize: 8), architecture: arch, cost: cost,
                                      budgetSlackBytes: 1, fits: true, metrics: .init(kl: .infinity, mse: nil, loss: 1), seconds: .nan)
        let study = ReportInput.Study(name: "s", recipeYAML: "", hardware: "A10G", context: 1, batch: 1, inputLength: 1, outputLength: 1,
                                      budgetBytes: 10, checkpointPath: "/m", checkpointFingerprint: "f", calibrationFingerprint: "c",
                                      heldOutFingerprint: nil, created: "now", enumeratedCandidates: 1, feasibleCandidates: 1)
        let input = ReportInput(study: study, source: .init(architecture: arch, cost: cost), scores: nil, trials: [trial])
        let data = try input.jsonData()
        let j = try JSONParser(allowNonFinite: false).parse(data)
        let t = j["trials"]?.arrayValue?.first
        XCTAssertEqual(t?["metrics"]?["kl"], .null)
        XCTAssertEqual(t?["seconds"], .null)
        XCTAssertEqual(t?["cost"]?["output_tokens_per_second"], .null)
        XCTAssertEqual(keys(j["source"]?["architecture"]), ["ffn_hidden_size", "hidden_size", "kept_layers", "mamba_head_dim", "mamba_num_heads",
                                                           "num_attention_heads", "num_key_value_heads", "num_layers", "pattern"])
        XCTAssertEqual(keys(j["source"]?["cost"]), ["kv_bytes", "mamba_state_bytes", "memory_bytes", "output_tokens_per_second", "parameters", "weight_bytes"])
        XCTAssertEqual(t?["target"]?["hidden_size"]?.intValue, 8, "the target has config.json's key names")
        let back = try PruneKitJSON.decode(ReportInput.self, from: data)
        XCTAssertNil(back.trials[0].metrics.kl)
        XCTAssertEqual(back.trials[0].metrics.loss, 1)
        XCTAssertEqual(back.trials[0].target, TargetArchitecture(hiddenSize: 8))
        // An input.json of an older PruneKit (camelCase target keys, "NaN" strings) still reads.
        var legacy = String(decoding: data, as: UTF8.self)
        legacy = legacy.replacingOccurrences(of: "\"hidden_size\" : 8", with: "\"hiddenSize\" : 8")
            .replacingOccurrences(of: "\"seconds\" : null", with: "\"seconds\" : \"NaN\"")
        let old = try PruneKitJSON.decode(ReportInput.self, from: Data(legacy.utf8))
        XCTAssertEqual(old.trials[0].target, TargetArchitecture(hiddenSize: 8))
        XCTAssertTrue(old.trials[0].seconds?.isNaN ?? false)
    }

    /// A report input of an older PruneKit, every key in its camelCase Swift spelling (and the architecture
    /// summary without `num_layers` / `kept_layers`), reads back to the same values.
    func testReportInputReadsCamelCaseKeys() throws {
        let cost = CostFigures(parameters: 1, weightBytes: 2, kvBytes: 3, mambaStateBytes: 4, memoryBytes: 9, outputTokensPerSecond: 7.5)
        let arch = Architecture(numLayers: 2, hiddenSize: 8, ffnHiddenSize: 16, mambaNumHeads: 2, mambaHeadDim: 4, numAttentionHeads: 1,
                                numKeyValueHeads: 1, pattern: "M-", keptLayers: nil)
        let trial = ReportInput.Trial(number: 3, state: .pruned, target: TargetArchitecture(hiddenSize: 8), architecture: arch,
                                      cost: cost, budgetSlackBytes: -1, fits: false, metrics: .init(kl: 0.5, mse: nil, loss: 1),
                                      infeasibleReason: "memory budget", seconds: 2)
        let study = ReportInput.Study(name: "s", recipeYAML: "seed: 0", hardware: "A10G", context: 1, batch: 1, inputLength: 2, outputLength: 3,
                                      budgetBytes: 10, checkpointPath: "/m", checkpointFingerprint: "f", calibrationFingerprint: "c",
                                      heldOutFingerprint: "h", created: "now", enumeratedCandidates: 4, feasibleCandidates: 1)
        var sourceArch = arch
        sourceArch.keptLayers = [0, 1]  // a source model keeps every layer (read so when an old form lacks them)
        var input = ReportInput(study: study, source: .init(architecture: sourceArch, cost: cost), scores: nil, trials: [trial], chosenTrial: 3)
        input.postHoc = [.init(trial: 3, student: "pruned", name: "kd_loss", value: 2.5, kdSteps: 10)]
        let data = try input.jsonData()
        func camel(_ v: JSONValue) -> JSONValue {
            switch v {
            case let .object(o):
                return .object(o.compactMap { k, v in
                    if k == "num_layers" || k == "kept_layers" { return nil }
                    let parts = k.split(separator: "_")
                    let name = parts.enumerated().map { $0.offset == 0 ? String($0.element) : $0.element.capitalized }.joined()
                    return (name == "recipeYaml" ? "recipeYAML" : name, camel(v))
                })
            case let .array(a): return .array(a.map(camel))
            default: return v
            }
        }
        let legacy = JSONWriter().data(camel(try JSONParser().parse(data)))
        XCTAssertTrue(String(decoding: legacy, as: UTF8.self).contains("\"outputTokensPerSecond\""))
        let back = try PruneKitJSON.decode(ReportInput.self, from: legacy)
        XCTAssertEqual(String(decoding: try back.jsonData(), as: UTF8.self), String(decoding: data, as: UTF8.self))
    }

    /// A scoring job's spec: snake_case keys; the camelCase spec_json an older PruneKit stored still reads.
    func testScoringJobSpecKeysAndOldSpecJSON() throws {
        var o = ScoreOptions(); o.remove = 2; o.sequenceAggregation = .max
        var spec = ScoringJobSpec(checkpoint: "ck", calibration: "ca", options: o, numLayers: 4, sampleCount: 3, unitSamples: 2, unitCandidates: 1)
        spec.sampleTokens = [5, 6, 7]
        let j = try roundTrip(spec)
        XCTAssertEqual(keys(j), ["checkpoint", "calibration", "options", "num_layers", "sample_count", "unit_samples", "unit_candidates", "sample_tokens"])
        XCTAssertEqual(keys(j["options"]), ["layers", "metric", "remove", "sequence_aggregation", "sample_aggregation", "dt_floor"])
        let old = #"{"calibration":"ca","checkpoint":"ck","numLayers":4,"options":{"dtFloor":true,"layers":"iterative-mse","metric":"mse","remove":2,"#
            + #""sampleAggregation":"l2","sequenceAggregation":"max"},"sampleCount":3,"sampleTokens":[5,6,7],"unitCandidates":1,"unitSamples":2}"#
        XCTAssertEqual(try JSONDecoder().decode(ScoringJobSpec.self, from: Data(old.utf8)), spec)
    }

    func testHardwareProfileFile() throws {
        let file = HardwareProfileFile(profiles: [try HardwareProfiles.named("a10g")])
        let j = try roundTrip(file)
        XCTAssertEqual(keys(j["profiles"]?.arrayValue?.first), ["name", "aliases", "memory_bytes", "memory_gib", "memory_bandwidth_gbps",
                                                                "bf16_dense_tflops", "source"])
    }
}
