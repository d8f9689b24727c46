import XCTest
import PruneKit

/// Importance scores: naive recomputation from raw tapped activations, cached vs uncached iterative
/// ranking, agreement with the transformers reference (Scripts/reference/ref_scores.py → ref-scores.json).
final class ImportanceTests: XCTestCase {
    func calib(_ n: Int? = nil) throws -> CalibrationSet {
        var s = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib-ids.jsonl", tokenizer: nil)
        if let n { s.samples = Array(s.samples.prefix(n)) }
        return s
    }

    func relErr(_ a: Float, _ b: Float) -> Float { abs(a - b) / max(abs(b), 1e-12) }

    /// Every width score recomputed naively from activations captured raw through the tap.
    func testWidthScoresEqualNaiveRecomputation() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let model = try NemotronHModel(source: folder)
        let set = try calib(6)
        var opts = ScoreOptions(); opts.layers = .none
        let scores = try Importance.compute(model: model, set: set, options: opts)
        let cfg = folder.config
        // Raw activations: raw[point][layer][sample] = [T, C]
        var raw = [TapPoint: [Int: [[Float]]]]()
        for ids in set.samples {
            let tap = ForwardTap(points: [.mixerIn, .ffnAct, .attnOut, .inProj]) { ev in
                raw[ev.point, default: [:]][ev.layer, default: []].append(Array(ev.data))
            }
            _ = try model.forward(ids, tap: tap)
        }
        func naiveChannel(_ acts: [[Float]], T: Int, ld: Int, from: Int, count C: Int) -> [Double] {
            var out = [Double](repeating: 0, count: C)
            for a in acts {
                for c in 0..<C {
                    var m = 0.0
                    for t in 0..<T { m += Double(abs(a[t * ld + from + c])) }
                    m /= Double(T)
                    out[c] += m * m
                }
            }
            return out.map { $0.squareRoot() }
        }
        let T = set.samples[0].count
        var worst: Float = 0
        // hidden: Σ over layers of each layer's channel score
        var hid = [Double](repeating: 0, count: cfg.hiddenSize)
        for l in 0..<cfg.numLayers {
            let c = naiveChannel(raw[.mixerIn]![l]!, T: T, ld: cfg.hiddenSize, from: 0, count: cfg.hiddenSize)
            for j in 0..<hid.count { hid[j] += c[j] }
        }
        for j in 0..<hid.count { worst = max(worst, relErr(scores.hidden[j], Float(hid[j]))) }
        for (l, k) in cfg.pattern.enumerated() {
            switch k {
            case .mlp:
                let c = naiveChannel(raw[.ffnAct]![l]!, T: T, ld: cfg.ffnHiddenSize, from: 0, count: cfg.ffnHiddenSize)
                for j in 0..<c.count { worst = max(worst, relErr(scores.ffn[l]![j], Float(c[j]))) }
            case .attention:
                let d = cfg.headDim
                let c = naiveChannel(raw[.attnOut]![l]!, T: T, ld: cfg.numAttentionHeads * d, from: 0, count: cfg.numAttentionHeads * d)
                for h in 0..<cfg.numAttentionHeads {
                    let v = (0..<d).reduce(0.0) { $0 + c[h * d + $1] * c[h * d + $1] }.squareRoot()
                    worst = max(worst, relErr(scores.attentionHeads[l]![h], Float(v)))
                }
            case .mamba:
                let I = cfg.mambaIntermediate, P = cfg.mambaHeadDim, nh = cfg.mambaNumHeads
                let c = naiveChannel(raw[.inProj]![l]!, T: T, ld: cfg.inProjDim, from: I, count: I) // x slice
                for p in 0..<P {
                    let v = (0..<nh).reduce(0.0) { $0 + c[$1 * P + p] * c[$1 * P + p] }.squareRoot()
                    worst = max(worst, relErr(scores.mambaHeadDim[l]![p], Float(v)))
                }
                for h in 0..<nh {
                    let v = (0..<P).reduce(0.0) { $0 + c[h * P + $1] * c[h * P + $1] }.squareRoot()
                    worst = max(worst, relErr(scores.mambaHeads[l]![h], Float(v)))
                }
            }
        }
        print("width scores vs naive: max relative difference \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-5)
    }

    /// The prefix-cached ranking equals a recomputation from the embeddings for every candidate.
    func testCachedIterativeRankingEqualsUncached() throws {
        let model = try NemotronHModel(source: try ModelFolder(path: Fixtures.nemoTiny))
        let set = try calib(4)
        let L = model.config.numLayers
        let cached = try Importance.iterativeRanking(model: model, set: set, fullLogits: nil, metric: .mse, remove: 4)
        let uncached = try Importance.iterativeRankingUncached(model: model, set: set, metric: .mse, remove: 4)
        XCTAssertEqual(cached.removalOrder, uncached.removalOrder)
        var worst = 0.0
        for (a, b) in zip(cached.rounds, uncached.rounds) {
            for (l, v) in a.all { worst = max(worst, abs(v - b.all[l]!) / max(abs(b.all[l]!), 1e-12)) }
        }
        print("cached vs uncached iterative MSE: max relative difference \(worst); layer evaluations cached \(cached.layerEvaluations) vs uncached \(uncached.layerEvaluations); at most \(cached.maxEvaluationsPerRound) per round and sample (bound \(L * (L + 1) / 2))")
        XCTAssertLessThanOrEqual(worst, 1e-5)
        XCTAssertLessThanOrEqual(cached.maxEvaluationsPerRound, L * (L + 1) / 2)
        XCTAssertLessThan(cached.layerEvaluations, uncached.layerEvaluations)
        // KL is a valid alternative metric and gives non-negative scores.
        let kl = try Importance.iterativeRanking(model: model, set: set, fullLogits: nil, metric: .kl, remove: 2)
        XCTAssertTrue(kl.rounds.allSatisfy { $0.all.values.allSatisfy { $0 >= -1e-9 } })
    }

    /// Agreement with the independent transformers reference on calib-ids.jsonl (16 × 128).
    func testAgreesWithTransformersReference() throws {
        let refData = try Data(contentsOf: URL(fileURLWithPath: Fixtures.nemoTiny + "/ref-scores.json"))
        let ref = try JSONParser().parse(refData)
        let model = try NemotronHModel(source: try ModelFolder(path: Fixtures.nemoTiny))
        let rounds = ref["iterative_mse"]!.arrayValue!.count
        var opts = ScoreOptions(); opts.remove = rounds
        let start = Date()
        let s = try Importance.compute(model: model, set: try calib(), options: opts)
        print("full score run (16 × 128, \(rounds) rounds): \(String(format: "%.2f", Date().timeIntervalSince(start))) s, \(s.layerRanking!.layerEvaluations) layer evaluations")
        func doubles(_ v: JSONValue?) -> [Double] { v!.arrayValue!.map { $0.doubleValue! } }
        var worstWidth = 0.0
        func cmp(_ mine: [Float], _ theirs: [Double]) {
            XCTAssertEqual(mine.count, theirs.count)
            for (a, b) in zip(mine, theirs) { worstWidth = max(worstWidth, abs(Double(a) - b) / max(abs(b), 1e-12)) }
        }
        cmp(s.hidden, doubles(ref["hidden"]))
        for (k, v) in ref["ffn"]!.objectValue! { cmp(s.ffn[Int(k)!]!, doubles(v)) }
        for (k, v) in ref["attention_heads"]!.objectValue! { cmp(s.attentionHeads[Int(k)!]!, doubles(v)) }
        for (k, v) in ref["mamba_heads"]!.objectValue! { cmp(s.mambaHeads[Int(k)!]!, doubles(v)) }
        for (k, v) in ref["mamba_head_dim"]!.objectValue! { cmp(s.mambaHeadDim[Int(k)!]!, doubles(v)) }
        var worstBI = 0.0
        for (a, b) in zip(s.blockInfluence!, doubles(ref["block_influence"])) { worstBI = max(worstBI, abs(Double(a) - b) / max(abs(b), 1e-12)) }
        var worstMSE = 0.0
        let refRounds = ref["iterative_mse"]!.arrayValue!
        XCTAssertEqual(s.layerRanking!.removalOrder, refRounds.map { $0["removed"]!.intValue! })
        for (mine, theirs) in zip(s.layerRanking!.rounds, refRounds) {
            for (k, v) in theirs["all"]!.objectValue! {
                worstMSE = max(worstMSE, abs(mine.all[Int(k)!]! - v.doubleValue!) / max(abs(v.doubleValue!), 1e-12))
            }
        }
        print("vs transformers reference: width max rel diff \(worstWidth), block influence \(worstBI), iterative MSE \(worstMSE); order \(s.layerRanking!.removalOrder)")
        XCTAssertLessThanOrEqual(worstWidth, 1e-4)
        XCTAssertLessThanOrEqual(worstBI, 1e-3)
        XCTAssertLessThanOrEqual(worstMSE, 1e-3)
    }

    func testScoresAreStoredAndReused() throws {
        let dir = Fixtures.tempDir()
        let db = dir + "/scores.sqlite"
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        var opts = ScoreOptions(); opts.remove = 2
        let set = try calib(3)
        let first = try Importance.loadOrCompute(folder: folder, calibration: set, options: opts, store: SQLiteStudyStore(path: db))
        XCTAssertFalse(first.reused)
        let second = try Importance.loadOrCompute(folder: folder, calibration: set, options: opts, store: SQLiteStudyStore(path: db))
        XCTAssertTrue(second.reused)
        XCTAssertEqual(first.scores, second.scores)
        // A different calibration set is a different key.
        let third = try Importance.loadOrCompute(folder: folder, calibration: try calib(2), options: opts, store: SQLiteStudyStore(path: db))
        XCTAssertFalse(third.reused)
    }

    func testBadInputs() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let model = try NemotronHModel(source: folder)
        var opts = ScoreOptions(); opts.remove = 12
        XCTAssertThrowsError(try Importance.compute(model: model, set: try calib(2), options: opts)) { e in
            XCTAssertTrue("\(e)".contains("--remove 12"), "\(e)")
        }
        XCTAssertThrowsError(try Importance.compute(model: model, set: CalibrationSet(samples: [], source: "x"), options: ScoreOptions())) { e in
            XCTAssertTrue("\(e)".contains("zero samples"), "\(e)")
        }
        // A database file that is not SQLite.
        let dir = Fixtures.tempDir()
        let notDB = dir + "/not.sqlite"
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: notDB))
        XCTAssertThrowsError(try Importance.loadOrCompute(folder: folder, calibration: try calib(2), options: ScoreOptions(), store: SQLiteStudyStore(path: notDB))) { e in
            XCTAssertTrue(e is StoreError, "\(e)")
            XCTAssertTrue("\(e)".contains("not a SQLite database"), "\(e)")
        }
        // A database in a folder that cannot be written (a path below a regular file works even as root).
        XCTAssertThrowsError(try SQLiteStudyStore(path: notDB + "/sub/db.sqlite")) { e in
            XCTAssertTrue(e is StoreError, "\(e)")
        }
    }

    /// An interrupted run leaves no half-written scores: nothing is stored until the whole run succeeds.
    func testFailedRunStoresNothing() throws {
        let dir = Fixtures.tempDir()
        let db = dir + "/scores.sqlite"
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let bad = CalibrationSet(samples: [[1, 2, 3], [1, 5000]], source: "bad")  // id 5000 ≥ vocab: fails on sample 2
        XCTAssertThrowsError(try Importance.loadOrCompute(folder: folder, calibration: bad, options: ScoreOptions(), store: SQLiteStudyStore(path: db)))
        let count = try SQLiteStudyStore(path: db).read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM importance_scores") }
        XCTAssertEqual(count, 0)
    }

    /// A stored deeper ranking answers a shallower request (its first K rounds are the K-round ranking), and
    /// any stored ranking answers a block-influence request.
    func testDeeperStoredRankingIsReused() throws {
        let dir = Fixtures.tempDir()
        let db = dir + "/scores.sqlite"
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = try calib(2)
        var deep = ScoreOptions(); deep.remove = 4
        let stored = try Importance.loadOrCompute(folder: folder, calibration: set, options: deep, store: SQLiteStudyStore(path: db))
        XCTAssertFalse(stored.reused)
        var shallow = ScoreOptions(); shallow.remove = 2
        let again = try Importance.loadOrCompute(folder: folder, calibration: set, options: shallow, store: SQLiteStudyStore(path: db))
        XCTAssertTrue(again.reused)
        XCTAssertEqual(Array(again.scores.layerRanking!.removalOrder.prefix(2)),
                       try Importance.compute(model: NemotronHModel(source: folder), set: set, options: shallow).layerRanking!.removalOrder)
        var bi = ScoreOptions(); bi.layers = .blockInfluence
        XCTAssertTrue(try Importance.loadOrCompute(folder: folder, calibration: set, options: bi, store: SQLiteStudyStore(path: db)).reused)
        var kl = ScoreOptions(); kl.remove = 2; kl.metric = .kl
        XCTAssertFalse(try Importance.loadOrCompute(folder: folder, calibration: set, options: kl, store: SQLiteStudyStore(path: db)).reused, "another metric is another ranking")
    }
}
