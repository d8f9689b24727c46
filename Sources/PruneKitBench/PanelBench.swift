import Foundation
import PruneKit

/// Where a streamed (bf16, widened per use) product loses time against the cached fp32 one, at the 12B widths
/// with T = 512 rows: an MLP up_proj [20480, 5120] and lm_head [131072, 5120]. For each panel size: the whole
/// streamed product, its widening alone (reading every panel), and its products alone (the same panel-sized
/// sgemm calls on the cached fp32 weight, i.e. the cost of splitting the product into panels).
func benchPanels() throws {
    let dir = NSTemporaryDirectory() + "prunekit-bench-panels-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cfg = SyntheticCheckpoint.nano12BShaped(pattern: "-")
    try SyntheticCheckpoint.writeSparse(config: cfg, dir: dir)
    let folder = try ModelFolder(path: dir)
    let T = 512
    let saved = linearPanelBytes
    defer { linearPanelBytes = saved }
    for name in ["backbone.layers.0.mixer.up_proj.weight", "lm_head.weight"] {
        let streamed = try LinearWeight(name: name, source: folder, cache: false)
        let cached = try LinearWeight(name: name, source: folder, cache: true)
        let O = streamed.outFeatures, I = streamed.inFeatures
        var rng = SplitMix64(seed: 3)
        let x = (0..<(T * I)).map { _ in Float(rng.uniform() * 2 - 1) }
        var y = [Float](repeating: 0, count: T * O)
        func time(_ body: () throws -> Void) rethrows -> Double {
            var best = Double.infinity
            for _ in 0..<2 { let t0 = Date(); try body(); best = min(best, Date().timeIntervalSince(t0)) }
            return best
        }
        let whole = try time { try y.withUnsafeMutableBufferPointer { try linear($0.baseAddress!, x, rows: T, cached) } }
        print(String(format: "  %@ [%d, %d], T = %d: cached fp32 %.3f s (%.1f GFLOP/s)", name, O, I, T, whole, 2 * Double(T * O * I) / whole / 1e9))
        for mib in [4, 16, 64] {
            linearPanelBytes = mib << 20
            let panelRows = max(1, min(O, max(linearPanelMinRows, linearPanelBytes / (4 * I))))
            let s = try time { try y.withUnsafeMutableBufferPointer { try linear($0.baseAddress!, x, rows: T, streamed) } }
            let panel = FloatBuffer(count: panelRows * I)
            let widen = try time {
                var r0 = 0
                while r0 < O { let n = min(panelRows, O - r0); try folder.read(name, into: panel.p, from: r0 * I, count: n * I); r0 += n }
                folder.releasePages(name)
            }
            let split = time {
                y.withUnsafeMutableBufferPointer { yp in
                    var r0 = 0
                    while r0 < O {
                        let n = min(panelRows, O - r0)
                        matmulTransB(yp.baseAddress! + r0, x, cached.cached!.p + r0 * I, rows: T, inFeatures: I, outFeatures: n, ldy: O)
                        r0 += n
                    }
                }
            }
            print(String(format: "    panels of %d MiB (%d rows): streamed %.3f s = %.2f× cached; widening alone %.3f s (1 thread), panel-split products alone %.3f s (%.2f×)",
                         mib, panelRows, s, s / whole, widen, split, split / whole))
        }
        linearPanelBytes = saved
    }
}
