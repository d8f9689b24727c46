import XCTest
import PruneKit

/// The progress facility: the line style's throttling and content, the callback adapter, and the steps the
/// library reports (evaluation in tokens, export in bytes).
final class ProgressTests: XCTestCase {
    /// A clock the test moves and the text written.
    final class Sink: @unchecked Sendable {
        var t = 0.0
        var text = ""
        var lines: [String] { text.split(separator: "\n").map(String.init) }
    }

    func testLinesAtMostEveryIntervalWithRateAndETA() {
        let s = Sink()
        let p = StreamProgress(style: .lines(interval: 10), write: { s.text += $0 }, now: { s.t })
        p.start("eval", total: 100, unit: "tokens")
        XCTAssertEqual(s.lines, ["eval: 0/100 tokens (0%), elapsed 0s, ETA ?"])
        for _ in 0..<9 { s.t += 1; p.advance(by: 2) }        // 9 s: no new line
        XCTAssertEqual(s.lines.count, 1)
        s.t += 1; p.advance(by: 2)                          // 10 s, 20 tokens: a line
        XCTAssertEqual(s.lines.last, "eval: 20/100 tokens (20%), 2.00 tokens/s, elapsed 10s, ETA 40s")
        s.t += 5; p.advance(by: 30)                          // 15 s: throttled
        XCTAssertEqual(s.lines.count, 2)
        s.t += 5; p.advance(by: 50)                          // 20 s, done
        XCTAssertEqual(s.lines.last, "eval: 100/100 tokens (100%), 5.00 tokens/s, elapsed 20s, ETA 0s")
        p.finish()
        XCTAssertEqual(s.lines.count, 3, "finish does not repeat the line just written")
        p.start("eval", total: 10, unit: "tokens")
        s.t += 1; p.advance(by: 10)
        p.finish()
        XCTAssertEqual(s.lines.last, "eval: 10/10 tokens (100%), 10 tokens/s, elapsed 1s, ETA 0s", "finish writes the last state")
        XCTAssertEqual(s.lines.count, 5)
        p.advance(by: 1); p.finish()
        XCTAssertEqual(s.lines.count, 5, "nothing after finish")
    }

    /// With a heartbeat, a line appears every interval even when no unit completes (a long forward pass).
    func testHeartbeatWritesLinesWithoutAdvance() {
        let s = Sink()
        let lock = NSLock()
        let p = StreamProgress(style: .lines(interval: 0.05), write: { t in lock.lock(); s.text += t; lock.unlock() }, heartbeat: true)
        p.start("full model", total: 4, unit: "tokens")
        Thread.sleep(forTimeInterval: 1.0)   // ≥ 3 intervals of 0.05 s even on a loaded machine
        p.finish()
        lock.lock(); let n = s.lines.count; lock.unlock()
        XCTAssertGreaterThanOrEqual(n, 3, s.text)
        Thread.sleep(forTimeInterval: 0.2)
        lock.lock(); XCTAssertEqual(s.lines.count, n, "no heartbeat after finish"); lock.unlock()
        XCTAssertTrue(s.lines.allSatisfy { $0.hasPrefix("full model: 0/4 tokens (0%), elapsed ") }, s.text)
    }

    func testBarRedrawsInPlaceAndBytesUseUnits() {
        let s = Sink()
        let p = StreamProgress(style: .bar, write: { s.text += $0 }, now: { s.t })
        p.start("export", total: 3 << 30, unit: "bytes")
        s.t = 2; p.advance(by: 1 << 30)
        p.finish()
        XCTAssertTrue(s.text.hasPrefix("\rexport       ["), s.text)
        XCTAssertTrue(s.text.contains("33% 1.00 GiB/3.00 GiB"), s.text)
        XCTAssertTrue(s.text.contains("ETA 4s"), s.text)
        XCTAssertTrue(s.text.hasSuffix("\n"))
        XCTAssertEqual(s.text.filter { $0 == "\n" }.count, 1)
    }

    /// Records every call.
    final class Recorder: ProgressReporter {
        var events = [String]()
        func start(_ phase: String, total: Int, unit: String) { events.append("start \(phase) \(total) \(unit)") }
        func advance(by n: Int) { events.append("+\(n)") }
        func finish() { events.append("finish") }
    }

    /// A message written while a bar is open clears the bar's line first and the bar is redrawn below it; with
    /// the line style (or no open step) the message is a plain line.
    func testInterjectedMessagesDoNotRunIntoTheBar() {
        let s = Sink()
        let p = StreamProgress(style: .bar, write: { s.text += $0 }, now: { s.t })
        p.start("search", total: 4, unit: "trials")
        p.interject("trial 0 [joint] claimed")
        XCTAssertTrue(s.text.contains("\r\u{1B}[Ktrial 0 [joint] claimed\n\rsearch"), s.text.debugDescription)
        p.finish()
        let l = Sink()
        let q = StreamProgress(style: .lines(interval: 10), write: { l.text += $0 }, now: { l.t })
        q.interject("hello")
        XCTAssertEqual(l.text, "hello\n")
    }

    func testCallbackAdapterMapsPhasesToSteps() {
        let r = Recorder()
        let f = r.callback(prefix: "score:", units: ["layers": "sample-rounds"])
        f("width", 1, 2); f("width", 2, 2); f("layers", 1, 3); f("layers", 3, 3)
        XCTAssertEqual(r.events, ["start score:width 2 samples", "+1", "+1", "finish",
                                  "start score:layers 3 sample-rounds", "+1", "+2", "finish"])
    }

    func testEvaluationAndExportReportProgress() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib-ids.jsonl", tokenizer: nil, samples: 3, seqLen: 8)
        let r = Recorder()
        _ = try NemotronHModel(source: folder).evaluate(set, progress: r)
        XCTAssertEqual(r.events, ["start eval 24 tokens", "+8", "+8", "+8", "finish"])

        let out = Fixtures.tempDir("prunekit-progress") + "/out"
        defer { try? FileManager.default.removeItem(atPath: (out as NSString).deletingLastPathComponent) }
        let plan = try PruningPlan.random(source: folder.config, target: TargetArchitecture(hiddenSize: 96), seed: 1)
        let e = Recorder()
        let shards = try Exporter.export(folder: folder, plan: plan, to: out, options: .init(dtype: .fixed(.BF16)), progress: e)
        XCTAssertEqual(e.events.first, "start export \(shards.totalBytes) bytes")
        XCTAssertEqual(e.events.last, "finish")
        XCTAssertEqual(e.events.dropFirst().dropLast().map { Int($0.dropFirst())! }.reduce(0, +), shards.totalBytes)
    }
}

extension ProgressTests {
    /// Writes a sparse checkpoint with the real 12B widths (5120 hidden, 131072 vocab) and the pattern
    /// `PRUNEKIT_SYNTHETIC_PATTERN` (default "M*-M") to `PRUNEKIT_SYNTHETIC_DIR`, for checking by hand that
    /// `prunekit eval … 2> log` logs progress at scale. Skipped unless the directory is given.
    func testWriteSynthetic12BWidthCheckpoint() throws {
        guard let dir = ProcessInfo.processInfo.environment["PRUNEKIT_SYNTHETIC_DIR"] else {
            throw XCTSkip("set PRUNEKIT_SYNTHETIC_DIR to write a synthetic 12B-width checkpoint")
        }
        let pattern = ProcessInfo.processInfo.environment["PRUNEKIT_SYNTHETIC_PATTERN"] ?? "M*-M"
        let bytes = try SyntheticCheckpoint.writeSparse(config: SyntheticCheckpoint.nano12BShaped(pattern: pattern), dir: dir)
        XCTAssertEqual(try ModelFolder(path: dir, strict: true).tensorParameterCount * 2, bytes)
    }
}
