import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import PruneKit

/// A real miniature study on nemo-tiny: importance scores from 4 calibration samples, every candidate pruned
/// with them and measured (KL, logit MSE, LM loss) against the full model on 4 other samples, costs from the
/// cost model on a hypothetical GPU whose budget is 90 % of the source's memory, so the search must prune.
enum MiniStudy {
    struct Built { var input: ReportInput }

    /// KL(full ‖ pruned) per position, logit MSE, both averaged over positions (and vocabulary for MSE).
    static func distances(full: [Float], pruned: [Float], vocab V: Int) -> (kl: Double, mse: Double) {
        let T = full.count / V
        var kl = 0.0, mse = 0.0
        for t in 0..<T {
            let p = full[(t * V)..<((t + 1) * V)].map(Double.init), q = pruned[(t * V)..<((t + 1) * V)].map(Double.init)
            let mp = p.max()!, mq = q.max()!
            let lp = log(p.reduce(0) { $0 + exp($1 - mp) }) + mp, lq = log(q.reduce(0) { $0 + exp($1 - mq) }) + mq
            for v in 0..<V {
                let a = p[v] - lp, b = q[v] - lq
                kl += exp(a) * (a - b)
                mse += (p[v] - q[v]) * (p[v] - q[v])
            }
        }
        return (kl / Double(T), mse / Double(T * V))
    }

    static func build(targets: [TargetArchitecture], budgetFraction: Double = 0.9, scoresOn: Bool = true) throws -> ReportInput {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let model = try NemotronHModel(source: folder)
        let all = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib-ids.jsonl", tokenizer: nil)
        let calib = CalibrationSet(samples: Array(all.samples.prefix(4)), source: "calib-ids.jsonl[0..<4]")
        let heldOut = CalibrationSet(samples: Array(all.samples[8..<12]), source: "calib-ids.jsonl[8..<12]")
        let scores = try Importance.compute(model: model, set: calib, options: ScoreOptions())
        let cfg = model.config
        let context = 4096, batch = 1
        let workload = try Workload(inputLength: 1024, outputLength: 2048)
        // Size the hypothetical GPU from the source's own memory (weights + KV + state at the context).
        let probe = try CostModel(hardware: HardwareProfile(name: "probe", memoryBytes: 1 << 40, memoryBandwidth: 1e11, peakFLOPS: 1e13),
                                  workload: workload, frameworkFraction: 0.05, reservedBytes: 0)
        let srcMem = probe.memoryBytes(cfg, context: context, batch: batch)
        let gpu = HardwareProfile(name: "tiny-gpu (hypothetical)", memoryBytes: Int(Double(srcMem) * budgetFraction / 0.95),
                                  memoryBandwidth: 1e11, peakFLOPS: 1e13, source: "scaled to nemo-tiny for this example")
        // No runtime overhead: vLLM's (tens of MiB of activations even for this model) would leave a GPU this small no KV pool.
        let cm = try CostModel(hardware: gpu, workload: workload, frameworkFraction: 0.05, reservedBytes: 0,
                               serving: ServingSettings(runtimeOverheadBytes: 0))
        let srcCost = cm.evaluate(cfg, context: context, batch: batch)
        let fullLogits = try heldOut.samples.map { try model.forward($0) }

        var trials = [ReportInput.Trial]()
        for (n, target) in targets.enumerated() {
            let start = Date()
            do {
                let plan = try PruningPlan(source: cfg, scores: scores, target: target)
                let r = cm.evaluate(plan.target, context: context, batch: batch)
                var t = ReportInput.Trial(number: n, state: .complete, target: target, architecture: .init(plan.target),
                                          cost: .init(r), budgetSlackBytes: r.slackBytes, fits: r.fits)
                if !r.fits {
                    t.state = .pruned
                    t.infeasibleReason = "memory \(String(format: "%.2f", Double(r.memoryBytes) / 1048576)) MiB exceeds the budget \(String(format: "%.2f", Double(r.budgetBytes) / 1048576)) MiB"
                } else {
                    let pruned = try NemotronHModel(source: SlicedWeights(base: folder, plan: plan))
                    var kl = 0.0, mse = 0.0, nll = 0.0, predicted = 0
                    for (b, ids) in heldOut.samples.enumerated() {
                        let logits = try pruned.forward(ids)
                        let d = distances(full: fullLogits[b], pruned: logits, vocab: cfg.vocabSize)
                        kl += d.kl; mse += d.mse
                        nll += LogitComparison.nextToken(logits: logits, ids: ids, vocab: cfg.vocabSize).nll; predicted += ids.count - 1
                    }
                    let nS = Double(heldOut.samples.count)
                    t.metrics = .init(kl: kl / nS, mse: mse / nS, loss: nll / Double(predicted))
                }
                t.seconds = Date().timeIntervalSince(start)
                trials.append(t)
            } catch {
                // A genuine failure of the pruning step (e.g. a structurally invalid target).
                trials.append(ReportInput.Trial(number: n, state: .fail, target: target, architecture: .init(cfg), cost: .init(srcCost),
                                                budgetSlackBytes: srcCost.slackBytes, fits: srcCost.fits, error: String(describing: error),
                                                seconds: Date().timeIntervalSince(start)))
            }
        }
        let recipe = """
        # mini study on nemo-tiny (test fixture), hypothetical GPU sized to 90% of the source's memory
        model: Tests/Fixtures/nemo-tiny
        calibration: {data: calib-ids.jsonl, samples: 4}
        held_out: {data: calib-ids.jsonl, samples: 8..<12}
        hardware: {name: tiny-gpu, memory: \(gpu.memoryBytes) bytes, bandwidth_gbps: 100, bf16_dense_tflops: 10}
        workload: {isl: 1024, osl: 2048, context: 4096, batch: 1}
        objective: {metric: kl, direction: minimize}
        """
        let study = ReportInput.Study(name: "nemo-tiny mini study", recipeYAML: recipe, hardware: gpu.name, context: context, batch: batch,
                                      inputLength: 1024, outputLength: 2048, budgetBytes: cm.budgetBytes, checkpointPath: Fixtures.nemoTiny,
                                      checkpointFingerprint: folder.fingerprint, calibrationFingerprint: calib.fingerprint,
                                      heldOutFingerprint: heldOut.fingerprint, created: ISO8601DateFormatter().string(from: Date()),
                                      enumeratedCandidates: targets.count, feasibleCandidates: trials.filter(\.fits).count)
        return ReportInput(study: study, source: .init(architecture: .init(cfg), cost: .init(srcCost)),
                           scores: scoresOn ? scores : nil, trials: trials)
    }

    /// A small grid: depth × hidden × FFN × attention heads, plus one structurally invalid target (3 attention heads,
    /// 2 KV heads). Mamba heads are not varied: evaluating Mamba-head or head-dim pruned models currently traps in
    /// `SlicedWeights.read` (found while writing these tests; reported, not fixed here).
    static func grid(layers: [Int] = [12, 10, 8], hidden: [Int] = [128, 96], ffn: [Int] = [512, 256], attention: [Int] = [4, 2]) -> [TargetArchitecture] {
        var out = [TargetArchitecture]()
        for l in layers { for h in hidden { for f in ffn { for a in attention {
            out.append(TargetArchitecture(numLayers: l, hiddenSize: h, ffnHiddenSize: f, numAttentionHeads: a))
        } } } }
        out.append(TargetArchitecture(numLayers: 10, hiddenSize: 96, numAttentionHeads: 3))
        return out
    }
}

final class ReportTests: XCTestCase {
    /// Parses `path` as XML and returns the number of elements; fails the test with the parser's message.
    @discardableResult
    func assertWellFormed(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> Int {
        guard let data = FileManager.default.contents(atPath: path) else { XCTFail("missing \(path)", file: file, line: line); return 0 }
        final class Counter: NSObject, XMLParserDelegate { var n = 0
            func parser(_ p: XMLParser, didStartElement e: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) { n += 1 } }
        let parser = XMLParser(data: data)
        let c = Counter()
        parser.delegate = c
        let ok = parser.parse()
        XCTAssertTrue(ok, "\(path) is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)", file: file, line: line)
        return c.n
    }

    func read(_ dir: String, _ name: String) -> String {
        (try? String(contentsOfFile: (dir as NSString).appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    func writeAndCheck(_ input: ReportInput, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let dir = Fixtures.tempDir("report")
        try ReportWriter.write(input, to: dir)
        for f in ["index.html"] + ReportWriter.chartFiles {
            XCTAssertGreaterThan(assertWellFormed((dir as NSString).appendingPathComponent(f), file: file, line: line), 3, f, file: file, line: line)
        }
        let md = read(dir, "summary.md")
        for f in ["candidates.svg", "candidates-params.svg", "memory.svg"] { XCTAssertTrue(md.contains("(\(f))"), "summary.md links \(f)", file: file, line: line) }
        return dir
    }

    func testRealMiniStudyReport() throws {
        let input = try MiniStudy.build(targets: MiniStudy.grid())
        let chosen = try XCTUnwrap(input.chosen)
        XCTAssertEqual(chosen.state, .complete)
        XCTAssertTrue(input.trials.contains { $0.state == .pruned }, "the 90 % budget makes the unpruned candidates infeasible")
        XCTAssertTrue(input.trials.contains { $0.state == .fail })
        for t in input.trials where t.state == .complete { XCTAssertLessThanOrEqual(chosen.metrics.kl!, t.metrics.kl!) }
        let dir = try writeAndCheck(input)
        let html = read(dir, "index.html")
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("<html xmlns=\"http://www.w3.org/1999/xhtml\""))
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("http://") && html.contains("src=\"http"), "no network resources")
        XCTAssertTrue(html.contains("Chosen trial #\(chosen.number)"))
        XCTAssertTrue(read(dir, "candidates.svg").contains("chosen #\(chosen.number)"))
        XCTAssertTrue(html.contains("Failed trials (1)"))
        XCTAssertTrue(html.contains("not a multiple of num_key_value_heads"), "the failure's error text is listed")
        XCTAssertTrue(read(dir, "layers.svg").contains("removal order"))
        XCTAssertTrue(read(dir, "width.svg").contains("FFN neurons"))
        // The JSON format round-trips (what `prunekit report --input` reads).
        let json = (dir as NSString).appendingPathComponent("input.json")
        try input.jsonData().write(to: URL(fileURLWithPath: json))
        let back = try ReportInput.load(path: json)
        XCTAssertEqual(back.trials.count, input.trials.count)
        XCTAssertEqual(back.scores, input.scores)
        XCTAssertEqual(back.chosen?.number, chosen.number)
    }

    func testOneTrial() throws {
        let input = try MiniStudy.build(targets: [TargetArchitecture(numLayers: 10, hiddenSize: 96)], scoresOn: false)
        XCTAssertEqual(input.trials.count, 1)
        XCTAssertEqual(input.chosen?.number, 0)
        let dir = try writeAndCheck(input)
        XCTAssertTrue(read(dir, "index.html").contains("Chosen trial #0"))
        XCTAssertTrue(read(dir, "index.html").contains("No importance scores"))
        XCTAssertTrue(read(dir, "candidates.svg").contains("chosen #0"))
    }

    func testNoFeasibleTrial() throws {
        let input = try MiniStudy.build(targets: [TargetArchitecture(), TargetArchitecture(numLayers: 11)], budgetFraction: 0.5)
        XCTAssertTrue(input.trials.allSatisfy { $0.state == .pruned })
        XCTAssertNil(input.chosen)
        let dir = try writeAndCheck(input)
        let html = read(dir, "index.html")
        XCTAssertTrue(html.contains("No feasible trial"), "says so clearly")
        XCTAssertTrue(read(dir, "candidates.svg").contains("No feasible trial was evaluated"))
        XCTAssertTrue(html.contains("Infeasible trials (2)"))
        XCTAssertTrue(html.contains("exceeds the budget"))
    }

    func testFailedTrialsAndNonFiniteMetricsAndEscaping() throws {
        var input = try MiniStudy.build(targets: MiniStudy.grid(layers: [10], hidden: [96], ffn: [256], attention: [4, 2]), scoresOn: false)
        // A failure whose text needs escaping, a NaN KL and an infinite loss (as a diverged evaluation gives).
        input.trials[0].metrics.kl = .nan
        input.trials[1].metrics.loss = .infinity
        input.trials.append(ReportInput.Trial(number: 99, state: .fail, target: TargetArchitecture(hiddenSize: 64), architecture: input.source.architecture,
                                              cost: input.source.cost, budgetSlackBytes: -1, fits: false,
                                              error: "shape <1, 2> & \"q_proj\" mismatch \u{1}"))
        input.study.name = "escaping <&> \"study\""
        input.study.recipeYAML = "a: <b> & 'c'"
        let dir = try writeAndCheck(input)
        let html = read(dir, "index.html")
        XCTAssertTrue(html.contains("shape &lt;1, 2&gt; &amp; &quot;q_proj&quot;"))
        XCTAssertTrue(html.contains("Failed trials (2)"))
        XCTAssertTrue(html.contains("NaN"))
        // Non-finite numbers are written as null (formats.md §7) and read back as not measured.
        let json = (dir as NSString).appendingPathComponent("input.json")
        try input.jsonData().write(to: URL(fileURLWithPath: json))
        let back = try ReportInput.load(path: json)
        XCTAssertNil(back.trials[0].metrics.kl)
        XCTAssertNil(back.trials[1].metrics.loss)
    }

    func testEmptyStudyAndBadInputFile() throws {
        var input = try MiniStudy.build(targets: [], scoresOn: false)
        input.study.recipeYAML = ""
        let dir = try writeAndCheck(input)
        XCTAssertTrue(read(dir, "index.html").contains("no trials"))
        let bad = (dir as NSString).appendingPathComponent("bad.json")
        try Data("{\"study\": {}}".utf8).write(to: URL(fileURLWithPath: bad))
        XCTAssertThrowsError(try ReportInput.load(path: bad)) { e in
            XCTAssertTrue("\(e)".contains("bad.json"), "\(e)")
        }
    }

    /// The report of a real search stored in a database (the nemo-tiny recipe), as `prunekit report --db --study` makes it.
    func testReportFromStoredStudy() throws {
        let dir = Fixtures.tempDir("prunekit-report-study")
        let root = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
        let recipe = try Recipe.load(path: root.appendingPathComponent("Searches/nemo-tiny.yaml").path)
        let db = dir + "/study.sqlite"
        // Scores of a deeper ranking (`score --remove K` with K above what the search needs) are stored first:
        // the search reuses them, and the report shows them.
        let folder = try ModelFolder(path: recipe.resolve(recipe.model))
        var deeper = ArchitectureSearch.scoreOptions(recipe: recipe, source: folder.config)
        deeper.remove = (deeper.remove ?? 1) + 1
        let cal = try ArchitectureSearch.loadData(recipe.calibration!, recipe: recipe, modelDir: folder.path)
        _ = try Importance.loadOrCompute(folder: folder, calibration: cal, options: deeper, store: SQLiteStudyStore(path: db))
        let out0 = try ArchitectureSearch.run(recipe: recipe, options: SearchRunOptions(dbPath: db, studyName: "tiny"))
        XCTAssertTrue(out0.scoresReused)
        XCTAssertEqual(out0.study.scoreOptionsKey, deeper.key, "the study records the score row it used")
        let input = try ReportInput.fromStudy(store: SQLiteStudyStore(path: db, mode: .readOnly), study: "tiny")
        XCTAssertEqual(input.study.enumeratedCandidates, 135)
        XCTAssertEqual(input.trials.filter { $0.state == .complete }.count, recipe.topK)
        XCTAssertEqual(input.scores?.layerRanking?.rounds.count, deeper.remove, "the reused scores are the report's")
        XCTAssertEqual(input.source.cost, out0.study.source?.cost)
        XCTAssertNotNil(input.chosen)
        XCTAssertEqual(input.chosen?.number, try SQLiteStudyStore(path: db).bestTrial(study: try SQLiteStudyStore(path: db).study(named: "tiny"))?.number)
        let out = dir + "/report"
        try ReportWriter.write(input, to: out)
        for f in ["index.html"] + ReportWriter.chartFiles { assertWellFormed(out + "/" + f) }
        let md = try String(contentsOfFile: out + "/summary.md", encoding: .utf8)
        XCTAssertTrue(md.contains("#\(input.chosen!.number)"), "summary names the chosen trial")
        XCTAssertThrowsError(try ReportInput.fromStudy(store: SQLiteStudyStore(path: db, mode: .readOnly), study: "nope")) { e in XCTAssertTrue("\(e)".contains("nope"), "\(e)") }
    }
}
