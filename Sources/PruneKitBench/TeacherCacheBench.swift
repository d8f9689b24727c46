import Foundation
import PruneKit

/// `prunekit teacher-cache` at the Nano-12B-v2 widths (hidden 5120, vocabulary 131,072): the whole pipeline
/// (forward, chunked log-sum-exp + top-K, shard writing) on a sparse synthetic checkpoint with 3 layers
/// (M * -), and the top-K stage alone on random logits against its naive twin (a full sort per row).
func benchTeacherCache() throws {
    let dir = NSTemporaryDirectory() + "prunekit-bench-tc-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cfg = SyntheticCheckpoint.nano12BShaped(pattern: "M*-")
    try SyntheticCheckpoint.writeSparse(config: cfg, dir: dir + "/teacher")
    let folder = try ModelFolder(path: dir + "/teacher")
    let V = cfg.vocabSize, K = 64
    for T in [512, 2048] {
        let n = T == 512 ? 2 : 1
        let set = CalibrationSet(samples: (0..<n).map { b in (0..<T).map { Int32(($0 * 7 + b * 13) % V) } }, source: "synthetic")
        try Data("synthetic".utf8).write(to: URL(fileURLWithPath: dir + "/data.txt"))
        let id = try TeacherCache.Identity.of(teacher: folder, dataPath: dir + "/data.txt", set: set)
        let model = try NemotronHModel(source: folder, cacheBudgetBytes: 2 << 30)
        resetPeakResident()
        let s = try TeacherCache.write(model: model, identity: id, set: set, options: .init(topK: K, logprobDType: .F16),
                                       outDir: dir + "/cache-\(T)", force: true)
        print(String(format: "  12B widths, 3 layers (M * -), %d × %d tokens, K %d F16: %.1f tokens/s (%.1f s), peak RSS %.2f GiB, %.1f bytes/token on disk (full F32 logits %d bytes/token, %.0f× more)",
                     n, T, K, s.tokensPerSecond, s.seconds, Double(peakResident()) / 1_073_741_824, s.bytesPerToken, 4 * V, Double(4 * V) / s.bytesPerToken))
    }
    // The top-K stage alone on random logits (the synthetic checkpoint's zero weights give constant logits).
    let T = 512
    var state: UInt64 = 42
    let logits = (0..<(T * V)).map { _ -> Float in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(state >> 40) - (1 << 23)) / Float(1 << 20)
    }
    let t0 = Date()
    let top = logits.withUnsafeBufferPointer { topKLogProbs($0, rows: T, vocab: V, k: K) }
    let fast = Date().timeIntervalSince(t0)
    let rows = 4
    let t1 = Date()
    let slow = naiveTopKLogProbs(Array(logits.prefix(rows * V)), rows: rows, vocab: V, k: K)
    let naive = Date().timeIntervalSince(t1) / Double(rows) * Double(T)
    precondition(Array(top.ids.prefix(rows * K)) == slow.ids, "top-K differs from its naive twin")
    print(String(format: "  top-K stage alone, %d rows × %d vocabulary, K %d: %.3f s (%.0f tokens/s); naive twin (full sort) %.1f s → %.0f× faster",
                 T, V, K, fast, Double(T) / fast, naive, naive / fast))
}

/// Resets the peak resident set (VmHWM) of this process (Linux: /proc/self/clear_refs).
func resetPeakResident() { try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8) }

/// Peak resident bytes of this process (VmHWM).
func peakResident() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) * 1024
    }
    return 0
}
