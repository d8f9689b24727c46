import Foundation
import PruneKit

/// PruneKit against transformers in the same run, whole processes on the same folders and ids:
/// `prunekit eval` vs `Scripts/bench/torch_eval.py` (fp32, 2 threads) on the mid-size model (hidden 1024,
/// 12 layers, made by `Scripts/bench/make_mid.py`, 8 × 512 ids) and on nemo-tiny (16 × 128), and
/// `prunekit score --remove 4` vs `Scripts/reference/ref_scores.py --rounds 4` on nemo-tiny.
/// Needs `PYTHON=…` naming a Python with torch and transformers; skipped otherwise (never needed by build or tests).
func benchCompare() throws {
    guard let py = ProcessInfo.processInfo.environment["PYTHON"], !py.isEmpty else {
        print("  skipped: set PYTHON to a Python with torch and transformers (e.g. make bench PYTHON=/work/venv/bin/python)")
        return
    }
    guard (try? run(py, ["-c", "import torch, transformers"]))?.status == 0 else {
        print("  skipped: \(py) cannot import torch and transformers")
        return
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    let prunekit = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("prunekit").path
    let tiny = root + "/Tests/Fixtures/nemo-tiny", tinyIDs = tiny + "/calib-ids.jsonl"
    let tmp = NSTemporaryDirectory() + "prunekit-bench-compare-\(getpid())"
    try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: tmp) }
    let mid = tmp + "/mid"
    let made = try run(py, [root + "/Scripts/bench/make_mid.py", mid])
    guard made.status == 0 else { print("  FAILED: make_mid.py: \(made.output.suffix(300))"); return }

    func prunekitEval(_ model: String, _ ids: String) throws -> Double {
        let r = try run(prunekit, ["eval", model, "--data", ids, "--format", "json"])
        guard r.status == 0, let obj = try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any],
              let tps = obj["tokens_per_second"] as? Double else { throw BenchError.failed("prunekit eval: \(r.output.suffix(300))") }
        return tps
    }
    func torchEval(_ model: String, _ ids: String, _ n: Int) throws -> (Double, String) {
        let r = try run(py, [root + "/Scripts/bench/torch_eval.py", model, ids, String(n)])
        guard r.status == 0, let line = r.output.split(separator: "\n").last(where: { $0.hasSuffix("tokens/s") }),
              let v = line.split(separator: " ").dropLast().last.flatMap({ Double($0) }) else { throw BenchError.failed("torch_eval.py: \(r.output.suffix(300))") }
        return (v, String(line.split(separator: ":").first ?? ""))
    }
    let pkMid = try prunekitEval(mid, mid + "/ids.jsonl")
    let (tMid, torchVersion) = try torchEval(mid, mid + "/ids.jsonl", 8)
    print(String(format: "  mid-size (hidden 1024, 12 layers, saved by transformers), 8 × 512, eval: PruneKit %.0f tokens/s vs %@ %.0f tokens/s → %.2f×",
                 pkMid, torchVersion, tMid, pkMid / tMid))
    let pkTiny = try prunekitEval(tiny, tinyIDs)
    let (tTiny, _) = try torchEval(tiny, tinyIDs, 16)
    print(String(format: "  nemo-tiny, 16 × 128, eval: PruneKit %.0f tokens/s vs transformers %.0f tokens/s → %.2f×", pkTiny, tTiny, pkTiny / tTiny))

    var t0 = Date()
    let s = try run(prunekit, ["score", tiny, "--data", tinyIDs, "--remove", "4", "--db", tmp + "/scores.sqlite", "--quiet", "--format", "json"])
    let pkScore = Date().timeIntervalSince(t0)
    guard s.status == 0 else { throw BenchError.failed("prunekit score: \(s.output.suffix(300))") }
    t0 = Date()
    let ref = try run(py, [root + "/Scripts/reference/ref_scores.py", tiny, tinyIDs, tmp + "/ref.json", "--rounds", "4"])
    let refScore = Date().timeIntervalSince(t0)
    guard ref.status == 0 else { throw BenchError.failed("ref_scores.py: \(ref.output.suffix(300))") }
    print(String(format: "  score --remove 4, nemo-tiny 16 × 128, whole process: PruneKit %.2f s vs ref_scores.py %.2f s → %.1f×",
                 pkScore, refScore, refScore / pkScore))
}

enum BenchError: Error { case failed(String) }

/// Runs a process to completion: its stdout, or on failure its stdout and stderr (progress lines go to
/// stderr and would corrupt the JSON read from stdout).
private func run(_ exe: String, _ args: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    let errPath = NSTemporaryDirectory() + "prunekit-bench-stderr-\(getpid())"
    FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let out = String(decoding: data, as: UTF8.self)
    if p.terminationStatus == 0 { return (0, out) }
    return (p.terminationStatus, out + (String(data: FileManager.default.contents(atPath: errPath) ?? Data(), encoding: .utf8) ?? ""))
}
