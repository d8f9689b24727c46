import Foundation
import XCTest
import PruneKit

/// Distributed scoring: a job cut into units (sample ranges × candidate ranges), run in any order by any
/// number of workers, reduces to the single-process scores; the work queue's faults (a worker dying mid-unit,
/// two workers closing a round at once, a wrong model, a resume by new workers) lose and double-count nothing.
///
/// Tolerance: bit-for-bit for any cut of the samples with whole ranking rounds per unit (the default); ≤ 1e-6
/// relative and the same removal order when a round's candidates are split (stacked products of another shape
/// round differently in fp32; the measured difference is printed).
final class DistributedScoringTests: XCTestCase {
    func calib(_ n: Int? = nil) throws -> CalibrationSet {
        var s = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib-ids.jsonl", tokenizer: nil)
        if let n { s.samples = Array(s.samples.prefix(n)) }
        return s
    }

    /// Max relative difference of every score; fails on a different removal order.
    func compare(_ a: ImportanceScores, _ b: ImportanceScores, file: StaticString = #filePath, line: UInt = #line) -> Double {
        var worst = 0.0
        func rel(_ x: Double, _ y: Double) { worst = max(worst, x == y ? 0 : abs(x - y) / max(abs(y), 1e-30)) }
        func arr(_ x: [Float], _ y: [Float]) { XCTAssertEqual(x.count, y.count, file: file, line: line); for (u, v) in zip(x, y) { rel(Double(u), Double(v)) } }
        func map(_ x: [Int: [Float]], _ y: [Int: [Float]]) { XCTAssertEqual(Set(x.keys), Set(y.keys), file: file, line: line); for (k, v) in y { arr(x[k] ?? [], v) } }
        arr(a.hidden, b.hidden); map(a.ffn, b.ffn); map(a.attentionHeads, b.attentionHeads); map(a.mambaChannels, b.mambaChannels)
        map(a.mambaHeads, b.mambaHeads); map(a.mambaHeadDim, b.mambaHeadDim); arr(a.blockInfluence ?? [], b.blockInfluence ?? [])
        let width = worst
        XCTAssertEqual(a.layerRanking?.removalOrder, b.layerRanking?.removalOrder, "removal order", file: file, line: line)
        for (r, s) in zip(a.layerRanking?.rounds ?? [], b.layerRanking?.rounds ?? []) {
            XCTAssertEqual(Set(r.all.keys), Set(s.all.keys), file: file, line: line)
            for (l, v) in s.all { rel(r.all[l] ?? .nan, v) }
        }
        print("  (width scores and block influence: max relative difference \(width))")
        return worst
    }

    /// Runs the job's units phase by phase, each phase's units in a shuffled order, through a fresh runner.
    func runShuffled(_ spec: ScoringJobSpec, model: NemotronHModel, set: CalibrationSet, seed: UInt64) throws -> ImportanceScores {
        var rng = SplitMix64(seed: seed)
        let runner = ScoringUnitRunner(model: model, set: set, options: spec.options)
        var all = [ScoringUnit](), partials = [UnitPartial]()
        var phase = spec.widthUnits()
        for u in phase.shuffled(using: &rng) { partials.append(try UnitPartial.decode(try runner.run(u).encoded())) }
        all += phase
        if spec.rounds > 0 {
            phase = spec.roundUnits(round: 1, kept: Array(0..<spec.numLayers))
            for r in 1...spec.rounds {
                var rp = [UnitPartial]()
                for u in phase.shuffled(using: &rng) { rp.append(try UnitPartial.decode(try runner.run(u).encoded())) }
                all += phase; partials += rp
                if r < spec.rounds { phase = try spec.unitsAfter(phase: r, units: phase, partials: rp) }
            }
        }
        return try spec.reduce(units: all.shuffled(using: &rng), partials: partials.shuffled(using: &rng), config: model.config)
    }

    func testUnitsOfAnySizeInAnyOrderEqualSingleProcessOnNemoTiny() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = try calib(4)
        for metric in [ScoreOptions.Metric.mse, .kl] {
            var opts = ScoreOptions(); opts.metric = metric; opts.remove = metric == .kl ? 1 : 3
            let single = try Importance.compute(model: try NemotronHModel(source: folder), set: set, options: opts)
            for (samples, candidates) in metric == .kl ? [(1, 0), (3, 5)] : [(1, 0), (3, 0), (1, 1), (2, 5)] {
                let spec = ScoringJobSpec(checkpoint: folder.fingerprint, calibration: set.fingerprint, options: opts,
                                          numLayers: folder.config.numLayers, sampleCount: set.samples.count,
                                          unitSamples: samples, unitCandidates: candidates)
                let units = try runShuffled(spec, model: try NemotronHModel(source: folder), set: set, seed: UInt64(samples * 10 + candidates))
                let worst = compare(units, single)
                print("nemo-tiny \(metric): units of \(samples) samples × \(candidates == 0 ? "all" : String(candidates)) candidates, shuffled: max relative difference \(worst)")
                if candidates == 0 { XCTAssertEqual(worst, 0, "whole rounds: bit-for-bit for any cut of the samples") }
                XCTAssertLessThanOrEqual(worst, 1e-6, "split candidates: stacked products of another shape")
            }
        }
    }

    /// Real widths (hidden 5120, 40 attention heads, 128 Mamba heads × 80), two layers, T = 8, a small
    /// vocabulary so the random weights fit a test.
    func testUnitsEqualSingleProcessAt12BWidths() throws {
        var cfg = SyntheticCheckpoint.nano12BShaped(pattern: "M*")
        cfg.vocabSize = 256
        let weights = InMemoryWeights.random(config: cfg, seed: 7)
        var rng = SplitMix64(seed: 3)
        let set = CalibrationSet(samples: (0..<3).map { _ in (0..<8).map { _ in Int32(rng.next() % 256) } }, source: "random")
        let opts = ScoreOptions()
        let single = try Importance.compute(model: try NemotronHModel(source: weights), set: set, options: opts)
        let spec = ScoringJobSpec(checkpoint: "", calibration: "", options: opts, numLayers: 2, sampleCount: 3, unitSamples: 2, unitCandidates: 0)
        let units = try runShuffled(spec, model: try NemotronHModel(source: weights), set: set, seed: 1)
        let worst = compare(units, single)
        print("12B widths (M*, T = 8): units of 2 samples, shuffled: max relative difference \(worst); removal order \(single.layerRanking!.removalOrder)")
        XCTAssertEqual(worst, 0)
        XCTAssertGreaterThan(single.hidden.max() ?? 0, 0, "random weights give non-zero scores")
    }

    func testPartialRoundTripsBitExactly() throws {
        let p = UnitPartial(phase: 2, index: 5, ranking: RankingPartial(layers: [3, 4], sums: DoubleSums([.pi, .nan, -0.0, 1e-310]),
                                                                     counts: [7, 8], layerEvaluations: 9, maxEvaluationsPerSample: 4))
        let q = try UnitPartial.decode(try p.encoded())
        XCTAssertEqual(q.ranking!.sums.values.map(\.bitPattern), p.ranking!.sums.values.map(\.bitPattern))
        XCTAssertThrowsError(try UnitPartial.decode(Data("{\"phase\":0,\"index\":0,\"width\":{\"samples\":1,\"hidden\":{},\"ffn\":{},\"attention\":{},\"mamba\":{},\"cosine\":\"AAA=\"}}".utf8)))
    }

    // MARK: - Queue and workers

    final class Box<T>: @unchecked Sendable {
        let lock = NSLock()
        var values: [T?]
        init(_ n: Int) { values = Array(repeating: nil, count: n) }
        func set(_ i: Int, _ v: T?) { lock.lock(); values[i] = v; lock.unlock() }
    }

    final class FakeClock: @unchecked Sendable {
        let lock = NSLock()
        var offset = 0.0
        func now() -> Date { lock.lock(); defer { lock.unlock() }; return Date().addingTimeInterval(offset) }
        func advance(_ s: Double) { lock.lock(); offset += s; lock.unlock() }
    }

    func spec(_ folder: ModelFolder, _ set: CalibrationSet, unitSamples: Int = 2, remove: Int? = 2) -> ScoringJobSpec {
        var o = ScoreOptions(); o.remove = remove
        return ScoringJobSpec(checkpoint: folder.fingerprint, calibration: set.fingerprint, options: o, numLayers: folder.config.numLayers,
                              sampleCount: set.samples.count, unitSamples: unitSamples)
    }

    func worker(_ q: ScoringQueue, _ folder: ModelFolder, _ set: CalibrationSet, _ o: ScoreOptions, _ id: String) throws -> ScoringWorker {
        let w = ScoringWorker(queue: q, runner: ScoringUnitRunner(model: try NemotronHModel(source: folder), set: set, options: o), id: id)
        w.pollSeconds = 0.01; w.heartbeatSeconds = 0.05
        return w
    }

    /// Three workers, one of which dies holding a lease: its unit is re-leased after expiry and redone; the
    /// dead worker's late completion is discarded; every unit stored once; scores equal one process.
    func testWorkerDyingMidUnitIsRedoneAndStoredOnce() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = try calib(4)
        let s = spec(folder, set)
        let single = try Importance.compute(model: try NemotronHModel(source: folder), set: set, options: s.options)
        let clock = FakeClock()
        let q = InProcessScoringQueue(clock: clock.now)
        let job = try q.submit(s)
        let dead = try worker(q, folder, set, s.options, "dead")
        let lease = try XCTUnwrap(q.claim(job: job, worker: "dead", leaseSeconds: 60))
        XCTAssertNil(try q.claim(job: job, worker: "x", leaseSeconds: 60).flatMap { $0.unit == lease.unit ? $0 : nil }, "a live lease is not re-leased")
        clock.advance(61)  // the dead worker's lease expires (no heartbeat)
        let live = try (0..<2).map { try worker(q, folder, set, s.options, "w\($0)") }
        let box = Box<ScoringWorker.Stats>(2)
        nonisolated(unsafe) let workers = live
        DispatchQueue.concurrentPerform(iterations: 2) { i in box.set(i, try? workers[i].run(job: job)) }
        let stats = box.values
        XCTAssertTrue(stats.allSatisfy { $0?.finished == true })
        // The dead worker "wakes up" and completes its unit late: discarded.
        XCTAssertEqual(try q.complete(lease, partial: try dead.runner.run(lease.unit), seconds: 0), .alreadyDone)
        let (units, partials) = try q.results(job: job)
        XCTAssertEqual(partials.count, units.count, "each unit stored once")
        XCTAssertEqual(Set(partials.map { [$0.phase, $0.index] }).count, partials.count)
        let worst = compare(try XCTUnwrap(q.scores(job: job, config: folder.config)), single)
        print("queue, 2 live workers + 1 dead: max relative difference \(worst); units stored by worker: \(stats.map { $0?.unitsStored ?? -1 })")
        XCTAssertLessThanOrEqual(worst, 1e-7)
    }

    /// Two workers completing a round's last two units at the same moment: one next round, not two.
    func testConcurrentLastUnitsCreateOneNextRound() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = try calib(2)
        let s = spec(folder, set, unitSamples: 1, remove: 2)
        let q = InProcessScoringQueue()
        let job = try q.submit(s)
        let ws = try (0..<2).map { try worker(q, folder, set, s.options, "w\($0)") }
        // Width pass: run by one worker until only round units remain.
        for r in 1...s.rounds {
            // Drain everything except this round's units.
            while let l = try q.claim(job: job, worker: "w0", leaseSeconds: 60) {
                if l.unit.phase == r { q.release(l); break }
                _ = try q.complete(l, partial: try ws[0].runner.run(l.unit), seconds: 0)
            }
            let leases = try (0..<2).map { _ in try XCTUnwrap(q.claim(job: job, worker: "w", leaseSeconds: 60)) }
            XCTAssertEqual(leases.map(\.unit.phase), [r, r])
            let parts = try zip(leases, ws).map { try $1.runner.run($0.unit) }
            let box = Box<UnitCompletion>(2)
            DispatchQueue.concurrentPerform(iterations: 2) { i in box.set(i, try? q.complete(leases[i], partial: parts[i], seconds: 0)) }
            let outcomes = box.values
            XCTAssertEqual(outcomes.filter { $0 == .stored(closedPhase: true) }.count, 1, "exactly one completion closes round \(r)")
            let units = try q.results(job: job).units
            XCTAssertEqual(units.filter { $0.phase == r + 1 }.count, r < s.rounds ? s.roundUnits(round: r + 1, kept: Array(0..<(s.numLayers - r))).count : 0)
        }
        let single = try Importance.compute(model: try NemotronHModel(source: folder), set: set, options: s.options)
        XCTAssertLessThanOrEqual(compare(try XCTUnwrap(q.scores(job: job, config: folder.config)), single), 1e-7)
    }

    func testWrongModelOrDataIsRefusedNamingBothFingerprints() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = try calib(4), other = try calib(3)
        let s = spec(folder, set)
        XCTAssertNoThrow(try ScoringWorker.verify(s, modelFingerprint: folder.fingerprint, modelPath: folder.path, calibrationFingerprint: set.fingerprint, dataPath: "calib"))
        XCTAssertThrowsError(try ScoringWorker.verify(s, modelFingerprint: "0badf00d", modelPath: "/m", calibrationFingerprint: set.fingerprint, dataPath: "calib")) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("0badf00d") && m.contains(folder.fingerprint) && m.contains("/m"), m)
        }
        XCTAssertThrowsError(try ScoringWorker.verify(s, modelFingerprint: folder.fingerprint, modelPath: "/m", calibrationFingerprint: other.fingerprint, dataPath: "other.jsonl")) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains(other.fingerprint) && m.contains(set.fingerprint) && m.contains("other.jsonl"), m)
        }
    }

    /// A job worked on by one worker that stops, then finished later by a new worker (new model instance).
    func testJobResumedByNewWorkers() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let set = try calib(4)
        let s = spec(folder, set, remove: 3)
        let q = InProcessScoringQueue()
        let job = try q.submit(s)
        let first = try worker(q, folder, set, s.options, "first").run(job: job, maxUnits: 3)
        XCTAssertFalse(first.finished)
        XCTAssertNil(try q.scores(job: job, config: folder.config))
        let later = try worker(q, folder, set, s.options, "later").run(job: job, idleExit: 5)
        XCTAssertTrue(later.finished)
        let single = try Importance.compute(model: try NemotronHModel(source: folder), set: set, options: s.options)
        let worst = compare(try XCTUnwrap(q.scores(job: job, config: folder.config)), single)
        XCTAssertLessThanOrEqual(worst, 1e-7)
        let st = try XCTUnwrap(q.status().first)
        XCTAssertTrue(st.finished); XCTAssertEqual(st.waiting, 0); XCTAssertEqual(st.running, 0)
        XCTAssertEqual(st.currentRound, 3)
    }
}
