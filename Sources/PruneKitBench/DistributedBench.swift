import Foundation
import PruneKit

/// Distributed scoring at the 12B widths (hidden 5120, FFN 20480, 40 heads, 128 Mamba heads × 80; pattern
/// M*-; vocabulary 8192 so lm_head's Gram matrix, built once per worker process, does not dominate a short run;
/// sparse zero weights: products cost the same as with real values), T = 512, 4 samples, units of 1 sample,
/// one ranking round: a SQLite job computed by `prunekit worker` processes with 1 OpenBLAS thread each,
/// 1 worker vs 2 workers (wall time, units/min per worker and their ratio, the store-traffic share, the load average
/// at the start so a busy machine shows). Then per-layer times at
/// 1 thread and a projection of the real 12B ranking (6 rounds, 64 samples × 1024 tokens) from them.
func benchDistributed() throws {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("prunekit").path
    guard FileManager.default.isExecutableFile(atPath: exe) else { print("  skipped: \(exe) not built"); return }
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let load0 = loadAverage()
    print(String(format: "  load average at start %.2f on %d cores%@", load0, cores,
                 load0 > 0.5 ? " — the machine is busy: the scaling figures below are not an idle machine's" : ""))
    let dir = NSTemporaryDirectory() + "prunekit-bench-dist-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var cfg = SyntheticCheckpoint.nano12BShaped(pattern: "M*-")
    cfg.vocabSize = 8192
    try SyntheticCheckpoint.writeSparse(config: cfg, dir: dir)
    let T = 512, B = 4
    let ids = dir + "/ids.jsonl"
    try (0..<B).map { b in "{\"input_ids\": [\((0..<T).map { String(($0 * 7 + b * 131) % cfg.vocabSize) }.joined(separator: ", "))]}" }
        .joined(separator: "\n").appending("\n").write(toFile: ids, atomically: true, encoding: .utf8)

    func run(_ args: [String], threads: Int = 1) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = String(threads)
        p.environment = env
        p.standardOutput = Pipe(); p.standardError = Pipe()
        try p.run()
        return p
    }
    func output(_ p: Process) -> String { String(decoding: (p.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }

    var perUnit = [Int: Double]()
    for workers in [1, 2] {
        let db = dir + "/jobs-\(workers).sqlite"
        let submit = try run(["score", dir, "--data", ids, "--db", db, "--remove", "1", "--unit-samples", "1", "--submit"])
        let job = output(submit).trimmingCharacters(in: .whitespacesAndNewlines)
        submit.waitUntilExit()
        guard submit.terminationStatus == 0 else { print("  FAILED: submit: \(String(decoding: (submit.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))"); return }
        let t0 = Date()
        let procs = try (0..<workers).map { _ in try run(["worker", dir, "--data", ids, "--db", db, "--job", job, "--threads", "1", "--idle-exit", "30"]) }
        var lines = [String]()
        for p in procs { let o = output(p); p.waitUntilExit(); lines.append(o.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let wall = Date().timeIntervalSince(t0)
        let units = 2 * B
        perUnit[workers] = wall / Double(units)
        print(String(format: "  %d worker%@ × 1 thread: %d units in %.1f s wall → %.2f units/min (%.2f units/min per worker)",
                     workers, workers == 1 ? "" : "s", units, wall, Double(units) / wall * 60, Double(units) / wall * 60 / Double(workers)))
        for l in lines { print("    \(l)") }
        // Store traffic (claim, heartbeat, complete) as a share of the workers' time, from their summary lines.
        let figures = lines.compactMap { l -> (Double, Double)? in
            guard let c = l.range(of: "compute "), let st = l.range(of: "store traffic ") else { return nil }
            let comp = Double(l[c.upperBound...].prefix { $0.isNumber || $0 == "." }), traffic = Double(l[st.upperBound...].prefix { $0.isNumber || $0 == "." })
            return comp.flatMap { a in traffic.map { (a, $0) } }
        }
        let compute = figures.reduce(0) { $0 + $1.0 }, traffic = figures.reduce(0) { $0 + $1.1 }
        print(String(format: "    store traffic: %.3f s of %.2f s worker time (%.2f %%)", traffic, compute + traffic, compute + traffic > 0 ? 100 * traffic / (compute + traffic) : 0))
        let jobs = try run(["jobs", "--db", db])
        let report = output(jobs); jobs.waitUntilExit()
        for l in report.split(separator: "\n") { print("    \(l)") }
    }
    if let one = perUnit[1], let two = perUnit[2] {
        print(String(format: "  2 workers vs 1 (processes, 1 thread each): %.2f× units/min; per worker %.2f vs %.2f units/min (load average now %.2f on %d cores)",
                     one / two, 60 / one, 60 / two / 2, loadAverage(), cores))
    }

    // Per-layer times at 1 thread (T = 512 and 1024) for the projection.
    setComputeThreads(1)
    let model = try NemotronHModel(source: try ModelFolder(path: dir), cacheBudgetBytes: 0)
    var layer = [Double]()
    for t in [512, 1024] {
        var h = try model.embed((0..<t).map { Int32($0 % cfg.vocabSize) })
        try model.runLayer(0, hidden: &h, rows: t) // warm
        var times = [Double]()
        for l in 0..<3 { let s = Date(); try model.runLayer(l, hidden: &h, rows: t); times.append(Date().timeIntervalSince(s)) }
        // Nano-12B-v2: 28 M, 6 *, 28 - layers.
        let mean = (28 * times[0] + 6 * times[1] + 28 * times[2]) / 62
        print(String(format: "  1 thread, T = %d: M %.2f s, * %.2f s, - %.2f s → mean layer of the 12B mix %.2f s", t, times[0], times[1], times[2], mean))
        layer.append(mean)
    }
    // Projection: the real 12B ranking, 6 rounds, 64 samples × 1024 tokens. A machine of 32 cores counts as 32
    // one-thread workers at the rate measured here (ideal scaling). Units: 1 sample × c candidate ranges, c
    // chosen so every worker has a unit (c = ⌈workers / 64⌉); a unit's layer evaluations are counted exactly
    // (the prefix before its first candidate, the stacked candidates, the 62-layer reference forward); lm_head
    // and the Gram distances are left out (< 3 % of a round). Round time = max(longest unit, Σ units / workers).
    let tLayer = layer[1], L = 62
    func unitEvals(S: Int, range: Range<Int>) -> Int {
        var n = 0
        for j in 0..<S {
            let prefix = j < range.upperBound - 1 ? 1 : 0
            n += prefix + max(0, min(j, range.upperBound) - range.lowerBound)
        }
        return n + L
    }
    print(String(format: "  projection, real 12B ranking (6 rounds + width pass, 64 samples × 1024 tokens), mean layer %.2f s at 1 thread:", tLayer))
    for machines in [1, 8, 32] {
        let workers = machines * 32
        let c = max(1, (workers + 63) / 64)
        var total = 64 * Double(L) * tLayer / Double(min(workers, 64)) // width pass: one forward per sample
        var longest = 0.0
        for r in 1...6 {
            let S = L + 1 - r, per = (S + c - 1) / c
            let ranges = stride(from: 0, to: S, by: per).map { $0..<min($0 + per, S) }
            let times = ranges.map { Double(unitEvals(S: S, range: $0)) * tLayer }
            longest = max(longest, times.max()!)
            total += max(times.max()!, 64 * times.reduce(0, +) / Double(workers))
        }
        print(String(format: "    %2d machine%@ × 32 cores: units of 1 sample × %d candidate range%@ (%d per round), longest unit %.1f h → %.1f h in all",
                     machines, machines == 1 ? " " : "s", c, c == 1 ? "" : "s", 64 * c, longest / 3600, total / 3600))
    }
}

func loadAverage() -> Double {
    var l = [Double](repeating: 0, count: 3)
    return getloadavg(&l, 3) > 0 ? l[0] : .nan
}
