import XCTest
import PruneKit

/// Twins of the engine's optimised paths: panel-streamed bf16 products, batched sequences, the Gram-matrix
/// logit MSE and the layer-major ranking, each against its plain counterpart.
final class EngineTests: XCTestCase {
    /// nemo-tiny rewritten in BF16 (values rounded once; both paths read the same bf16 bits).
    static let bf16Tiny: String = {
        let dir = Fixtures.tempDir("prunekit-engine-bf16")
        let src = try! ModelFolder(path: Fixtures.nemoTiny)
        let entries = src.config.expectedTensors().map { SafetensorsStreamWriter.Entry(name: $0.name, dtype: .BF16, shape: $0.shape) }
        _ = try! CheckpointWriter(outputDir: dir, maxShardBytes: 1 << 30, dtype: .BF16).write(config: src.config, tensors: entries) { e in
            try src.floats(e.name)
        }
        return dir
    }()

    private func ids(_ n: Int, _ T: Int, vocab: Int, seed: UInt64 = 3) -> [[Int32]] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in (0..<T).map { _ in Int32(rng.next() % UInt64(vocab)) } }
    }

    private func maxRel(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        let scale = Double(b.map { abs($0) }.max() ?? 1)
        return zip(a, b).map { Double(abs($0 - $1)) }.max()! / max(scale, 1e-30)
    }

    func testStreamedLinearEqualsWidenWhole() throws {
        let folder = try ModelFolder(path: Self.bf16Tiny)
        let saved = (linearPanelBytes, linearPanelMinRows)
        defer { (linearPanelBytes, linearPanelMinRows) = saved }
        linearPanelMinRows = 1
        for name in ["backbone.layers.0.mixer.in_proj.weight", "backbone.layers.1.mixer.down_proj.weight", "lm_head.weight"] {
            let w = try LinearWeight(name: name, source: folder, cache: false)
            let T = 37
            var rng = SplitMix64(seed: 9)
            let x = (0..<(T * w.inFeatures)).map { _ in Float(rng.uniform() * 2 - 1) }
            let naive = try Naive.linearWidenWhole(x, w, rows: T)
            let plain = Naive.matmulTransB(x, try folder.floats(name), rows: T, inFeatures: w.inFeatures, outFeatures: w.outFeatures)
            for panel in [4 * w.inFeatures * 3, 4 * w.inFeatures * 64, 2 << 20] {  // 3 rows (ragged last panel), 64, all
                linearPanelBytes = panel
                var y = [Float](repeating: .nan, count: T * w.outFeatures)
                try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { try linear($0.baseAddress!, xp.baseAddress!, rows: T, w) } }
                XCTAssertLessThanOrEqual(maxRel(y, naive), 1e-6, "\(name), panel \(panel) bytes")
                XCTAssertLessThanOrEqual(maxRel(y, plain), 1e-5, "\(name) vs double-accumulated loops")
            }
        }
    }

    func testStreamedForwardEqualsCached() throws {
        let folder = try ModelFolder(path: Self.bf16Tiny)
        let cached = try NemotronHModel(source: folder)
        let streamed = try NemotronHModel(source: folder, cacheBudgetBytes: 0)
        XCTAssertNil(streamed.lmHead.cached)
        let s = ids(1, 40, vocab: folder.config.vocabSize)[0]
        let a = try streamed.forward(s), b = try cached.forward(s)
        XCTAssertLessThanOrEqual(maxRel(a, b), 1e-6)
    }

    func testBatchedForwardEqualsOneAtATime() throws {
        let model = try NemotronHModel(source: try ModelFolder(path: Fixtures.nemoTiny))
        let V = model.config.vocabSize
        let batch = ids(3, 24, vocab: V) + ids(1, 9, vocab: V, seed: 4)
        let stacked = try model.forward(batch: batch)
        var row = 0
        for s in batch {
            let own = try model.forward(s)
            XCTAssertEqual(maxRel(Array(stacked[(row * V)..<((row + s.count) * V)]), own), 0, accuracy: 1e-6)
            row += s.count
        }
        // evaluate: batched (default budget) vs one sample per batch.
        let set = CalibrationSet(samples: batch, source: "test")
        let together = try model.evaluate(set)
        model.batchBudgetBytes = 1
        XCTAssertEqual(model.batches(batch.map(\.count), logits: true).count, batch.count)
        let alone = try model.evaluate(set)
        XCTAssertEqual(together.loss, alone.loss, accuracy: 1e-6 * abs(alone.loss))
    }

    func testBatchedWidthScoresEqualOneAtATime() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = CalibrationSet(samples: ids(4, 32, vocab: folder.config.vocabSize), source: "test")
        var o = ScoreOptions(); o.layers = .blockInfluence
        let batched = try Importance.compute(model: try NemotronHModel(source: folder), set: set, options: o)
        let single = try NemotronHModel(source: folder)
        single.batchBudgetBytes = 1
        let alone = try Importance.compute(model: single, set: set, options: o)
        XCTAssertLessThanOrEqual(maxRel(batched.hidden, alone.hidden), 1e-6)
        XCTAssertLessThanOrEqual(maxRel(batched.blockInfluence!, alone.blockInfluence!), 1e-6)
        for (l, v) in alone.ffn { XCTAssertLessThanOrEqual(maxRel(batched.ffn[l]!, v), 1e-6) }
        for (l, v) in alone.mambaChannels { XCTAssertLessThanOrEqual(maxRel(batched.mambaChannels[l]!, v), 1e-6) }
    }

    /// Σ‖Δx·Wᵀ‖² through G = WᵀW equals the direct difference of logits, streamed and cached lm_head alike.
    func testGramMSEEqualsDirect() throws {
        for budget in [4 << 30, 0] {
            let model = try NemotronHModel(source: try ModelFolder(path: Self.bf16Tiny), cacheBudgetBytes: budget)
            let H = model.config.hiddenSize, V = model.config.vocabSize, T = 20
            var rng = SplitMix64(seed: 5)
            let ha = (0..<(2 * T * H)).map { _ in Float(rng.uniform() * 2 - 1) }
            let hb = (0..<(T * H)).map { _ in Float(rng.uniform() * 2 - 1) }
            let la = try model.logits(hidden: ha, rows: 2 * T), lb = try model.logits(hidden: hb, rows: T)
            var direct = 0.0
            for r in 0..<(2 * T) { for v in 0..<V { let d = Double(la[r * V + v]) - Double(lb[(r % T) * V + v]); direct += d * d } }
            var xa = [Float](repeating: 0, count: ha.count), xb = [Float](repeating: 0, count: hb.count)
            ha.withUnsafeBufferPointer { p in xa.withUnsafeMutableBufferPointer { model.finalNorm(hidden: p.baseAddress!, rows: 2 * T, into: $0.baseAddress!) } }
            hb.withUnsafeBufferPointer { p in xb.withUnsafeMutableBufferPointer { model.finalNorm(hidden: p.baseAddress!, rows: T, into: $0.baseAddress!) } }
            let gram = try model.squaredLogitDistance(xa, xb, rows: 2 * T, bRows: T)
            XCTAssertEqual(gram, direct, accuracy: 1e-5 * direct, "cache budget \(budget)")
        }
    }

    /// Layer-major rounds give the candidate-major rankings and scores, also when chunked to a tiny budget.
    /// MSE (Gram matrix vs direct logits) ≤ 1e-6 relative; KL ≤ 1e-5: stacking rows moves small products off
    /// OpenBLAS's small-matrix kernels, whose summation order differs, and KL of close distributions amplifies it.
    func testLayerMajorRankingEqualsCandidateMajor() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = CalibrationSet(samples: ids(2, 24, vocab: folder.config.vocabSize), source: "test")
        let model = try NemotronHModel(source: folder)
        let full = try set.samples.map { try model.forward($0) }
        for metric in ScoreOptions.Metric.allCases {
            let twin = try Importance.iterativeRanking(model: model, set: set, fullLogits: full, metric: metric, remove: 3, order: .candidateMajor)
            for budget in [1 << 30, 1] {
                model.batchBudgetBytes = budget
                let fast = try Importance.iterativeRanking(model: model, set: set, fullLogits: full, metric: metric, remove: 3, order: .layerMajor)
                XCTAssertEqual(fast.removalOrder, twin.removalOrder, "\(metric), budget \(budget)")
                XCTAssertEqual(fast.layerEvaluations, twin.layerEvaluations)
                var worst = 0.0
                for (a, b) in zip(fast.rounds, twin.rounds) {
                    for (l, v) in b.all { worst = max(worst, abs(a.all[l]! - v) / max(abs(v), 1e-12)) }
                }
                print("layer-major vs candidate-major \(metric), batch budget \(budget) B: max relative difference \(worst)")
                XCTAssertLessThanOrEqual(worst, metric == .mse ? 1e-6 : 1e-5)
            }
        }
    }
}
