import Foundation
import PruneKit

/// Per-layer forward time at the real Nano-12B-v2 widths (bf16 weights streamed from a sparse synthetic
/// checkpoint, widened per use), to estimate what a full 62-layer 12B evaluation costs on this CPU.
func benchNano12B() throws {
    let dir = NSTemporaryDirectory() + "prunekit-bench-12b-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cfg = SyntheticCheckpoint.nano12BShaped(pattern: "M*-")
    try SyntheticCheckpoint.writeSparse(config: cfg, dir: dir)
    let folder = try ModelFolder(path: dir)
    for T in [512, 2048] {
        for budget in [0, 8 << 30] {
            let model = try NemotronHModel(source: folder, cacheBudgetBytes: budget)
            let ids = (0..<T).map { Int32($0 * 7 % cfg.vocabSize) }
            var h = try model.embed(ids)
            if budget > 0 { var w = h; try model.runLayers(0..<3, hidden: &w, rows: T) } // warm the cache
            var times = [Double]()
            for l in 0..<3 {
                let t0 = Date()
                try model.runLayer(l, hidden: &h, rows: T)
                times.append(Date().timeIntervalSince(t0))
            }
            let t0 = Date()
            _ = try model.logits(hidden: h, rows: T)
            let head = Date().timeIntervalSince(t0)
            // Nano-12B-v2: 28 M, 6 *, 28 - layers.
            let full = 28 * times[0] + 6 * times[1] + 28 * times[2] + head
            print(String(format: "  T = %d, weights %@: M %.2f s, * %.2f s, - %.2f s, lm_head %.2f s → 62-layer 12B forward ≈ %.0f s (%.1f tokens/s)",
                         T, budget > 0 ? "cached fp32" : "widened per use", times[0], times[1], times[2], head, full, Double(T) / full))
        }
    }
}
