import Foundation
import XCTest
import PruneKit

/// The serving model (pruning.md §5) and its calibration from measured runs: synthetic runs generated from known
/// parameters must give them back, noisy runs must still predict within 5 %, and every bad input names its line.
final class ThroughputCalibrationTests: XCTestCase {
    let truth = ThroughputParameters(computeEfficiency: 0.45, bandwidthEfficiency: 0.8, stepOverheadSeconds: 0.004)

    var dir = ""
    override func setUp() { dir = Fixtures.tempDir("cost-calibrate") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Copies the fixture configs next to the measurement files, as a user's folders would be.
    func models() throws {
        for (name, src) in [("nano-9b", Fixtures.config9B), ("nano-12b", Fixtures.config12B), ("qwen3-like", Fixtures.configQwen3Like),
                            ("tiny", Fixtures.nemoTiny + "/config.json")] {
            try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: src, toPath: dir + "/" + name + "/config.json")
        }
    }

    func write(_ name: String, _ text: String) throws -> String {
        let p = dir + "/" + name
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    /// A design that determines all three parameters on an A10G: a prefill-heavy run (η_c), decode runs at small and
    /// large concurrency and two architectures (η_b), and a tiny model whose steps are mostly overhead (τ: with only
    /// 8–9B models every step takes 35–50 ms, and τ is nearly collinear with η_b).
    let design: [(model: String, isl: Int, osl: Int, prompts: Int?, maxConc: Int?)] = [
        ("nano-9b", 8192, 16, 32, nil),
        ("nano-9b", 1024, 1024, 256, nil),
        ("nano-9b", 128, 512, 2, nil),
        ("qwen3-like", 1024, 1024, 64, nil),
        ("qwen3-like", 4096, 64, 16, nil),
        ("nano-9b", 2048, 256, nil, 8),
        ("tiny", 512, 512, 64, nil),
        ("tiny", 2048, 128, 8, nil),
    ]

    /// Writes the design as CSV with output tokens/s from `truth`, each multiplied by `noise[i]`.
    func syntheticCSV(noise: [Double]? = nil) throws -> (path: String, exact: [Double]) {
        try models()
        var header = "model,isl,osl,num_prompts,max_concurrency,dtype,output_tokens_per_second\n"
        // Runs with the measured figure left blank, to predict them with the truth.
        for d in design { header += "\(d.model),\(d.isl),\(d.osl),\(d.prompts.map(String.init) ?? ""),\(d.maxConc.map(String.init) ?? ""),bf16,1\n" }
        let blank = try write("blank.csv", header)
        let data = try ServingMeasurements.load(paths: [blank])
        let cal = ThroughputCalibration(hardware: try HardwareProfiles.named("a10g"), runs: data.runs)
        let exact = data.runs.indices.map { cal.predict($0, truth)!.outputTokensPerSecond }
        var csv = "model,isl,osl,num_prompts,max_concurrency,dtype,output_tokens_per_second\n"
        for (i, d) in design.enumerated() {
            csv += "\(d.model),\(d.isl),\(d.osl),\(d.prompts.map(String.init) ?? ""),\(d.maxConc.map(String.init) ?? ""),bf16,\(exact[i] * (noise?[i] ?? 1))\n"
        }
        return (try write("runs.csv", csv), exact)
    }

    // MARK: - Serving model by hand

    func testServingConcurrencyByHand() throws {
        let m = try CostModel(hardware: HardwareProfiles.named("a10g"))
        let c9 = try NemotronHConfig.load(path: Fixtures.config9B), q = try NemotronHConfig.load(path: Fixtures.configQwen3Like)
        // runtime overhead estimate: 8192 tokens × (hidden 4480 + Mamba in_proj 2·128·80 + 2·8·128 + 128 = 22,656) × 2 bytes × 2
        // + 256 sequences × 131,072 vocab × 4 bytes = 889,192,448 + 134,217,728 = 1,023,410,176
        XCTAssertEqual(m.estimatedRuntimeOverheadBytes(c9), 1_023_410_176)
        // pool = ⌊0.9 × 23,686,744,637⌋ = 21,318,070,173 − weights 17,776,454,656 − 1,023,410,176 = 2,518,205,341
        XCTAssertEqual(m.kvPoolBytes(c9), 2_518_205_341)
        // per sequence at 24,576 tokens: 16,384 × 24,576 + 143,548,416 = 546,201,600 → ⌊4.61⌋ = 4
        XCTAssertEqual(m.memoryConcurrency(c9), 4)
        // Qwen3-like: overhead 8192 × (4096 + FFN 18,432) × 4 + 256 × 151,936 × 4 = 893,779,968;
        // pool 21,318,070,173 − 16,381,452,288 − 893,779,968 = 4,042,837,917; 147,456 × 24,576 = 3,623,878,656 → 1
        XCTAssertEqual(m.kvPoolBytes(q), 4_042_837_917)
        XCTAssertEqual(m.concurrency(q), 1)
        // A given overhead replaces the estimate.
        var o = ServingSettings(); o.runtimeOverheadBytes = 1 << 30
        XCTAssertEqual(try CostModel(hardware: HardwareProfiles.named("a10g"), serving: o).kvPoolBytes(c9), 21_318_070_173 - 17_776_454_656 - (1 << 30))
        // max_num_seqs and the prompt count cap it; the paper's budget check is unchanged (19.66 GiB).
        var s = ServingSettings(); s.maxNumSeqs = 3
        XCTAssertEqual(try CostModel(hardware: HardwareProfiles.named("a10g"), serving: s).concurrency(c9), 3)
        s = ServingSettings(); s.numPrompts = 2
        XCTAssertEqual(try CostModel(hardware: HardwareProfiles.named("a10g"), serving: s).concurrency(c9), 2)
        XCTAssertEqual(m.budgetBytes, 21_106_543_034)
        // vLLM's batch defaults: 256 / 8192 on an A10G, 1024 / 16384 on an H100 (≥ 70 GiB, not an A100).
        XCTAssertEqual(ServingSettings().maxNumSeqs(for: try HardwareProfiles.named("a10g")), 256)
        XCTAssertEqual(ServingSettings().maxNumBatchedTokens(for: try HardwareProfiles.named("h100")), 16384)
    }

    /// N prompts at concurrency B run as ⌊N/B⌋ full waves and one partial wave; each wave is prefill + decode.
    func testWavesAndStepOverheadByHand() throws {
        let c9 = try NemotronHConfig.load(path: Fixtures.config9B)
        var s = ServingSettings(); s.numPrompts = 40
        let m = try CostModel(hardware: HardwareProfiles.named("a10g"), workload: Workload(inputLength: 1024, outputLength: 100),
                              stepOverheadSeconds: 0.002, serving: s)
        // pool 2,518,205,341 / (16,384 × 1,124 + 143,548,416 = 161,964,032) = ⌊15.5⌋ = 15 → waves of 15, 15, 10
        let b = m.concurrency(c9)
        XCTAssertEqual(b, 15)
        let full = 40 / b, rest = 40 % b
        var t = Double(full) * (m.prefillSeconds(c9, batch: b) + m.decodeSeconds(c9, batch: b))
        if rest > 0 { t += m.prefillSeconds(c9, batch: rest) + m.decodeSeconds(c9, batch: rest) }
        let p = try XCTUnwrap(m.serve(c9))
        XCTAssertEqual(p.totalSeconds, t, accuracy: 1e-12 * t)
        XCTAssertEqual(p.outputTokensPerSecond, 4000 / t, accuracy: 1e-9)
        XCTAssertEqual(m.prefillSteps(batch: 15), 2)   // ⌈15 × 1024 / 8192⌉
        // Decode: 99 steps (prefill emits the first token), each τ + max(memory, compute); the naive loop is the truth.
        let (mem, comp) = m.decodeStepLines(c9, batch: 1)
        var naive = 0.0
        for ctx in 1025...1123 { naive += 0.002 + max(mem(Double(ctx)), comp(Double(ctx))) }
        XCTAssertEqual(m.decodeSeconds(c9, batch: 1), naive, accuracy: 1e-12 * naive)
    }

    // MARK: - Fit

    func testSyntheticRunsRecoverTheParametersWithinOnePercent() throws {
        let (path, _) = try syntheticCSV()
        let data = try ServingMeasurements.load(paths: [path])
        XCTAssertEqual(data.runs.count, 8)
        XCTAssertEqual(data.sha256.count, 64)
        let cal = ThroughputCalibration(hardware: try HardwareProfiles.named("a10g"), runs: data.runs)
        XCTAssertEqual(try cal.checkMemory(), [])
        let fit = try cal.fit()
        XCTAssertEqual(fit.fitted, ThroughputCalibration.Parameter.allCases)
        XCTAssertEqual(fit.parameters.computeEfficiency, truth.computeEfficiency, accuracy: 0.01 * truth.computeEfficiency)
        XCTAssertEqual(fit.parameters.bandwidthEfficiency, truth.bandwidthEfficiency, accuracy: 0.01 * truth.bandwidthEfficiency)
        XCTAssertEqual(fit.parameters.stepOverheadSeconds, truth.stepOverheadSeconds, accuracy: 0.01 * truth.stepOverheadSeconds)
        for r in fit.logResiduals { XCTAssertLessThan(abs(r), 1e-4) }
        let loo = try XCTUnwrap(try cal.leaveOneOut())
        for e in loo { XCTAssertLessThan(abs(e), 0.01) }
        let rel = [fit.parameters.computeEfficiency / truth.computeEfficiency, fit.parameters.bandwidthEfficiency / truth.bandwidthEfficiency,
                   fit.parameters.stepOverheadSeconds / truth.stepOverheadSeconds].map { abs($0 - 1) }
        print("synthetic fit: \(fit.parameters) in \(fit.iterations) iterations; largest relative parameter error \(String(format: "%.2e", rel.max()!)); LOO max \(String(format: "%.2e", loo.map(abs).max()!))")
    }

    func testFitIsStableUnderFivePercentNoise() throws {
        let noise = [1.05, 0.95, 1.03, 0.96, 1.04, 0.97, 1.02, 0.95]
        let (path, exact) = try syntheticCSV(noise: noise)
        let data = try ServingMeasurements.load(paths: [path])
        let cal = ThroughputCalibration(hardware: try HardwareProfiles.named("a10g"), runs: data.runs)
        let fit = try cal.fit()
        for i in data.runs.indices {
            let p = cal.predict(i, fit.parameters)!.outputTokensPerSecond
            XCTAssertEqual(p / exact[i], 1, accuracy: 0.05, "run \(i): \(p) vs noiseless \(exact[i])")
        }
        // And on the workload the search ranks by (8k/16k, steady state), for both architectures.
        for path in [Fixtures.config9B, Fixtures.configQwen3Like] {
            let c = try NemotronHConfig.load(path: path)
            let tTruth = try CostModel(hardware: HardwareProfiles.named("a10g"), computeEfficiency: truth.computeEfficiency,
                                       bandwidthEfficiency: truth.bandwidthEfficiency, stepOverheadSeconds: truth.stepOverheadSeconds).serve(c)!
            let tFit = try CostModel(hardware: HardwareProfiles.named("a10g"), computeEfficiency: min(1, fit.parameters.computeEfficiency),
                                     bandwidthEfficiency: min(1, fit.parameters.bandwidthEfficiency), stepOverheadSeconds: fit.parameters.stepOverheadSeconds).serve(c)!
            XCTAssertEqual(tFit.outputTokensPerSecond / tTruth.outputTokensPerSecond, 1, accuracy: 0.05, path)
        }
        let worst = data.runs.indices.map { abs(cal.predict($0, fit.parameters)!.outputTokensPerSecond / exact[$0] - 1) }.max()!
        print("noisy fit (±5 %): \(fit.parameters); largest prediction error against the noiseless runs \(String(format: "%.2f %%", worst * 100)); LOO \((try cal.leaveOneOut() ?? []).map { String(format: "%+.1f", $0 * 100) })")
    }

    func testFewerRunsThanParametersFitsOnlyWhatTheDataDetermines() throws {
        try models()
        let one = try write("one.csv", "model,isl,osl,num_prompts,output_tokens_per_second\nnano-9b,1024,1024,64,120\n")
        let data = try ServingMeasurements.load(paths: [one])
        let cal = ThroughputCalibration(hardware: try HardwareProfiles.named("a10g"), runs: data.runs)
        let fit = try cal.fit()
        XCTAssertEqual(fit.fitted.count, 1)
        XCTAssertEqual(fit.atDefaults.count, 2)
        XCTAssertTrue(fit.atDefaults.contains(.computeEfficiency), "a decode-bound run says nothing about η_c: \(fit.atDefaults)")
        XCTAssertEqual(cal.predict(0, fit.parameters)!.outputTokensPerSecond, 120, accuracy: 0.01)
        XCTAssertNil(try cal.leaveOneOut())
        let (profile, _) = cal.profile(fit: fit, loo: nil, sha256: data.sha256)
        let c = try XCTUnwrap(profile.calibration)
        XCTAssertEqual(c.defaults.count, 2)
        XCTAssertTrue(c.summary(profile: "A10G").contains("at defaults: "), c.summary(profile: "A10G"))
    }

    // MARK: - The profile

    func testCalibratedProfileRoundTripsAndIsUsedAndNamed() throws {
        let (path, _) = try syntheticCSV()
        let data = try ServingMeasurements.load(paths: [path])
        let cal = ThroughputCalibration(hardware: try HardwareProfiles.named("a10g"), runs: data.runs)
        let fit = try cal.fit()
        let (profile, notes) = cal.profile(fit: fit, loo: try cal.leaveOneOut(), sha256: data.sha256)
        XCTAssertEqual(notes, [])
        let file = try write("a10g-calibrated.json", PruneKitJSON.string(HardwareProfileFile(profiles: [profile]), pretty: true))
        let loaded = try HardwareProfiles.named("a10g", in: HardwareProfiles.catalogue(userFile: file))
        let c = try XCTUnwrap(loaded.calibration)
        XCTAssertEqual(c.measurementsSHA256, data.sha256)
        XCTAssertEqual(c.runs, 8)
        XCTAssertEqual(c.residuals.arrayValue?.count, 8)
        XCTAssertEqual(c.parameters.bandwidthEfficiency, fit.parameters.bandwidthEfficiency, accuracy: 1e-9)
        XCTAssertNotNil(c.looRMSErrorPercent)

        let c9 = try NemotronHConfig.load(path: Fixtures.config9B)
        let calibrated = try CostModel(hardware: loaded)
        XCTAssertTrue(calibrated.isCalibrated)
        XCTAssertEqual(calibrated.parameters, c.parameters)
        XCTAssertTrue(calibrated.evaluate(c9, context: 131_072, batch: 1).table.contains("calibrated: A10G fitted to 8 runs"))
        let plain = try CostModel(hardware: HardwareProfiles.named("a10g"))
        XCTAssertFalse(plain.isCalibrated)
        XCTAssertTrue(plain.throughputBasis.hasPrefix("uncalibrated defaults"), plain.throughputBasis)
        XCTAssertEqual(plain.evaluate(c9, context: 131_072, batch: 1).output.throughput.calibrated, false)
        // A value given by hand overrides the calibration, and the model says so.
        XCTAssertFalse(try CostModel(hardware: loaded, computeEfficiency: 0.5).isCalibrated)

        // The recipe's hardware_file picks it up, and studies describe it.
        let recipe = try Recipe(yaml: "model: nano-9b\nhardware: a10g\nhardware_file: a10g-calibrated.json\nsearch_space: {num_layers: [52]}\n", path: dir + "/r.yaml")
        XCTAssertTrue(try recipe.costModel().isCalibrated)
        XCTAssertTrue(recipe.hardwareDescription.contains("throughput calibrated on 8 runs"), recipe.hardwareDescription)
        let plainRecipe = try Recipe(yaml: "model: nano-9b\nhardware: a10g\nsearch_space: {num_layers: [52]}\n", path: dir + "/r.yaml")
        XCTAssertTrue(plainRecipe.hardwareDescription.contains("uncalibrated"), plainRecipe.hardwareDescription)
    }

    /// Runs faster than the profile's peak allow: the peak is raised and the efficiency set to 1, with a note.
    func testEfficiencyAboveOneRaisesThePeak() throws {
        try models()
        // Prefill-heavy runs at twice what η_c = 1 on a 70 TFLOP/s A10G gives.
        var csv = "model,isl,osl,num_prompts,output_tokens_per_second\n"
        let rows = [(8192, 16, 32), (4096, 16, 32)]
        let blank = try write("b.csv", csv + rows.map { "nano-9b,\($0.0),\($0.1),\($0.2),1" }.joined(separator: "\n") + "\n")
        let probe = ThroughputCalibration(hardware: try HardwareProfiles.named("a10g"), runs: try ServingMeasurements.load(paths: [blank]).runs)
        let fast = ThroughputParameters(computeEfficiency: 1.6, bandwidthEfficiency: 0.7, stepOverheadSeconds: 0)
        csv += rows.enumerated().map { "nano-9b,\($1.0),\($1.1),\($1.2),\(probe.predict($0, fast)!.outputTokensPerSecond)" }.joined(separator: "\n") + "\n"
        let data = try ServingMeasurements.load(paths: [try write("fast.csv", csv)])
        let cal = ThroughputCalibration(hardware: try HardwareProfiles.named("a10g"), runs: data.runs)
        let fit = try cal.fit()
        XCTAssertEqual(fit.parameters.computeEfficiency, 1.6, accuracy: 0.016)
        let (profile, notes) = cal.profile(fit: fit, loo: nil, sha256: data.sha256)
        XCTAssertEqual(profile.calibration?.parameters.computeEfficiency, 1)
        XCTAssertEqual(profile.peakFLOPS / 1e12, 112, accuracy: 1.2)
        XCTAssertTrue(notes.first?.contains("peak is raised") ?? false, "\(notes)")
    }

    // MARK: - vLLM JSON

    func testReadsVLLMBenchThroughputJSON() throws {
        try models()
        // The fields vllm/benchmarks/throughput.py writes with --output-json.
        let j = #"{"elapsed_time": 100.0, "num_requests": 64, "total_num_tokens": 131072, "requests_per_second": 0.64, "tokens_per_second": 1310.72}"#
        let json = try write("run1.json", j)
        // Bare, with the model and lengths given as the calibrate command's options.
        let bare = try ServingMeasurements.load(paths: [json], defaults: .init(model: "nano-9b", inputLength: 1024, outputLength: 1024))
        XCTAssertEqual(bare.runs.count, 1)
        XCTAssertEqual(bare.runs[0].outputTokensPerSecond, 64 * 1024 / 100.0, accuracy: 1e-9)   // 655.36
        XCTAssertEqual(bare.runs[0].numPrompts, 64)
        XCTAssertEqual(bare.warnings, [])
        // Referenced from a CSV row; lengths that disagree with total_num_tokens are a warning naming the line.
        let csv = try write("runs.csv", "model,isl,osl,dtype,vllm_json\nnano-9b,1024,1024,bf16,run1.json\nnano-9b,2048,1024,bf16,run1.json\n")
        let viaRow = try ServingMeasurements.load(paths: [csv])
        XCTAssertEqual(viaRow.runs.count, 2)
        XCTAssertEqual(viaRow.warnings.count, 1)
        XCTAssertTrue(viaRow.warnings[0].contains("runs.csv:3") && viaRow.warnings[0].contains("total_num_tokens"), viaRow.warnings[0])
        // --model / --isl / --osl fill what a CSV row lacks; a row's own value wins.
        let partial = try write("partial.csv", "isl,num_prompts,output_tokens_per_second\n2048,64,100\n,64,90\n")
        let filled = try ServingMeasurements.load(paths: [partial], defaults: .init(model: "nano-9b", inputLength: 1024, outputLength: 512))
        XCTAssertEqual(filled.runs.map(\.inputLength), [2048, 1024])
        XCTAssertEqual(filled.runs.map(\.outputLength), [512, 512])
        XCTAssertThrowsError(try ServingMeasurements.load(paths: [partial])) { e in XCTAssertTrue("\(e)".contains("partial.csv:2") && "\(e)".contains("model"), "\(e)") }
        // Without the model the error says how to give it.
        XCTAssertThrowsError(try ServingMeasurements.load(paths: [json])) { e in
            XCTAssertTrue("\(e)".contains("run1.json") && "\(e)".contains("--model"), "\(e)")
        }
        let broken = try write("broken.json", #"{"elapsed_time": 0, "num_requests": 64, "total_num_tokens": 1}"#)
        XCTAssertThrowsError(try ServingMeasurements.load(paths: [broken], defaults: .init(model: "nano-9b", inputLength: 1, outputLength: 1))) { e in
            XCTAssertTrue("\(e)".contains("elapsed_time") && "\(e)".contains("positive"), "\(e)")
        }
    }

    // MARK: - Bad input

    func expectError(_ csv: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let p = try write("bad.csv", csv)
        XCTAssertThrowsError(try ServingMeasurements.load(paths: [p]), file: file, line: line) { e in
            XCTAssertEqual(ExitStatus.code(for: e), 2, file: file, line: line)
            for f in fragments { XCTAssertTrue("\(e)".contains(f), "\(e) lacks \(f)", file: file, line: line) }
        }
    }

    func testBadMeasurementsNameFileAndLine() throws {
        try models()
        let h = "model,isl,osl,num_prompts,output_tokens_per_second\n"
        try expectError(h + "nano-9b,1024,1024,64,100\nnano-7b,1024,1024,64,100\n", ["bad.csv:3", "unknown model \"nano-7b\""])
        for v in ["0", "-5", "nan", "inf", "fast"] {
            try expectError(h + "nano-9b,1024,1024,64,\(v)\n", ["bad.csv:2", "output_tokens_per_second"])
        }
        try expectError(h + "nano-9b,0,1024,64,100\n", ["bad.csv:2", "\"isl\" must be positive"])
        try expectError(h + "nano-9b,1024,1024,64,100\nnano-9b,2048,1024,64,90\nnano-9b,1024,1024,64,100\n", ["bad.csv:4", "duplicate run", "bad.csv:2"])
        try expectError("model,isl,osl,prompts,output_tokens_per_second\n", ["bad.csv:1", "unknown column \"prompts\""])
        try expectError("model,isl,osl,output_tokens_per_second\nnano-9b,1024,1024,100\n", ["bad.csv:2", "num_prompts"])
        try expectError(h + "nano-9b,1024,1024\n", ["bad.csv:2", "3 fields"])
        try expectError("model,isl,osl,isl,num_prompts,output_tokens_per_second\nnano-9b,1024,1024,2048,64,100\n",
                        ["bad.csv:1", "column \"isl\" appears twice (columns 2 and 4)"])
        // JSONL names the line too.
        let jl = try write("bad.jsonl", "{\"model\": \"nano-9b\", \"isl\": 1024, \"osl\": 1024, \"num_prompts\": 64, \"output_tokens_per_second\": 100}\n\n{\"model\": \"nano-9b\", \"isl\": 1024, \"osl\": -1, \"num_prompts\": 64, \"output_tokens_per_second\": 100}\n")
        XCTAssertThrowsError(try ServingMeasurements.load(paths: [jl])) { e in XCTAssertTrue("\(e)".contains("bad.jsonl:3"), "\(e)") }
        // Repeated measurements of one experiment (different figures) are kept, with a warning.
        let rep = try write("rep.csv", h + "nano-9b,1024,1024,64,100\nnano-9b,1024,1024,64,104\n")
        let r = try ServingMeasurements.load(paths: [rep])
        XCTAssertEqual(r.runs.count, 2)
        XCTAssertTrue(r.warnings.first?.contains("rep.csv:3: repeats the experiment of rep.csv:2") ?? false, "\(r.warnings)")
    }

    func testRunThatDoesNotFitInMemoryIsNamed() throws {
        try models()
        // The 12B's weights (22.93 GiB) exceed 0.9 × 22.06 GiB: not one sequence fits.
        let p = try write("runs.csv", "model,isl,osl,num_prompts,output_tokens_per_second\nnano-9b,1024,1024,64,100\nnano-12b,1024,1024,64,50\n")
        let cal = ThroughputCalibration(hardware: try HardwareProfiles.named("a10g"), runs: try ServingMeasurements.load(paths: [p]).runs)
        XCTAssertThrowsError(try cal.checkMemory()) { e in
            XCTAssertTrue("\(e)".contains("runs.csv:3") && "\(e)".contains("nano-12b does not fit in memory"), "\(e)")
        }
        // A max_concurrency above what fits is a warning naming the run (the model runs what fits).
        let q = try write("conc.csv", "model,isl,osl,max_concurrency,output_tokens_per_second\nnano-9b,8192,16384,64,30\n")
        let w = try ThroughputCalibration(hardware: try HardwareProfiles.named("a10g"), runs: try ServingMeasurements.load(paths: [q]).runs).checkMemory()
        XCTAssertEqual(w.count, 1)
        XCTAssertTrue(w[0].contains("conc.csv:2") && w[0].contains("only 4 sequences fit"), "\(w)")
    }

    /// The published A10G figures (Tests/Fixtures/measurements/nano2-paper-a10g.csv): two runs that are both
    /// decode-bound determine only η_b; the fit says so, and the leave-one-out error is what the README reports.
    func testPublishedNano2FiguresFitOnlyBandwidth() throws {
        let path = Fixtures.root.appendingPathComponent("measurements/nano2-paper-a10g.csv").path
        let data = try ServingMeasurements.load(paths: [path])
        XCTAssertEqual(data.runs.map(\.line), [6, 7])   // comment lines (with quotes) are skipped, lines still counted
        let cal = ThroughputCalibration(hardware: try HardwareProfiles.named("a10g"), runs: data.runs)
        let fit = try cal.fit()
        XCTAssertEqual(fit.fitted, [.bandwidthEfficiency])
        XCTAssertEqual(Set(fit.atDefaults), [.computeEfficiency, .stepOverhead])
        let loo = try XCTUnwrap(try cal.leaveOneOut())
        XCTAssertTrue(loo.allSatisfy(\.isFinite))
        let p = data.runs.indices.map { cal.predict($0, fit.parameters)!.outputTokensPerSecond }
        print(String(format: "published A10G 8k/16k: 9B measured 156.42 predicted %.2f, Qwen3-8B(÷6) measured 26.07 predicted %.2f; LOO %+.1f %% / %+.1f %%; η_b %.3f",
                     p[0], p[1], loo[0] * 100, loo[1] * 100, fit.parameters.bandwidthEfficiency))
    }

    func testCSVQuotesAndComments() throws {
        try models()
        let p = try write("q.csv", "# a comment, with \"quotes\"\r\nmodel,isl,osl,num_prompts,output_tokens_per_second\r\n\"nano-9b\",\"1024\",1024,64,\"100.5\"\r\n")
        let r = try ServingMeasurements.load(paths: [p])
        XCTAssertEqual(r.runs.count, 1)
        XCTAssertEqual(r.runs[0].line, 3)
        XCTAssertEqual(r.runs[0].outputTokensPerSecond, 100.5)
    }

    func testRecipeServingSection() throws {
        let base = "model: nano-9b\nhardware: a10g\nsearch_space: {num_layers: [52]}\n"
        let r = try Recipe(yaml: base + "serving: {gpu_memory_utilization: 0.8, max_num_seqs: 2, runtime_overhead_gib: 0.5}\n", path: dir + "/r.yaml")
        XCTAssertEqual(r.serving.gpuMemoryUtilization, 0.8)
        XCTAssertEqual(try r.costModel().serving.maxNumSeqs, 2)
        XCTAssertEqual(r.serving.runtimeOverheadBytes, 1 << 29)
        XCTAssertThrowsError(try Recipe(yaml: base + "serving: {gpu_util: 0.8}\n", path: dir + "/r.yaml")) { e in
            XCTAssertTrue("\(e)".contains("gpu_util") && "\(e)".contains("gpu_memory_utilization"), "\(e)")
        }
        XCTAssertThrowsError(try Recipe(yaml: base + "serving: {gpu_memory_utilization: 1.5}\n", path: dir + "/r.yaml")) { e in
            XCTAssertTrue("\(e)".contains("serving"), "\(e)")
        }
    }

    // MARK: - Command line

    /// The `prunekit` built next to this test bundle (debug or release).
    var binary: String {
        let u = Bundle(for: Self.self).bundleURL   // the .xctest bundle (macOS) or its directory (Linux)
        return (u.pathExtension == "xctest" ? u.deletingLastPathComponent() : u).appendingPathComponent("prunekit").path
    }

    func run(_ args: [String]) throws -> (out: String, err: String, code: Int32) {
        let r = try TestBinaries.run(binary, args)
        return (r.out, r.err, r.status)
    }

    func testCalibrateCommandWritesAProfileThatCostUses() throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("\(binary) not built") }
        let (csv, _) = try syntheticCSV()
        let out = dir + "/a10g-calibrated.json"
        let r = try run(["cost", "calibrate", csv, "--hardware", "a10g", "--out", out])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("runs.csv:2") && r.out.contains("leave-one-out"), r.out)
        XCTAssertTrue(r.out.contains("calibrated: A10G fitted to 8 runs"), r.out)
        // `prunekit cost MODEL` (the default subcommand) says which figures it uses.
        let model = dir + "/nano-9b"
        let plain = try run(["cost", model, "--hardware", "a10g"])
        XCTAssertEqual(plain.code, 0, plain.err)
        XCTAssertTrue(plain.out.contains("throughput figures") && plain.out.contains("uncalibrated defaults"), plain.out)
        let cal = try run(["cost", model, "--hardware-file", out])
        XCTAssertEqual(cal.code, 0, cal.err)
        XCTAssertTrue(cal.out.contains("calibrated: A10G fitted to 8 runs"), cal.out)
        // --out is never one of the inputs, and not overwritten without --force.
        let again = try run(["cost", "calibrate", csv, "--hardware", "a10g", "--out", out])
        XCTAssertNotEqual(again.code, 0)
        XCTAssertTrue(again.err.contains("--force"), again.err)
        let onto = try run(["cost", "calibrate", csv, "--hardware", "a10g", "--out", csv, "--force"])
        XCTAssertNotEqual(onto.code, 0)
        XCTAssertTrue(onto.err.contains("measurement files"), onto.err)
        // A vLLM JSON named by a CSV row is an input too: --out onto it is refused and it is left unchanged.
        let vllm = #"{"elapsed_time": 100.0, "num_requests": 64, "total_num_tokens": 131072, "tokens_per_second": 1310.72}"#
        let json = try write("run1.json", vllm)
        let rows = try write("rows.csv", "model,isl,osl,dtype,vllm_json\nnano-9b,1024,1024,bf16,run1.json\n")
        let ontoRef = try run(["cost", "calibrate", rows, "--hardware", "a10g", "--out", json, "--force"])
        XCTAssertEqual(ontoRef.code, 2, ontoRef.err)
        XCTAssertTrue(ontoRef.err.contains("run1.json") && ontoRef.err.contains("is the input"), ontoRef.err)
        XCTAssertEqual(try String(contentsOfFile: json, encoding: .utf8), vllm)
        // So is a model's config.json that a row names.
        let config = dir + "/nano-9b/config.json"
        let before = try Data(contentsOf: URL(fileURLWithPath: config))
        let ontoConfig = try run(["cost", "calibrate", rows, "--hardware", "a10g", "--out", config, "--force"])
        XCTAssertEqual(ontoConfig.code, 2, ontoConfig.err)
        XCTAssertTrue(ontoConfig.err.contains("config.json") && ontoConfig.err.contains("is the input"), ontoConfig.err)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: config)), before)
        // --out in a missing folder or onto a directory, and a directory as a measurements file: exit 2, path named.
        let missing = try run(["cost", "calibrate", csv, "--hardware", "a10g", "--out", dir + "/no-such-folder/p.json"])
        XCTAssertEqual(missing.code, 2, missing.err)
        XCTAssertTrue(missing.err.contains("no-such-folder/p.json") && missing.err.contains("the folder does not exist"), missing.err)
        let ontoDir = try run(["cost", "calibrate", csv, "--hardware", "a10g", "--out", dir, "--force"])
        XCTAssertEqual(ontoDir.code, 2, ontoDir.err)
        XCTAssertTrue(ontoDir.err.contains("not a regular file"), ontoDir.err)
        let dirInput = try run(["cost", "calibrate", dir, "--hardware", "a10g"])
        XCTAssertEqual(dirInput.code, 2, dirInput.err)
        XCTAssertTrue(dirInput.err.contains("is a directory"), dirInput.err)
        // One run: the warning names what stayed at its default.
        let one = try write("one.csv", "model,isl,osl,num_prompts,output_tokens_per_second\nnano-9b,1024,1024,64,120\n")
        let w = try run(["cost", "calibrate", one, "--hardware", "a10g"])
        XCTAssertEqual(w.code, 0, w.err)
        XCTAssertTrue(w.err.contains("1 run determines only bandwidth_efficiency; left at their defaults: compute_efficiency, step_overhead_ms"), w.err)
        // A bad line: exit 2, file and line named.
        let bad = try write("bad.csv", "model,isl,osl,num_prompts,output_tokens_per_second\nnano-9b,1024,1024,64,-3\n")
        let b = try run(["cost", "calibrate", bad, "--hardware", "a10g"])
        XCTAssertEqual(b.code, 2)
        XCTAssertTrue(b.err.contains("bad.csv:2"), b.err)
    }
}
