import Foundation
import PruneKit

/// Matrix-product FLOPs of one layer of `kind` over T rows (projections; attention scores and weighted sums
/// as full [T, T] products per head). The scan, conv and norms are not products.
func layerProductFLOPs(_ c: NemotronHConfig, _ kind: LayerKind, tokens T: Int) -> Double {
    let t = Double(T), H = Double(c.hiddenSize)
    switch kind {
    case .mamba: return 2 * t * H * Double(c.inProjDim) + 2 * t * Double(c.mambaIntermediate) * H
    case .attention:
        let qd = Double(c.numAttentionHeads * c.headDim), kvd = Double(c.numKeyValueHeads * c.headDim)
        return 2 * t * H * (2 * qd + 2 * kvd) + Double(c.numAttentionHeads) * 4 * t * t * Double(c.headDim)
    case .mlp: return 4 * t * H * Double(c.ffnHiddenSize)
    }
}

/// Per-layer forward time at the real Nano-12B-v2 widths, T = 512: bf16 weights streamed from a sparse
/// synthetic checkpoint and widened per use in panels, against the same layers with cached fp32 weights; the
/// whole-layer widening of the earlier engine (panel = whole matrix) for reference; lm_head; and one
/// candidate's logit MSE through lm_head's Gram matrix against the direct logits.
func benchNano12B() throws {
    let dir = NSTemporaryDirectory() + "prunekit-bench-12b-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cfg = SyntheticCheckpoint.nano12BShaped(pattern: "M*-")
    try SyntheticCheckpoint.writeSparse(config: cfg, dir: dir)
    let folder = try ModelFolder(path: dir)
    let T = 512
    let ids = (0..<T).map { Int32($0 * 7 % cfg.vocabSize) }
    let savedPanel = linearPanelBytes
    var rows = [(String, [Double], Double)]()
    for (label, budget, panel) in [("cached fp32", 8 << 30, savedPanel), ("widened per use, panels", 0, savedPanel),
                                   ("widened per use, 256 MiB blocks (earlier engine)", 0, 256 << 20)] {
        linearPanelBytes = panel
        defer { linearPanelBytes = savedPanel }
        let model = try NemotronHModel(source: folder, cacheBudgetBytes: budget)
        var h = try model.embed(ids)
        var w = h
        try model.runLayer(0, hidden: &w, rows: T)  // warm: caches (cached run) and pages the mapping in
        if budget > 0 { try model.runLayers(1..<3, hidden: &w, rows: T) }
        var times = [Double]()
        for l in 0..<3 {
            let t0 = Date()
            try model.runLayer(l, hidden: &h, rows: T)
            times.append(Date().timeIntervalSince(t0))
        }
        let t0 = Date()
        _ = try model.logits(hidden: h, rows: T)
        let head = Date().timeIntervalSince(t0)
        rows.append((label, times, head))
        // Nano-12B-v2: 28 M, 6 *, 28 - layers.
        let full = 28 * times[0] + 6 * times[1] + 28 * times[2] + head
        print(String(format: "  T = %d, %@: M %.2f s, * %.2f s, - %.2f s, lm_head %.2f s → 62-layer 12B forward ≈ %.0f s (%.1f tokens/s)",
                     T, label, times[0], times[1], times[2], head, full, Double(T) / full))
    }
    let c = rows[0], p = rows[1], whole = rows[2]
    print(String(format: "  widened-per-use / cached: M %.2f×, * %.2f×, - %.2f×, lm_head %.2f× (earlier engine: M %.2f×, * %.2f×, - %.2f×, lm_head %.2f×)",
                 p.1[0] / c.1[0], p.1[1] / c.1[1], p.1[2] / c.1[2], p.2 / c.2,
                 whole.1[0] / c.1[0], whole.1[1] / c.1[1], whole.1[2] / c.1[2], whole.2 / c.2))

    // Logit MSE of one candidate [T, H] against the full model: Gram matrix vs direct logits (streamed lm_head).
    let model = try NemotronHModel(source: folder, cacheBudgetBytes: 0)
    let H = cfg.hiddenSize
    var rng = SplitMix64(seed: 1)
    let a = (0..<(T * H)).map { _ in Float(rng.uniform()) }, b = (0..<(T * H)).map { _ in Float(rng.uniform()) }
    var t0 = Date()
    _ = try model.lmHeadGram()
    let gramBuild = Date().timeIntervalSince(t0)
    t0 = Date()
    _ = try model.squaredLogitDistance(a, b, rows: T, bRows: T)
    let gram = Date().timeIntervalSince(t0)
    t0 = Date()
    _ = try model.logits(hidden: a, rows: T)
    let direct = Date().timeIntervalSince(t0)
    print(String(format: "  logit MSE of one candidate, T = %d: Gram matrix %.2f s vs direct logits %.2f s (%.0f× faster); G = WᵀW [%d, %d] built once in %.1f s",
                 T, gram, direct, direct / gram, H, H, gramBuild))
}

/// One round of the iterative ranking on a 12B-width synthetic checkpoint with 8 layers (T = 512, 1 sample),
/// bf16 streamed (no fp32 cache, as for a real 12B): layer-major with the Gram MSE vs the earlier engine
/// (candidate-major, each layer widened whole on every use, MSE from full logits), the share of the
/// same-process sgemm peak over the round's matrix products, and the peak memory of the layer-major round.
func benchRanking() throws {
    let dir = NSTemporaryDirectory() + "prunekit-bench-rank-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cfg = SyntheticCheckpoint.nano12BShaped(pattern: "M-M-M*-M")
    try SyntheticCheckpoint.writeSparse(config: cfg, dir: dir)
    let folder = try ModelFolder(path: dir)
    let T = 512, S = cfg.numLayers, H = cfg.hiddenSize, V = cfg.vocabSize
    let set = CalibrationSet(samples: [(0..<T).map { Int32($0 * 7 % cfg.vocabSize) }], source: "bench")
    let model = try NemotronHModel(source: folder, cacheBudgetBytes: 0)
    // The full model's references (as `score` has them from the width pass): logits and final-normed rows.
    var h = try model.embed(set.samples[0])
    try model.runLayers(0..<S, hidden: &h, rows: T)
    var x = [Float](repeating: 0, count: T * H)
    h.withUnsafeBufferPointer { hp in x.withUnsafeMutableBufferPointer { model.finalNorm(hidden: hp.baseAddress!, rows: T, into: $0.baseAddress!) } }
    let fullLogits = try model.logits(hidden: h, rows: T)
    _ = try model.lmHeadGram()  // once per model (see the nano12b section for its time)

    // Products of one round: (S − 1) prefix + S(S − 1)/2 suffix layer evaluations, and per candidate either
    // its logits (2·T·H·V) or the Gram product (2·T·H²).
    var layerFlops = 0.0
    for j in 0..<S { layerFlops += Double(j == S - 1 ? j : j + 1) * layerProductFLOPs(cfg, cfg.pattern[j], tokens: T) }
    let gramFlops = layerFlops + Double(S) * 2 * Double(T * H * H)
    let logitFlops = layerFlops + Double(S) * 2 * Double(T * H * V)

    // The sgemm peak of this process, measured before and after the rounds (the larger counts): one measurement
    // taken while other processes load the shared cores understates it.
    func peakNow() -> Double {
        max(sgemmPeak(rows: T, inner: H, cols: cfg.ffnHiddenSize, repeats: 3), sgemmPeak(rows: S * T, inner: H, cols: 4096, repeats: 3))
    }
    let peakBefore = peakNow()
    _ = resetPeakRSS()
    let sampler = RSSSampler()
    sampler.start()
    var u0 = CPUUsage.now()
    var t0 = Date()
    let fast = try Importance.iterativeRanking(model: model, set: set, fullLogits: [fullLogits], fullFinalNorm: [x], metric: .mse,
                                               remove: 1, order: .layerMajor)
    let layerMajor = Date().timeIntervalSince(t0)
    let fastCPU = CPUUsage.now() - u0
    sampler.stop()
    let peak = procStatus()["VmHWM"] ?? 0

    let saved = linearPanelBytes
    linearPanelBytes = 256 << 20  // the earlier engine: whole layers, lm_head in 256 MiB chunks
    u0 = CPUUsage.now()
    t0 = Date()
    let twin = try Importance.iterativeRanking(model: model, set: set, fullLogits: [fullLogits], metric: .mse, remove: 1, order: .candidateMajor)
    let candidateMajor = Date().timeIntervalSince(t0)
    let twinCPU = CPUUsage.now() - u0
    linearPanelBytes = saved
    precondition(fast.layerEvaluations == twin.layerEvaluations)

    let peakRate = max(peakBefore, peakNow())
    let gb = { (b: Int) in String(format: "%.2f GB", Double(b) / 1e9) }
    print("  8 layers \(cfg.patternString) at 12B widths, T = \(T), 1 sample, bf16 streamed; \(fast.layerEvaluations) layer evaluations per round")
    print(String(format: "  one round: layer-major + Gram MSE %.1f s vs candidate-major, whole-layer widening, logits MSE %.1f s → %.2f× faster",
                 layerMajor, candidateMajor, candidateMajor / layerMajor))
    print(String(format: "  products: layer-major %.1f GFLOP/s, candidate-major %.1f GFLOP/s; sgemm peak %.1f GFLOP/s (same process) → layer-major %.0f %% of peak",
                 gramFlops / layerMajor / 1e9, logitFlops / candidateMajor / 1e9, peakRate, 100 * gramFlops / layerMajor / 1e9 / peakRate))
    print("  CPU: layer-major \(fastCPU.summary); candidate-major \(twinCPU.summary)")
    print("  peak RSS of the layer-major round \(gb(peak)) (anonymous \(gb(sampler.maxAnon)), mapped checkpoint pages \(gb(sampler.maxFile))); batch budget \(gb(model.batchBudgetBytes))")
    // At the real 12B, T = 4096: the round holds |S| + 1 hidden states per sample plus one chunk's scratch.
    let states = (62 + 1) * 4096 * H * 4, gramBytes = H * H * 4
    print("  estimate for 62 layers, T = 4096: states \(gb(states)) + batch budget \(gb(model.batchBudgetBytes)) + Gram \(gb(gramBytes)) = \(gb(states + model.batchBudgetBytes + gramBytes)) (24 GiB machine)")
}
