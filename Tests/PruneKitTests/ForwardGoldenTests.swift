import XCTest
import PruneKit

/// The forward pass against transformers' fp32 outputs (Tests/Fixtures/*/golden.safetensors, made by
/// Scripts/reference/make_golden.py): every layer's hidden state and the logits must agree to
/// 1e-4 · max(1, max |reference|).
final class ForwardGoldenTests: XCTestCase {
    func checkGolden(modelDir: String, goldenPath: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let folder = try ModelFolder(path: modelDir)
        let golden = try SafetensorsFile(path: goldenPath)
        let model = try NemotronHModel(source: folder)
        XCTAssertTrue(model.dtFloor)
        let idsInfo = try golden.info("input_ids")
        XCTAssertEqual(idsInfo.dtype, .I32)
        let (B, T) = (idsInfo.shape[0], idsInfo.shape[1])
        let raw = try golden.rawBytes("input_ids")
        let ids: [Int32] = (0..<(B * T)).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self) }
        let refLogits = try golden.floats("logits")
        let refHidden = try golden.floats("hidden_states")
        let H = folder.config.hiddenSize, V = folder.config.vocabSize, L = folder.config.numLayers
        XCTAssertEqual(try golden.info("hidden_states").shape, [L + 1, B, T, H])

        var maxDiffPerLayer = [Float](repeating: 0, count: L + 1)
        var maxRefPerLayer = [Float](repeating: 0, count: L + 1)
        var maxLogitDiff: Float = 0, maxLogitRef: Float = 0
        for b in 0..<B {
            let sample = Array(ids[(b * T)..<((b + 1) * T)])
            let tap = ForwardTap(points: [.embeddings, .layerOut, .finalNorm]) { ev in
                // golden index 0 = embeddings, i = output of layer i−1 (i < L), L = after norm_f.
                let gi: Int
                switch ev.point {
                case .embeddings: gi = 0
                case .layerOut: gi = ev.layer + 1
                case .finalNorm: gi = L
                default: return
                }
                guard gi <= L, !(ev.point == .layerOut && gi == L) else { return }
                let base = (gi * B + b) * T * H
                for k in 0..<(T * H) {
                    maxDiffPerLayer[gi] = max(maxDiffPerLayer[gi], abs(ev.data[k] - refHidden[base + k]))
                    maxRefPerLayer[gi] = max(maxRefPerLayer[gi], abs(refHidden[base + k]))
                }
            }
            let logits = try model.forward(sample, tap: tap)
            for k in 0..<(T * V) {
                maxLogitDiff = max(maxLogitDiff, abs(logits[k] - refLogits[b * T * V + k]))
                maxLogitRef = max(maxLogitRef, abs(refLogits[b * T * V + k]))
            }
        }
        for gi in 0...L {
            let tol = 1e-4 * max(1, maxRefPerLayer[gi])
            let name = gi == 0 ? "embeddings" : gi == L ? "norm_f" : "layer \(gi - 1) (\(folder.config.pattern[gi - 1].rawValue))"
            print(String(format: "golden %@: max |diff| %.3g (max |ref| %.3g, tol %.3g)", name, maxDiffPerLayer[gi], maxRefPerLayer[gi], tol))
            XCTAssertLessThanOrEqual(maxDiffPerLayer[gi], tol, "hidden state \(name)", file: file, line: line)
        }
        let tol = 1e-4 * max(1, maxLogitRef)
        print(String(format: "golden logits: max |diff| %.3g (max |ref| %.3g, tol %.3g)", maxLogitDiff, maxLogitRef, tol))
        XCTAssertLessThanOrEqual(maxLogitDiff, tol, "logits", file: file, line: line)
    }

    func testNemoTinyMatchesTransformers() throws {
        try checkGolden(modelDir: Fixtures.nemoTiny, goldenPath: Fixtures.nemoTiny + "/golden.safetensors")
    }

    /// The fixture re-saved as 3 bf16 shards (Tests/Fixtures/nemo-tiny-bf16-sharded), against goldens
    /// made for that folder by Scripts/reference/make_golden.py (3 held-out texts × 64 tokens).
    func testBF16ShardedMatchesTransformers() throws {
        let dir = Fixtures.root.appendingPathComponent("nemo-tiny-bf16-sharded").path
        let folder = try ModelFolder(path: dir)
        XCTAssertTrue(folder.isSharded)
        XCTAssertEqual(folder.files.count, 3)
        XCTAssertEqual(Set(folder.bytesPerDType.keys), [.BF16])
        try checkGolden(modelDir: dir, goldenPath: Fixtures.root.appendingPathComponent("goldens/nemo-tiny-bf16-sharded.safetensors").path)
    }

    func testDtFloorSwitchChangesOutput() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let model = try NemotronHModel(source: folder)
        let ids: [Int32] = (0..<64).map { Int32(($0 * 37 + 5) % 1024) }
        let a = try model.forward(ids)
        model.dtFloor = false
        let b = try model.forward(ids)
        XCTAssertEqual(a.count, b.count)
        // Both are valid forwards; they differ only where softplus(dt) < time_step_min.
        XCTAssertFalse(a.contains { !$0.isFinite })
        XCTAssertFalse(b.contains { !$0.isFinite })
    }

    func testTokenOutOfRangeIsAnError() throws {
        let model = try NemotronHModel(source: try ModelFolder(path: Fixtures.nemoTiny))
        XCTAssertThrowsError(try model.forward([1, 2, 1024])) { e in
            XCTAssertTrue("\(e)".contains("token id 1024"), "\(e)")
            XCTAssertTrue("\(e)".contains("position 2"), "\(e)")
        }
        XCTAssertThrowsError(try model.forward([])) { e in XCTAssertTrue("\(e)".contains("no tokens"), "\(e)") }
        XCTAssertThrowsError(try model.evaluate(CalibrationSet(samples: [], source: "x"))) { e in
            XCTAssertTrue("\(e)".contains("no samples"), "\(e)")
        }
    }

    /// Running a prefix, caching the hidden state, then the rest equals the full forward (layer subsets).
    func testLayerSubsetsComposeAndStreamingEqualsCached() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let cached = try NemotronHModel(source: folder)
        let streamed = try NemotronHModel(source: folder, cacheBudgetBytes: 0) // widen on every use, lm_head chunked
        let ids: [Int32] = (0..<80).map { Int32(($0 * 131 + 7) % 1024) }
        let full = try cached.forward(ids)
        var h = try cached.embed(ids)
        try cached.runLayers(0..<5, hidden: &h, rows: ids.count)
        try cached.runLayers(5..<12, hidden: &h, rows: ids.count)
        XCTAssertEqual(try cached.logits(hidden: h, rows: ids.count), full)
        XCTAssertEqual(try streamed.forward(ids), full)
        // An explicit kept-layer list skips layers.
        let kept = [0, 1, 2, 4, 5, 6, 8, 9, 10, 11]
        var h2 = try cached.embed(ids)
        try cached.runLayers(kept, hidden: &h2, rows: ids.count)
        XCTAssertEqual(try cached.logits(hidden: h2, rows: ids.count), try cached.forward(ids, layers: kept))
    }

    /// A NaN in a weight is an error naming the first layer whose output is not finite, never a NaN loss.
    func testNonFiniteWeightNamesTheLayer() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        var tensors = [String: (shape: [Int], values: [Float])]()
        for (name, shape) in folder.config.expectedTensors() { tensors[name] = (shape, try folder.floats(name)) }
        tensors["backbone.layers.5.mixer.out_proj.weight"]!.values[3] = .nan
        let model = try NemotronHModel(source: InMemoryWeights(config: folder.config, tensors: tensors))
        let set = CalibrationSet(samples: [(0..<16).map { Int32($0 + 3) }], source: "t")
        XCTAssertThrowsError(try model.evaluate(set)) { e in
            XCTAssertTrue("\(e)".contains("layer 5"), "\(e)")
            XCTAssertTrue("\(e)".contains("NaN"), "\(e)")
        }
        // A one-token sample has no next token to predict: an error, not a NaN loss.
        let ok = try NemotronHModel(source: folder)
        XCTAssertThrowsError(try ok.evaluate(CalibrationSet(samples: [[5]], source: "t"))) { e in
            XCTAssertTrue("\(e)".contains("at least 2"), "\(e)")
        }
    }

    /// eval's loss streamed in row chunks (nobody asks for the logits) equals the loss from whole logits (an
    /// `onLogits` consumer), per sample, to 1e-7 relative (lm_head's product then has a sample's rows instead of the
    /// batch's, so sgemm may round differently; measured ≈ 3e-8); and the next-token NLL of row chunks adds up to the whole sample's.
    func testStreamedEvalLossEqualsWholeLogits() throws {
        let model = try NemotronHModel(source: try ModelFolder(path: Fixtures.nemoTiny))
        let set = CalibrationSet(samples: [(0..<40).map { Int32($0 * 5 % 200 + 3) }, (0..<17).map { Int32($0 + 9) }], source: "t")
        let streamed = try model.evaluate(set)
        var logits = [[Float]]()
        let whole = try model.evaluate(set) { _, l in logits.append(l) }
        XCTAssertEqual(streamed.sampleLosses.count, 2)
        for (a, b) in zip(streamed.sampleLosses, whole.sampleLosses) { XCTAssertEqual(a, b, accuracy: 1e-7 * max(1, abs(b))) }
        XCTAssertEqual(streamed.predictedTokens, whole.predictedTokens)
        let V = model.config.vocabSize, ids = set.samples[0]
        let all = LogitComparison.nextToken(logits: logits[0], ids: ids, vocab: V)
        var parts = LogitComparison()
        logits[0].withUnsafeBufferPointer { lp in
            for (lo, hi) in [(0, 7), (7, 39), (39, 40)] {
                parts.add(LogitComparison.nextToken(logits: UnsafeBufferPointer(rebasing: lp[(lo * V)..<(hi * V)]), ids: ids, firstRow: lo, vocab: V))
            }
        }
        XCTAssertEqual(parts.nll, all.nll, accuracy: 1e-9 * abs(all.nll))
        XCTAssertEqual(parts.predicted, ids.count - 1)
        XCTAssertEqual(parts.rows, ids.count)
    }
}
