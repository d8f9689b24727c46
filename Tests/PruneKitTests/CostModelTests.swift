import Foundation
import XCTest
import PruneKit

/// Cost model (pruning.md §5, nemotron-h.md §5): every memory figure is checked against arithmetic written out here.
final class CostModelTests: XCTestCase {
    let gib = 1_073_741_824

    func a10g() throws -> CostModel { try CostModel(hardware: HardwareProfiles.named("a10g")) }

    // MARK: - Hardware profiles

    func testBuiltInProfilesLoadFromBundleAndMatchCaseInsensitively() throws {
        let all = try HardwareProfiles.builtIn()
        XCTAssertEqual(all.map(\.name), ["A10G", "L40S", "H100-SXM", "H200"])
        let a = try HardwareProfiles.named("A10g")
        XCTAssertEqual(a.memoryBytes, 23_686_744_637)            // 22.06 × 2^30 = 23,686,744,637.44 → nearest byte
        XCTAssertEqual(a.memoryBandwidth, 600e9)
        XCTAssertEqual(a.peakFLOPS, 70e12)
        XCTAssertTrue(a.source.contains("UNVERIFIED"))
        XCTAssertEqual(try HardwareProfiles.named("h100-sxm").memoryBytes, 80_000_000_000)   // 80 GB nominal
        XCTAssertEqual(try HardwareProfiles.named("H200").memoryBandwidth, 4800e9)
        XCTAssertEqual(try HardwareProfiles.named("l40s").peakFLOPS, 362e12)
        for p in all { XCTAssertFalse(p.source.isEmpty, p.name) }
    }

    func testUnknownHardwareListsKnownNames() throws {
        XCTAssertThrowsError(try HardwareProfiles.named("b200")) { e in
            guard case let CostError.unknownHardware(name, known) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(name, "b200")
            XCTAssertEqual(known, ["A10G", "L40S", "H100-SXM", "H200"])
            XCTAssertTrue("\(e)".contains("A10G, L40S, H100-SXM, H200"))
            XCTAssertEqual(ExitStatus.code(for: e), 2)
        }
    }

    func testUserHardwareFileAddsAndReplacesProfiles() throws {
        let dir = Fixtures.tempDir("cost-hw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/hw.json"
        try #"{"profiles": [{"name": "A10G", "memory_gib": 20, "memory_bandwidth_gbps": 500, "bf16_dense_tflops": 100},"#
            .appending(#" {"name": "MyGPU", "aliases": ["mine"], "memory_bytes": 1000, "memory_bandwidth_gbps": 1, "bf16_dense_tflops": 1}]}"#)
            .write(toFile: path, atomically: true, encoding: .utf8)
        let cat = try HardwareProfiles.catalogue(userFile: path)
        XCTAssertEqual(try HardwareProfiles.named("a10g", in: cat).memoryBytes, 20 * gib)
        XCTAssertEqual(try HardwareProfiles.named("MINE", in: cat).memoryBytes, 1000)
        XCTAssertEqual(try HardwareProfiles.named("h200", in: cat).name, "H200")

        try #"{"name": "X", "memory_gib": 20}"#.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HardwareProfiles.load(path: path)) { e in
            XCTAssertTrue("\(e)".contains("memory_bandwidth_gbps"), "\(e)")
        }
    }

    // MARK: - Memory (hand computations)

    func testA10GBudgetIs19_66GiB() throws {
        // 22.06 GiB = 23,686,744,637 bytes; × (1 − 0.05) = 22,502,407,405.15 → 22,502,407,405
        // − 1.3 GiB (1,395,864,371 bytes) = 21,106,543,034 bytes = 19.657 GiB
        let m = try a10g()
        XCTAssertEqual(m.budgetBytes, 21_106_543_034)
        XCTAssertEqual(GiB.of(m.budgetBytes), 19.66, accuracy: 0.005)
    }

    func testNano9BFitsAt128kOnA10G() throws {
        let c = try NemotronHConfig.load(path: Fixtures.config9B)
        let r = try a10g().evaluate(c, context: 131_072, batch: 1)
        XCTAssertEqual(r.parameters, 8_888_227_328)
        // weights: 8,888,227,328 × 2 (bf16) = 17,776,454,656 bytes = 16.556 GiB
        XCTAssertEqual(r.weightBytes, 17_776_454_656)
        // KV per token: 4 attention layers × 2 (K,V) × 8 kv heads × 128 × 2 bytes = 16,384 bytes (4 KiB per layer)
        XCTAssertEqual(r.kvBytesPerToken, 16_384)
        // conv state: 27 M layers × Cc (10240 + 2·8·128 = 12,288) × (K−1 = 3) × 2 bytes = 1,990,656 bytes
        XCTAssertEqual(r.convStateBytes, 1_990_656)
        // SSM state, float32 (the config's mamba_ssm_cache_dtype): 27 × 128 × 80 × 128 × 4 = 27 × 5 MiB = 141,557,760 bytes
        XCTAssertEqual(r.ssmCacheDType, .float32)
        XCTAssertEqual(r.ssmStateBytes, 141_557_760)
        // total: 17,776,454,656 + 16,384 × 131,072 (= 2,147,483,648 = 2 GiB) + 1,990,656 + 141,557,760
        //      = 20,067,486,720 bytes = 18.689 GiB ≤ 21,106,543,034 (19.657 GiB); slack 1,039,056,314 bytes
        XCTAssertEqual(r.memoryBytes, 20_067_486_720)
        XCTAssertEqual(GiB.of(r.memoryBytes), 18.69, accuracy: 0.005)
        XCTAssertTrue(r.fits)
        XCTAssertEqual(r.slackBytes, 1_039_056_314)
        XCTAssertNoThrow(try CostModel.requireFits(r))

        // With a bf16 SSM state: 27 × 128 × 80 × 128 × 2 = 70,778,880 → 19,996,707,840 bytes = 18.623 GiB
        let bf = try CostModel(hardware: HardwareProfiles.named("a10g"), ssmCacheDType: .bfloat16).evaluate(c, context: 131_072, batch: 1)
        XCTAssertEqual(bf.ssmStateBytes, 70_778_880)
        XCTAssertEqual(bf.memoryBytes, 19_996_707_840)
    }

    func testNano12BDoesNotFitAt128kOnA10G() throws {
        let c = try NemotronHConfig.load(path: Fixtures.config12B)
        let r = try a10g().evaluate(c, context: 131_072, batch: 1)
        XCTAssertEqual(r.parameters, 12_310_001_152)
        // weights: 12,310,001,152 × 2 = 24,620,002,304 bytes = 22.929 GiB, already above the 19.657 GiB budget
        XCTAssertEqual(r.weightBytes, 24_620_002_304)
        // KV per token: 6 × 2 × 8 × 128 × 2 = 24,576; conv 28 × 12,288 × 3 × 2 = 2,064,384; SSM 28 × 5,242,880 = 146,800,640
        XCTAssertEqual(r.kvBytesPerToken, 24_576)
        XCTAssertEqual(r.convStateBytes, 2_064_384)
        XCTAssertEqual(r.ssmStateBytes, 146_800_640)
        // total: 24,620,002,304 + 24,576 × 131,072 (3,221,225,472) + 2,064,384 + 146,800,640 = 27,990,092,800 = 26.068 GiB
        XCTAssertEqual(r.memoryBytes, 27_990_092_800)
        XCTAssertFalse(r.fits)
        XCTAssertEqual(r.slackBytes, 21_106_543_034 - 27_990_092_800)
        XCTAssertEqual(r.maxBatch, 0)
        XCTAssertEqual(r.outputTokensPerSecond, 0)
        XCTAssertNil(r.prefillSeconds)
    }

    // MARK: - Bad input

    func testBudgetSmallerThanWeightsSaysByHowMuch() throws {
        let r = try a10g().evaluate(NemotronHConfig.load(path: Fixtures.config12B), context: 131_072, batch: 1)
        XCTAssertThrowsError(try CostModel.requireFits(r)) { e in
            // 24,620,002,304 − 21,106,543,034 = 3,513,459,270 bytes = 3.27 GiB
            XCTAssertEqual(e as? CostError, .weightsExceedBudget(weightBytes: 24_620_002_304, budgetBytes: 21_106_543_034))
            XCTAssertTrue("\(e)".contains("by 3.27 GiB"), "\(e)")
            XCTAssertEqual(ExitStatus.code(for: e), 4)
        }
        // Weights fit but the caches do not: 9B at 128k × batch 2 = 17,776,454,656 + 2 × 2,291,032,064 = 22,358,518,784
        let r2 = try a10g().evaluate(NemotronHConfig.load(path: Fixtures.config9B), context: 131_072, batch: 2)
        XCTAssertEqual(r2.memoryBytes, 22_358_518_784)
        XCTAssertThrowsError(try CostModel.requireFits(r2)) { e in
            guard case CostError.doesNotFit = e else { return XCTFail("\(e)") }
            XCTAssertEqual(ExitStatus.code(for: e), 4)
        }
    }

    func testNonPositiveLengthsAndBatchAreRejected() throws {
        for (isl, osl) in [(0, 16384), (-1, 16384), (8192, 0), (8192, -5)] {
            XCTAssertThrowsError(try Workload(inputLength: isl, outputLength: osl)) { e in
                guard case CostError.nonPositive = e else { return XCTFail("\(e)") }
                XCTAssertEqual(ExitStatus.code(for: e), 2)
            }
        }
        for (ctx, b) in [(0, 1), (-131072, 1), (131072, 0), (131072, -1)] {
            XCTAssertThrowsError(try CostModel.validate(context: ctx, batch: b)) { e in
                guard case CostError.nonPositive = e else { return XCTFail("\(e)") }
            }
        }
        let hw = try HardwareProfiles.named("a10g")
        XCTAssertThrowsError(try CostModel(hardware: hw, frameworkFraction: 1.0))
        XCTAssertThrowsError(try CostModel(hardware: hw, computeEfficiency: 0))
        XCTAssertThrowsError(try CostModel(hardware: hw, bandwidthEfficiency: 1.5))
        XCTAssertThrowsError(try CostModel(hardware: hw, reservedBytes: -1))
        XCTAssertThrowsError(try CostModel(hardware: hw, reservedBytes: 30 * gib)) { e in   // budget ≤ 0
            guard case CostError.badParameter = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try CostDType.parse("int3"))
    }

    // MARK: - Throughput

    /// The closed-form decode sum against the naive loop over every step.
    func testClosedFormDecodeSumMatchesLoop() throws {
        for (f, g) in [(CostModel.Line(intercept: 1, slope: 0.001), CostModel.Line(intercept: 3, slope: 0.0005)),
                       (CostModel.Line(intercept: 5, slope: 0), CostModel.Line(intercept: 0, slope: 0.001)),
                       (CostModel.Line(intercept: 2, slope: 0.1), CostModel.Line(intercept: 2, slope: 0.1)),
                       (CostModel.Line(intercept: 0.04, slope: 2e-7), CostModel.Line(intercept: 0.01, slope: 1e-8))] {
            for (lo, hi) in [(8193, 24576), (1, 1), (10, 9), (1, 10000)] {
                var naive = 0.0
                if hi >= lo { for c in lo...hi { naive += max(f(Double(c)), g(Double(c))) } }
                let closed = CostModel.sumOfMax(f, g, from: lo, through: hi)
                XCTAssertEqual(closed, naive, accuracy: 1e-9 * max(1, abs(naive)), "\(f) \(g) \(lo)…\(hi)")
            }
        }
        // And on a real model: decode time = Σ over the 16,383 decode steps (prefill emits the first token) of the
        // per-step max (no step overhead by default).
        let m = try a10g(), c = try NemotronHConfig.load(path: Fixtures.config9B)
        let (mem, comp) = m.decodeStepLines(c, batch: 6)
        var naive = 0.0
        for ctx in 8193...24575 { naive += max(mem(Double(ctx)), comp(Double(ctx))) }
        XCTAssertEqual(m.decodeSeconds(c, batch: 6), naive, accuracy: 1e-9 * naive)
    }

    func testPerStepDecodeTermsByHand() throws {
        // 9B, A10G, batch 1: memory line intercept = (17,776,454,656 + 2 × 143,548,416) / (0.7 × 600e9) s,
        // slope = 16,384 / (0.7 × 600e9) s per context token; compute = 2 × P_mm / (0.7 × 70e12),
        // P_mm = 8,888,227,328 − 131,072 × 4480 (input embeddings) = 8,301,024,768.
        let m = try a10g(), c = try NemotronHConfig.load(path: Fixtures.config9B)
        XCTAssertEqual(CostModel.matmulParameters(c), 8_301_024_768)
        let (mem, comp) = m.decodeStepLines(c, batch: 1)
        XCTAssertEqual(mem.intercept, (17_776_454_656.0 + 2 * 143_548_416) / 420e9, accuracy: 1e-12)
        XCTAssertEqual(mem.slope, 16_384 / 420e9, accuracy: 1e-18)
        XCTAssertEqual(comp.intercept, 2 * 8_301_024_768.0 / 49e12, accuracy: 1e-12)
        // attention FLOPs per context token: 4 × (4 layers × 40 heads × 128) = 81,920
        XCTAssertEqual(comp.slope, 81_920 / 49e12, accuracy: 1e-20)
        // prefill of one 8k prompt: (2 × P_mm × 8192 + 2 × 20,480 × 8192²) / 49e12
        let flops = 2 * 8_301_024_768.0 * 8192 + 2 * 20_480.0 * 8192 * 8192
        XCTAssertEqual(m.prefillSeconds(c, batch: 1), flops / 49e12, accuracy: 1e-9)
    }

    func testThroughputNano9BBeats12BAndTransformer() throws {
        let c12 = try NemotronHConfig.load(path: Fixtures.config12B)
        let c9 = try NemotronHConfig.load(path: Fixtures.config9B)
        let q = try NemotronHConfig.load(path: Fixtures.configQwen3Like)
        XCTAssertEqual(q.parameterCount, 8_190_726_144)   // 36 × (41,947,136 + 150,999,040) + 2 × 151,936 × 4096 + 4096
        XCTAssertEqual(q.count(.mamba), 0)

        let m = try a10g()
        let r12 = m.evaluate(c12, context: 24_576, batch: 1)
        let r9 = m.evaluate(c9, context: 24_576, batch: 1)
        let rq = m.evaluate(q, context: 24_576, batch: 1)
        // 9B: vLLM's KV pool at utilisation 0.9 = ⌊0.9 × 23,686,744,637⌋ − 17,776,454,656 − 1,023,410,176 estimated
        // runtime overhead = 2,518,205,341; per sequence at 24,576 tokens: 16,384 × 24,576 + 143,548,416 = 546,201,600
        // → ⌊4.61⌋ = 4 concurrent sequences (the former static model used the paper's 19.66 GiB budget: 6)
        XCTAssertEqual(r9.maxBatch, 4)
        // Qwen3-like: weights 16,381,452,288; KV/token 36 × 2 × 8 × 128 × 2 = 147,456; × 24,576 = 3,623,878,656;
        // pool 4,042,837,917 → 1
        XCTAssertEqual(rq.kvBytesPerToken, 147_456)
        XCTAssertEqual(rq.maxBatch, 1)
        XCTAssertGreaterThan(r9.outputTokensPerSecond, r12.outputTokensPerSecond)
        XCTAssertGreaterThan(r9.outputTokensPerSecond, rq.outputTokensPerSecond)
        print(String(format: "A10G 8k/16k predicted output tok/s: 12B %.2f (batch %d), 9B %.2f (batch %d, prefill %.1f s, decode %.1f s), qwen3-8b-like %.2f (batch %d, prefill %.1f s, decode %.1f s); 9B / Transformer = %.2f×",
                     r12.outputTokensPerSecond, r12.maxBatch, r9.outputTokensPerSecond, r9.maxBatch, r9.prefillSeconds ?? 0, r9.decodeSeconds ?? 0,
                     rq.outputTokensPerSecond, rq.maxBatch, rq.prefillSeconds ?? 0, rq.decodeSeconds ?? 0,
                     r9.outputTokensPerSecond / rq.outputTokensPerSecond))

        // On an H100 both Nano models fit, so the comparison is not just "12B = 0".
        let h = try CostModel(hardware: HardwareProfiles.named("h100-sxm"))
        let h12 = h.evaluate(c12, context: 24_576, batch: 1), h9 = h.evaluate(c9, context: 24_576, batch: 1)
        XCTAssertGreaterThan(h12.maxBatch, 0)
        XCTAssertGreaterThan(h9.outputTokensPerSecond, h12.outputTokensPerSecond)
        print(String(format: "H100-SXM 8k/16k predicted output tok/s: 12B %.1f (batch %d), 9B %.1f (batch %d)",
                     h12.outputTokensPerSecond, h12.maxBatch, h9.outputTokensPerSecond, h9.maxBatch))
    }

    func testJSONRenderingHasExactBytes() throws {
        let r = try a10g().evaluate(NemotronHConfig.load(path: Fixtures.config9B), context: 131_072, batch: 1)
        let j = try JSONParser().parse(PruneKitJSON.data(r.output))
        XCTAssertEqual(j["parameters"]?.intValue, 8_888_227_328)
        XCTAssertEqual(j["memory"]?["memory_bytes"]?.intValue, 20_067_486_720)
        XCTAssertEqual(j["memory"]?["budget_bytes"]?.intValue, 21_106_543_034)
        XCTAssertEqual(j["memory"]?["fits"]?.boolValue, true)
        XCTAssertEqual(j["throughput"]?["max_batch"]?.intValue, 4)
        XCTAssertEqual(j["dtype"]?["ssm_cache"]?.stringValue, "float32")
        XCTAssertNotNil(j["throughput"]?["output_tokens_per_second"]?.doubleValue)
    }

    /// The search calls evaluate for thousands of candidates: no I/O, well under a millisecond each.
    func testEvaluateIsFastForThousandsOfCandidates() throws {
        let m = try a10g()
        let base = try NemotronHConfig.load(path: Fixtures.config9B)
        var candidates = [NemotronHConfig]()
        for h in stride(from: 4480, through: 5120, by: 128) {
            for f in stride(from: 13440, through: 20480, by: 512) {
                for nh in stride(from: 112, through: 128, by: 8) {
                    var c = base; c.hiddenSize = h; c.ffnHiddenSize = f; c.mambaNumHeads = nh
                    candidates.append(c)
                }
            }
        }
        let start = Date()
        var fitting = 0
        for _ in 0..<5 { for c in candidates where m.evaluate(c, context: 131_072, batch: 1).fits { fitting += 1 } }
        let perCall = Date().timeIntervalSince(start) / Double(5 * candidates.count)
        print("evaluate: \(5 * candidates.count) calls, \(String(format: "%.1f", perCall * 1e6)) µs per call, \(fitting / 5) of \(candidates.count) fit")
        XCTAssertLessThan(perCall, 1e-3 * TestBinaries.sanitizerSlowdown)
    }
}
