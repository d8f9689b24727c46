import Foundation
import PruneKit

/// `prunekit score --remove 1` (width pass, block influence, one ranking round) on a 12B-width synthetic
/// checkpoint with 2 layers `M-` (bf16, sparse), 1 sample × T = 512, at the default `--memory-gib`: its whole
/// time, and its peak resident memory against the activation budget.
func benchScore12B() throws {
    let dir = NSTemporaryDirectory() + "prunekit-bench-score12b-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cfg = SyntheticCheckpoint.nano12BShaped(pattern: "M-")
    let bytes = try SyntheticCheckpoint.writeSparse(config: cfg, dir: dir + "/model")
    let T = 512
    try ("{\"input_ids\": [" + (0..<T).map { String($0 * 7 % cfg.vocabSize) }.joined(separator: ", ") + "]}\n")
        .write(toFile: dir + "/ids.jsonl", atomically: true, encoding: .utf8)
    let prunekit = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("prunekit").path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: prunekit)
    p.arguments = ["score", dir + "/model", "--data", dir + "/ids.jsonl", "--remove", "1", "--db", dir + "/s.sqlite", "--format", "json", "--quiet"]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    let t0 = Date()
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile(), errData = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let wall = Date().timeIntervalSince(t0)
    guard p.terminationStatus == 0 else { print("  FAILED: \(String(decoding: errData, as: UTF8.self))"); return }
    let j = try JSONParser().parse(String(decoding: data, as: UTF8.self))
    let peak = j["peak_resident_bytes"]?.intValue ?? 0, budget = j["memory_budget_bytes"]?.intValue ?? 0
    print(String(format: "  score --remove 1, 12B widths, layers M-, 1 × %d tokens, bf16 checkpoint %.2f GB: %.1f s (scoring %.1f s); peak RSS %.2f GB, --memory-gib budget %.2f GB",
                 T, Double(bytes) / 1e9, wall, j["seconds"]?.doubleValue ?? 0, Double(peak) / 1e9, Double(budget) / 1e9))
}
