import Foundation
import PruneKit

/// FLOPs of one forward over T tokens as executed: every matrix product (2·m·n·k), attention scores and
/// weighted sums as full [T, T] products per head, and the scan's ≈ 5 flops per (token, head, p, n).
func forwardFLOPs(_ c: NemotronHConfig, tokens T: Int) -> Double {
    var f = 0.0
    let t = Double(T), H = Double(c.hiddenSize)
    for k in c.pattern {
        switch k {
        case .mamba:
            f += 2 * t * H * Double(c.inProjDim) + 2 * t * Double(c.mambaIntermediate) * H
            f += 5 * t * Double(c.mambaNumHeads * c.mambaHeadDim * c.ssmStateSize)
        case .attention:
            let qd = Double(c.numAttentionHeads * c.headDim), kvd = Double(c.numKeyValueHeads * c.headDim)
            f += 2 * t * H * (2 * qd + 2 * kvd)
            f += Double(c.numAttentionHeads) * 2 * (2 * t * t * Double(c.headDim))
        case .mlp:
            f += 2 * 2 * t * H * Double(c.ffnHiddenSize)
        }
    }
    return f + 2 * t * H * Double(c.vocabSize)
}

/// Best sgemm rate (GFLOP/s) over shapes like the model's, measured in this process.
func sgemmPeak(rows: Int, inner: Int, cols: Int, repeats: Int = 5) -> Double {
    let a = [Float](repeating: 0.5, count: rows * inner), w = [Float](repeating: 0.25, count: cols * inner)
    var y = [Float](repeating: 0, count: rows * cols)
    var best = 0.0
    for _ in 0..<repeats {
        let t0 = Date()
        matmulTransB(&y, a, w, rows: rows, inFeatures: inner, outFeatures: cols)
        let dt = Date().timeIntervalSince(t0)
        best = max(best, 2 * Double(rows * inner * cols) / dt / 1e9)
    }
    return best
}

func benchForward() throws {
    print("  OpenBLAS threads: \(blasThreads)")
    // The real fixture.
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let folder = try ModelFolder(path: root.appendingPathComponent("Tests/Fixtures/nemo-tiny").path)
    try runForwardBench(name: "nemo-tiny (fixture, 1.3M params)", source: folder, tokens: 128, samples: 16)

    // Mid-size model generated in memory with seeded random weights: hidden 1024, 12 layers of M, *, -.
    let mid = NemotronHConfig(pattern: "M-M*-M-M*-M-", hiddenSize: 1024, ffnHiddenSize: 4096, numAttentionHeads: 8,
                              numKeyValueHeads: 2, headDim: 128, mambaNumHeads: 32, mambaHeadDim: 64, ssmStateSize: 128,
                              nGroups: 8, vocabSize: 32000)
    let weights = InMemoryWeights.random(config: mid, seed: 7)
    try runForwardBench(name: "mid-size (hidden 1024, 12 layers M-M*-M-M*-M-, \(mid.parameterCount / 1_000_000)M params)", source: weights, tokens: 512, samples: 4)
}

func runForwardBench(name: String, source: WeightSource, tokens T: Int, samples: Int) throws {
    let c = source.config
    let model = try NemotronHModel(source: source)
    var rng = SplitMix64(seed: 1)
    let ids = (0..<samples).map { _ in (0..<T).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) } }
    _ = try model.forward(ids[0])  // warm up: widen and cache weights
    let t0 = Date()
    for s in ids { _ = try model.forward(s) }
    let dt = Date().timeIntervalSince(t0)
    let flops = forwardFLOPs(c, tokens: T) * Double(samples)
    let gflops = flops / dt / 1e9
    let peak = max(sgemmPeak(rows: T, inner: c.hiddenSize, cols: max(c.inProjDim, c.ffnHiddenSize)),
                   sgemmPeak(rows: T, inner: c.hiddenSize, cols: c.vocabSize),
                   sgemmPeak(rows: 1024, inner: 1024, cols: 1024))
    print("  \(name), T = \(T), \(samples) samples")
    print(String(format: "    forward: %.0f tokens/s, %.1f GFLOP/s achieved; sgemm peak %.1f GFLOP/s (same process) → %.0f %% of peak",
                 Double(T * samples) / dt, gflops, peak, 100 * gflops / peak))
}
