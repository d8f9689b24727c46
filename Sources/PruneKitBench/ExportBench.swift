import Foundation
import PruneKit
#if canImport(Glibc)
import Glibc
#endif

/// Peak memory of `Exporter.export` on a checkpoint with real Nano-12B-v2 widths (hidden 5120, FFN 20480,
/// 40/8 heads of 128, 128 Mamba heads × 80, N 128, G 8, vocab 131072) and pattern "M*-M" (≈ 1.95 B parameters,
/// ≈ 3.9 GB in BF16), pruned to 9B-like widths (hidden 4480, FFN 15680, 32 attention heads, 112 Mamba heads)
/// and written as BF16.
///
/// The source is written once with CheckpointWriter from a tiled seeded-random buffer. The process's peak RSS
/// is reset (`/proc/self/clear_refs` = 5) before the export, and a sampler thread records the largest
/// anonymous and file-backed resident sizes, so the figure is the export's alone.
func benchExport() throws {
    let cfg = NemotronHConfig(pattern: "M*-M", hiddenSize: 5120, ffnHiddenSize: 20480, numAttentionHeads: 40, numKeyValueHeads: 8,
                              headDim: 128, mambaNumHeads: 128, mambaHeadDim: 80, ssmStateSize: 128, nGroups: 8, vocabSize: 131072)
    let root = NSTemporaryDirectory() + "prunekit-bench-export-\(UUID().uuidString.prefix(8))"
    defer { try? FileManager.default.removeItem(atPath: root) }
    let src = root + "/src", out = root + "/out"

    var rng = SplitMix64(seed: 1)
    let tile = (0..<((1 << 20) + 7)).map { _ in Float(rng.uniform() * 0.02 - 0.01) }
    var t0 = Date()
    let writer = CheckpointWriter(outputDir: src, maxShardBytes: 2_000_000_000, dtype: .BF16)
    let entries = cfg.expectedTensors().map { SafetensorsStreamWriter.Entry(name: $0.name, dtype: .BF16, shape: $0.shape) }
    let srcPlan = try writer.write(config: cfg, tensors: entries) { e in
        var v = [Float](repeating: 0, count: e.elementCount)
        var k = 0
        while k < v.count { let n = min(tile.count, v.count - k); v.withUnsafeMutableBufferPointer { p in tile.withUnsafeBufferPointer { (p.baseAddress! + k).update(from: $0.baseAddress!, count: n) } }; k += n }
        return v
    }
    print(String(format: "  source: %@, %d parameters, %.2f GB BF16 in %d shards (written in %.1f s)", cfg.patternString, cfg.parameterCount,
                 Double(srcPlan.totalBytes) / 1e9, srcPlan.shards.count, Date().timeIntervalSince(t0)))

    let folder = try ModelFolder(path: src)
    let target = TargetArchitecture(hiddenSize: 4480, ffnHiddenSize: 15680, mambaNumHeads: 112, numAttentionHeads: 32)
    let plan = try PruningPlan.random(source: cfg, target: target, seed: 5)
    let largestSource = cfg.expectedTensors().map { $0.shape.reduce(1, *) }.max()! * 4
    let largestTarget = plan.target.expectedTensors().map { $0.shape.reduce(1, *) }.max()! * 4

    let resetOK = resetPeakRSS()
    let before = procStatus()
    let sampler = RSSSampler()
    sampler.start()
    t0 = Date()
    let written = try Exporter.export(folder: folder, plan: plan, to: out, options: .init(dtype: .fixed(.BF16), maxShardBytes: 2_000_000_000))
    let seconds = Date().timeIntervalSince(t0)
    sampler.stop()
    let after = procStatus()
    print(String(format: "  export: %d → %d parameters, %.2f GB BF16 in %d shards, %.1f s (%.0f MB/s written)", cfg.parameterCount,
                 plan.target.parameterCount, Double(written.totalBytes) / 1e9, written.shards.count, seconds, Double(written.totalBytes) / 1e6 / seconds))
    let gb = { (b: Int) in String(format: "%.2f GB", Double(b) / 1e9) }
    print("  largest tensor in fp32: source \(gb(largestSource)), target \(gb(largestTarget)) (embeddings / lm_head [131072, H])")
    print("  RSS before export \(gb(before["VmRSS"] ?? 0)); peak RSS during export (VmHWM\(resetOK ? ", reset before" : ", NOT reset: includes writing the source")) \(gb(after["VmHWM"] ?? 0))")
    print("  sampled peaks every 20 ms: anonymous \(gb(sampler.maxAnon)), file-backed (mapped source pages) \(gb(sampler.maxFile))")
    print(String(format: "  peak RSS / largest target tensor fp32 = %.2f", Double(after["VmHWM"] ?? 0) / Double(largestTarget)))
}

/// Fields of /proc/self/status in bytes (VmRSS, VmHWM, RssAnon, RssFile).
func procStatus() -> [String: Int] {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return [:] }
    var out = [String: Int]()
    for line in s.split(separator: "\n") {
        let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " || $0 == "\t" })
        if parts.count >= 3, parts[2] == "kB", let v = Int(parts[1]) { out[String(parts[0])] = v * 1024 }
    }
    return out
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0). Returns false when not possible.
func resetPeakRSS() -> Bool {
    guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
    defer { try? h.close() }
    do { try h.write(contentsOf: Data("5".utf8)) } catch { return false }
    return true
}

/// Samples RssAnon / RssFile on a background thread.
final class RSSSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var running = false
    private var anon = 0, file = 0
    private var thread: Thread?
    var maxAnon: Int { lock.lock(); defer { lock.unlock() }; return anon }
    var maxFile: Int { lock.lock(); defer { lock.unlock() }; return file }

    func start() {
        running = true
        let t = Thread { [self] in
            while true {
                lock.lock(); let go = running; lock.unlock()
                if !go { break }
                let s = procStatus()
                lock.lock(); anon = max(anon, s["RssAnon"] ?? 0); file = max(file, s["RssFile"] ?? 0); lock.unlock()
                usleep(20_000)
            }
        }
        thread = t
        t.start()
    }

    func stop() { lock.lock(); running = false; lock.unlock(); usleep(50_000) }
}

/// CPU time of this process (user and system seconds) and its minor page faults so far (getrusage).
struct CPUUsage {
    var user = 0.0, system = 0.0, minorFaults = 0
    static func now() -> CPUUsage {
        var r = rusage()
        getrusage(RUSAGE_SELF.rawValue, &r)
        return CPUUsage(user: Double(r.ru_utime.tv_sec) + Double(r.ru_utime.tv_usec) / 1e6,
                        system: Double(r.ru_stime.tv_sec) + Double(r.ru_stime.tv_usec) / 1e6, minorFaults: r.ru_minflt)
    }
    static func - (a: CPUUsage, b: CPUUsage) -> CPUUsage {
        CPUUsage(user: a.user - b.user, system: a.system - b.system, minorFaults: a.minorFaults - b.minorFaults)
    }
    var summary: String { String(format: "user %.1f s, system %.1f s, %d minor page faults", user, system, minorFaults) }
}
