import XCTest
import PruneKit

/// Keep-set rules (pruning.md §2, §4) and the slicing map of ``SlicedWeights`` against naive re-slicing.
/// Fixture nemo-tiny: pattern M-M*-M-M*-M- (layers 0 M, 1 -, 2 M, 3 *, …), H 128, F 512, nq 4 / nkv 2 / d 32,
/// nh 8 / P 16 / N 16 / G 2, V 1024.
final class PruneTests: XCTestCase {
    var folder: ModelFolder!
    var config: NemotronHConfig { folder.config }

    override func setUpWithError() throws {
        folder = try ModelFolder(path: Fixtures.nemoTiny)
    }

    /// Deterministic scores where the per-group rules and a global ranking disagree.
    func makeScores() -> ImportanceScores {
        let c = config
        var rng = SplitMix64(seed: 7)
        func r(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.uniform()) } }
        var ffn = [Int: [Float]](), attn = [Int: [Float]](), ch = [Int: [Float]](), hd = [Int: [Float]](), mh = [Int: [Float]]()
        for (l, k) in c.pattern.enumerated() {
            switch k {
            case .mlp: ffn[l] = r(c.ffnHiddenSize)
            case .attention: attn[l] = [0.9, 0.8, 0.1, 0.2]    // global top-2 = heads 0,1; per KV group = 0 and 3
            case .mamba:
                // Group 0 (heads 0..3) scores far above group 1 (heads 4..7): a global top-4 would take group 0.
                var v = [Float]()
                for h in 0..<c.mambaNumHeads { for p in 0..<c.mambaHeadDim { v.append((h < 4 ? 10 : 1) * Float(h % 4 + 1) + Float(p) * 0.01) } }
                ch[l] = v
                hd[l] = (0..<c.mambaHeadDim).map { Float(($0 * 7) % 16) }   // a permutation: not monotone in p
                mh[l] = (0..<c.mambaNumHeads).map { h in Float(h < 4 ? 10 : 1) * Float(h % 4 + 1) }
            }
        }
        return ImportanceScores(hidden: r(c.hiddenSize), ffn: ffn, attentionHeads: attn, mambaChannels: ch,
                                mambaHeadDim: hd, mambaHeads: mh, blockInfluence: nil, layerRanking: nil)
    }

    // MARK: - Keep-set rules

    func testTopKRestoresOriginalOrder() {
        XCTAssertEqual(topK([0.1, 0.5, 0.3, 0.9], 2), [1, 3])
        XCTAssertEqual(topK([5, 1, 4, 2, 3], 3), [0, 2, 4])
        XCTAssertEqual(topK([1, 1, 1], 2), [0, 1], "ties break toward the lower index")
    }

    func testAttentionHeadsKeptPerKVGroup() throws {
        let plan = try PruningPlan(source: config, scores: makeScores(), target: TargetArchitecture(numAttentionHeads: 2))
        for l in [3, 8] {
            XCTAssertEqual(plan.keptAttentionHeads[l], [0, 3], "one head per KV group (heads 0,1 | 2,3), not the global top 2")
        }
        XCTAssertEqual(plan.target.numAttentionHeads, 2)
        XCTAssertEqual(plan.target.numKeyValueHeads, 2)
    }

    func testMambaHeadsPerGroupAndSharedHeadDim() throws {
        let scores = makeScores()
        let plan = try PruningPlan(source: config, scores: scores, target: TargetArchitecture(mambaNumHeads: 4, mambaHeadDim: 8))
        let expectedDims = topK(scores.mambaHeadDim[0]!, 8)
        for l in [0, 2, 5, 7, 10] {
            let heads = plan.keptMambaHeads[l]!
            XCTAssertEqual(heads.count, 4)
            XCTAssertEqual(heads.filter { $0 < 4 }.count, 2, "layer \(l): two heads from group 0")
            XCTAssertEqual(heads.filter { $0 >= 4 }.count, 2, "layer \(l): two heads from group 1")
            XCTAssertEqual(heads, [2, 3, 6, 7], "layer \(l): the best two of each group, ascending")
            XCTAssertEqual(plan.keptMambaHeadDim[l], expectedDims)
            XCTAssertEqual(plan.keptMambaHeadDim[l], plan.keptMambaHeadDim[l]!.sorted())
        }
        XCTAssertEqual(plan.target.mambaNumHeads, 4)
        XCTAssertEqual(plan.target.mambaHeadDim, 8)
    }

    func testMambaHeadsRankedOverKeptChannelsOnly() throws {
        // Head 0's only strong channel is p = 0; with p = 0 pruned it must lose to head 1.
        let c = config
        var s = makeScores()
        for l in [0, 2, 5, 7, 10] {
            var ch = [Float](repeating: 1, count: c.mambaNumHeads * c.mambaHeadDim)
            ch[0 * c.mambaHeadDim + 0] = 100
            ch[1 * c.mambaHeadDim + 5] = 2
            s.mambaChannels[l] = ch
            s.mambaHeadDim[l] = (0..<c.mambaHeadDim).map { $0 == 0 ? 0 : Float($0) }
        }
        let plan = try PruningPlan(source: c, scores: s, target: TargetArchitecture(mambaNumHeads: 2, mambaHeadDim: 15))
        XCTAssertEqual(plan.keptMambaHeadDim[0], Array(1..<16))
        XCTAssertEqual(plan.keptMambaHeads[0], [1, 4], "head 1 wins group 0 over the kept channels; group 1 ties → lowest index")
    }

    func testInvalidTargetsRefusedWithReason() throws {
        let s = makeScores()
        func refused(_ t: TargetArchitecture, _ needle: String, line: UInt = #line) {
            XCTAssertThrowsError(try PruningPlan(source: config, scores: s, target: t), line: line) { e in
                XCTAssertTrue(String(describing: e).contains(needle), "\(e) should mention \(needle)", line: line)
            }
        }
        refused(TargetArchitecture(mambaNumHeads: 5), "not a multiple of n_groups 2")
        refused(TargetArchitecture(numAttentionHeads: 3), "not a multiple of num_key_value_heads 2")
        refused(TargetArchitecture(hiddenSize: 256), "larger than the source's 128")
        refused(TargetArchitecture(ffnHiddenSize: 0), "must be positive")
        refused(TargetArchitecture(numLayers: 10, dropLayers: [1]), "not both")
        refused(TargetArchitecture(dropLayers: [12]), "layer 12 to drop does not exist")
        refused(TargetArchitecture(dropLayers: [1, 1]), "duplicates")
        refused(TargetArchitecture(numLayers: 10), "iterative layer ranking")
        XCTAssertThrowsError(try PruningPlan(source: config, scores: nil, target: TargetArchitecture(hiddenSize: 64))) { e in
            XCTAssertTrue(String(describing: e).contains("hidden channel scores"))
        }
        var short = s
        short.hidden = Array(short.hidden.prefix(10))
        XCTAssertThrowsError(try PruningPlan(source: config, scores: short, target: TargetArchitecture(hiddenSize: 64))) { e in
            XCTAssertTrue(String(describing: e).contains("have 10 entries, expected 128"), "\(e)")
        }
    }

    func testDepthByDropListAndByRanking() throws {
        let p = try PruningPlan(source: config, scores: nil, target: TargetArchitecture(dropLayers: [3, 8]))
        XCTAssertEqual(p.keptLayers, [0, 1, 2, 4, 5, 6, 7, 9, 10, 11])
        XCTAssertEqual(p.target.patternString, "M-M-M-M-M-")
        var s = makeScores()
        s.layerRanking = LayerRanking(metric: "mse", rounds: [LayerRemovalRound(removed: 6, score: 0.1, all: [:]),
                                                               LayerRemovalRound(removed: 3, score: 0.2, all: [:])],
                                      layerEvaluations: 0, maxEvaluationsPerRound: 0)
        let q = try PruningPlan(source: config, scores: s, target: TargetArchitecture(numLayers: 10))
        XCTAssertEqual(q.keptLayers, [0, 1, 2, 4, 5, 7, 8, 9, 10, 11])
        XCTAssertEqual(q.target.patternString, "M-M-MM*-M-")
    }

    func testParameterCountMatchesTensorShapes() throws {
        let plan = try PruningPlan(source: config, scores: makeScores(),
                                   target: TargetArchitecture(dropLayers: [1], hiddenSize: 96, ffnHiddenSize: 256, mambaNumHeads: 4, mambaHeadDim: 8, numAttentionHeads: 2))
        let sliced = SlicedWeights(base: folder, plan: plan)
        var n = 0
        for (name, shape) in plan.target.expectedTensors() {
            XCTAssertEqual(try sliced.shape(of: name), shape, name)
            n += shape.reduce(1, *)
        }
        XCTAssertEqual(n, plan.target.parameterCount)
        XCTAssertEqual(Set(sliced.slices.keys), Set(plan.target.expectedTensors().map(\.name)))
    }

    // MARK: - Slicing against naive re-slicing

    /// Everything pruned at once, including Mamba heads and head-dim.
    func fullPlan() throws -> PruningPlan {
        try PruningPlan(source: config, scores: makeScores(),
                        target: TargetArchitecture(dropLayers: [1, 3], hiddenSize: 96, ffnHiddenSize: 256, mambaNumHeads: 4, mambaHeadDim: 8, numAttentionHeads: 2))
    }

    /// out[i][j] = src[rows[i]][cols[j]] for a row-major [R, C] source.
    func gather(_ src: [Float], cols C: Int, rows: [Int], cols keep: [Int]) -> [Float] {
        var out = [Float]()
        for r in rows { for c in keep { out.append(src[r * C + c]) } }
        return out
    }

    func testInProjConvNormOutProjMatchNaiveSlice() throws {
        let plan = try fullPlan()
        let sliced = SlicedWeights(base: folder, plan: plan)
        let c = config
        let H = c.hiddenSize, P = c.mambaHeadDim, nh = c.mambaNumHeads, I = nh * P, N = c.ssmStateSize, G = c.nGroups, K = c.convKernel
        let Kh = plan.keptHidden
        for (j, l) in plan.keptLayers.enumerated() where c.pattern[l] == .mamba {
            let heads = plan.keptMambaHeads[l]!, dims = plan.keptMambaHeadDim[l]!
            let sp = "backbone.layers.\(l).mixer.", tp = "backbone.layers.\(j).mixer."
            // in_proj rows, written out section by section: z | x | B | C | dt.
            var rows = [Int]()
            for h in heads { for p in dims { rows.append(h * P + p) } }                 // z
            for h in heads { for p in dims { rows.append(I + h * P + p) } }             // x
            for g in 0..<G { for n in 0..<N { rows.append(2 * I + g * N + n) } }        // B
            for g in 0..<G { for n in 0..<N { rows.append(2 * I + G * N + g * N + n) } } // C
            for h in heads { rows.append(2 * I + 2 * G * N + h) }                       // dt
            XCTAssertEqual(rows.count, plan.target.inProjDim)
            let srcIn = try folder.floats(sp + "in_proj.weight")
            XCTAssertEqual(try sliced.floats(tp + "in_proj.weight"), gather(srcIn, cols: H, rows: rows, cols: Kh), "in_proj of layer \(l)")
            // conv1d over x | B | C.
            var convRows = [Int]()
            for h in heads { for p in dims { convRows.append(h * P + p) } }
            for k in 0..<(2 * G * N) { convRows.append(I + k) }
            let srcConv = try folder.floats(sp + "conv1d.weight")
            XCTAssertEqual(try sliced.floats(tp + "conv1d.weight"), gather(srcConv, cols: K, rows: convRows, cols: Array(0..<K)), "conv1d.weight of layer \(l)")
            let srcBias = try folder.floats(sp + "conv1d.bias")
            XCTAssertEqual(try sliced.floats(tp + "conv1d.bias"), convRows.map { srcBias[$0] }, "conv1d.bias of layer \(l)")
            // Per-head vectors.
            for name in ["A_log", "D", "dt_bias"] {
                let src = try folder.floats(sp + name)
                XCTAssertEqual(try sliced.floats(tp + name), heads.map { src[$0] }, "\(name) of layer \(l)")
            }
            // Gated norm and out_proj over the kept (h, p).
            let xs = heads.flatMap { h in dims.map { h * P + $0 } }
            let srcNorm = try folder.floats(sp + "norm.weight")
            XCTAssertEqual(try sliced.floats(tp + "norm.weight"), xs.map { srcNorm[$0] }, "norm.weight of layer \(l)")
            let srcOut = try folder.floats(sp + "out_proj.weight")
            XCTAssertEqual(try sliced.floats(tp + "out_proj.weight"), gather(srcOut, cols: I, rows: Kh, cols: xs), "out_proj of layer \(l)")
        }
    }

    func testAttentionMLPAndGlobalTensorsMatchNaiveSlice() throws {
        let plan = try fullPlan()
        let sliced = SlicedWeights(base: folder, plan: plan)
        let c = config, H = c.hiddenSize, d = c.headDim, Kh = plan.keptHidden
        for (j, l) in plan.keptLayers.enumerated() {
            let sp = "backbone.layers.\(l).", tp = "backbone.layers.\(j)."
            let srcNorm = try folder.floats(sp + "norm.weight")
            XCTAssertEqual(try sliced.floats(tp + "norm.weight"), Kh.map { srcNorm[$0] })
            switch c.pattern[l] {
            case .attention:
                var qRows = [Int]()
                for h in plan.keptAttentionHeads[l]! { for k in 0..<d { qRows.append(h * d + k) } }
                let q = try folder.floats(sp + "mixer.q_proj.weight"), o = try folder.floats(sp + "mixer.o_proj.weight")
                let kp = try folder.floats(sp + "mixer.k_proj.weight")
                XCTAssertEqual(try sliced.floats(tp + "mixer.q_proj.weight"), gather(q, cols: H, rows: qRows, cols: Kh))
                XCTAssertEqual(try sliced.floats(tp + "mixer.o_proj.weight"), gather(o, cols: c.numAttentionHeads * d, rows: Kh, cols: qRows))
                XCTAssertEqual(try sliced.floats(tp + "mixer.k_proj.weight"), gather(kp, cols: H, rows: Array(0..<(c.numKeyValueHeads * d)), cols: Kh))
            case .mlp:
                let Kf = plan.keptFFN[l]!
                let up = try folder.floats(sp + "mixer.up_proj.weight"), down = try folder.floats(sp + "mixer.down_proj.weight")
                XCTAssertEqual(try sliced.floats(tp + "mixer.up_proj.weight"), gather(up, cols: H, rows: Kf, cols: Kh))
                XCTAssertEqual(try sliced.floats(tp + "mixer.down_proj.weight"), gather(down, cols: c.ffnHiddenSize, rows: Kh, cols: Kf))
            case .mamba: break
            }
        }
        let emb = try folder.floats("backbone.embeddings.weight")
        XCTAssertEqual(try sliced.floats("backbone.embeddings.weight"), gather(emb, cols: H, rows: Array(0..<c.vocabSize), cols: Kh))
        let nf = try folder.floats("backbone.norm_f.weight")
        XCTAssertEqual(try sliced.floats("backbone.norm_f.weight"), Kh.map { nf[$0] })
        // Partial reads agree with whole reads (the exporter and the model read ranges).
        let whole = try sliced.floats("backbone.layers.0.mixer.in_proj.weight")
        var part = [Float](repeating: 0, count: 150)
        try part.withUnsafeMutableBufferPointer { try sliced.read("backbone.layers.0.mixer.in_proj.weight", into: $0.baseAddress!, from: 77, count: 150) }
        XCTAssertEqual(part, Array(whole[77..<227]))
    }

    // MARK: - Forward

    func testIdentityPlanForwardEqualsSource() throws {
        let plan = try PruningPlan(source: config, scores: nil, target: TargetArchitecture())
        XCTAssertEqual(plan.target.parameterCount, config.parameterCount)
        let ids: [Int32] = (0..<40).map { Int32(($0 * 37 + 5) % config.vocabSize) }
        let a = try NemotronHModel(source: folder).forward(ids)
        let b = try NemotronHModel(source: SlicedWeights(base: folder, plan: plan)).forward(ids)
        XCTAssertEqual(a, b)
    }

    func testScoresJSONRoundTripAndReferenceFile() throws {
        var s = makeScores()
        s.layerRanking = LayerRanking(metric: "mse", rounds: [LayerRemovalRound(removed: 3, score: 0.5, all: [3: 0.5, 4: 0.75])],
                                      layerEvaluations: 12, maxEvaluationsPerRound: 6)
        s.blockInfluence = (0..<12).map { Float($0) / 8 }
        let text = JSONWriter(indent: nil).string(s.json)
        let back = try ImportanceScores(json: try JSONParser().parse(text))
        XCTAssertEqual(back, s)        // `json` writes every score, per-channel Mamba scores included
        // The transformers reference scores of the fixture read and give a plan (heads ranked by mamba_heads).
        let ref = try ImportanceScores.load(path: Fixtures.nemoTiny + "/ref-scores.json")
        XCTAssertEqual(ref.hidden.count, 128)
        XCTAssertEqual(ref.layerRanking?.rounds.first?.removed, 3)
        let plan = try PruningPlan(source: config, scores: ref, target: TargetArchitecture(numLayers: 10, hiddenSize: 96, mambaNumHeads: 4))
        XCTAssertEqual(plan.keptLayers.count, 10)
        XCTAssertThrowsError(try PruningPlan(source: config, scores: ref, target: TargetArchitecture(mambaNumHeads: 4, mambaHeadDim: 8))) { e in
            XCTAssertTrue(String(describing: e).contains("Mamba channel scores"), "\(e)")
        }
        XCTAssertThrowsError(try ImportanceScores(json: try JSONParser().parse(#"{"hidden": [1, "x"], "ffn": {}, "attention_heads": {}, "mamba_heads": {}, "mamba_head_dim": {}}"#))) { e in
            XCTAssertTrue(String(describing: e).contains("hidden[1]"), "\(e)")
        }
        XCTAssertThrowsError(try ImportanceScores(json: try JSONParser().parse(#"{"hidden": [1]}"#))) { e in
            XCTAssertTrue(String(describing: e).contains("\"ffn\""), "\(e)")
        }
    }
}
