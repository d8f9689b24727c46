import Foundation

/// A scoring job cut into units of work that any number of workers compute independently (pruning.md §2–§3).
///
/// Every score is a sum over samples (width scores: Σ_b of squared per-sample means; block influence: Σ_b of
/// mean cosines; each candidate's logit MSE or KL: Σ over samples and positions), and a round of the iterative
/// ranking is independent across candidate layers. So the job is:
/// - phase 0, the width pass: units of sample ranges (width scores and block influence);
/// - phase r = 1…rounds, round r of the iterative ranking: units of (sample range × range of positions in the
///   kept-layer list). Round r + 1's units exist once round r is reduced (its removed layer is known).
///
/// Each unit yields a ``UnitPartial`` (per-channel sums, per-candidate distance sums and token counts); the
/// reduction adds the partials of a phase in unit-index order. The single-process ``Importance/compute(model:set:options:progress:)``
/// is this reduction with one unit per phase. Every sample runs in its own forward and every ranking unit
/// scores whole rounds by default, so a sample's contributions do not depend on the cut; the unit sums are
/// Doubles of per-sample terms, so cutting the samples differently changes the result only by Double
/// re-association (below float resolution: bit-for-bit in the tests). Splitting a round's candidates
/// (``unitCandidates`` > 0) changes how many hidden states share a stacked product, whose fp32 rounding then
/// differs: ≤ 1e-6 relative (measured ≤ 3.3e-7 on the fixture), same removal order.
public struct ScoringJobSpec: Codable, Sendable, Equatable {
    /// ``ModelFolder/fingerprint`` of the checkpoint the job scores.
    public var checkpoint: String
    /// ``CalibrationSet/fingerprint`` of the calibration set.
    public var calibration: String
    public var options: ScoreOptions
    /// Layers of the checkpoint (L).
    public var numLayers: Int
    /// Calibration samples (B).
    public var sampleCount: Int
    /// Samples per unit (both phases).
    public var unitSamples: Int
    /// Kept-layer positions per ranking unit; 0: all candidates of the round in one unit.
    public var unitCandidates: Int
    /// Tokens of each calibration sample (B entries), for the workers' tokens/s in `prunekit jobs`; nil in jobs
    /// submitted by an older PruneKit (tokens/s then unknown).
    public var sampleTokens: [Int]?

    /// Default samples per unit: 4. A unit repeats two things another cut would not: the full model's
    /// reference forward of its samples (L layer evaluations per sample, against ≈ |S|(|S| + 1)/2 for the
    /// round's candidates: ≈ 3 % at L = 62) and, on a fresh worker, lm_head's Gram matrix (once per process).
    /// Neither depends on the unit size; what does is the per-unit store traffic (claim, heartbeat, one partial
    /// of ≤ 10 MB at 12B widths), which at 4 samples × 1024 tokens of a 12B model (minutes per unit) is far
    /// below 1 %, while 64 samples still give 16 units per round to share out.
    public static let defaultUnitSamples = 4

    public init(checkpoint: String, calibration: String, options: ScoreOptions, numLayers: Int, sampleCount: Int,
                unitSamples: Int = ScoringJobSpec.defaultUnitSamples, unitCandidates: Int = 0) {
        self.checkpoint = checkpoint; self.calibration = calibration; self.options = options
        self.numLayers = numLayers; self.sampleCount = sampleCount
        self.unitSamples = max(1, unitSamples); self.unitCandidates = max(0, unitCandidates)
    }

    /// Calibration tokens of `unit`'s samples (nil without ``sampleTokens``).
    public func tokens(of unit: ScoringUnit) -> Int? {
        guard let t = sampleTokens, unit.samples.upperBound <= t.count else { return nil }
        return t[unit.samples].reduce(0, +)
    }

    /// Rounds of the iterative ranking (0 without one).
    public var rounds: Int { options.layers == .iterativeMSE ? (options.remove ?? numLayers - 1) : 0 }

    /// Units of the whole job (every round's, including those not yet created).
    public var totalUnits: Int {
        let s = sampleRanges.count
        var n = s
        if rounds > 0 {
            for r in 1...rounds {
                let S = numLayers - r + 1, per = unitCandidates == 0 ? S : unitCandidates
                n += s * ((S + per - 1) / per)
            }
        }
        return n
    }

    /// Checks the spec: samples present, `remove` in 1…L − 1.
    /// - Throws: ``ImportanceError``.
    public func validate() throws {
        guard sampleCount > 0 else { throw ImportanceError.emptyCalibration }
        if options.layers == .iterativeMSE, rounds < 1 || rounds >= numLayers { throw ImportanceError.badRemove(rounds, numLayers: numLayers) }
    }

    private var sampleRanges: [Range<Int>] {
        stride(from: 0, to: sampleCount, by: unitSamples).map { $0..<min($0 + unitSamples, sampleCount) }
    }

    /// The width pass's units (phase 0), in reduction order.
    public func widthUnits() -> [ScoringUnit] {
        sampleRanges.enumerated().map { ScoringUnit(phase: 0, index: $0.offset, samples: $0.element, kept: [], candidates: 0..<0) }
    }

    /// Round `round`'s units (sample-range-major, candidate-range-minor) for the layers `kept` at its start.
    public func roundUnits(round: Int, kept: [Int]) -> [ScoringUnit] {
        let per = unitCandidates == 0 ? kept.count : unitCandidates
        let cands = stride(from: 0, to: kept.count, by: per).map { $0..<min($0 + per, kept.count) }
        var out = [ScoringUnit]()
        for s in sampleRanges { for c in cands { out.append(ScoringUnit(phase: round, index: out.count, samples: s, kept: kept, candidates: c)) } }
        return out
    }

    /// The units that exist when the job starts: the width pass and the first round (independent of each other).
    public func initialUnits() -> [ScoringUnit] {
        widthUnits() + (rounds > 0 ? roundUnits(round: 1, kept: Array(0..<numLayers)) : [])
    }

    /// Units to create once `phase` is complete with `partials` (all of its units'): the next round's, when
    /// `phase` is a round and not the last. The removed layer is the one with the smallest reduced distance.
    /// - Throws: ``ScoringJobError/incompletePhase(_:have:want:)`` when partials are missing.
    public func unitsAfter(phase: Int, units: [ScoringUnit], partials: [UnitPartial]) throws -> [ScoringUnit] {
        guard phase >= 1, phase < rounds else { return [] }
        let round = try reduceRound(units: units, partials: partials)
        return roundUnits(round: phase + 1, kept: units[0].kept.filter { $0 != round.round.removed })
    }

    /// Reduces one round: Σ of each candidate's distance sums and counts over units in index order; the
    /// removed layer is the smallest mean distance (ties: lower layer).
    func reduceRound(units: [ScoringUnit], partials: [UnitPartial]) throws -> (round: LayerRemovalRound, evaluations: Int, maxPerSample: Int) {
        let phase = units.first?.phase ?? 0
        let byIndex = Dictionary(partials.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
        guard byIndex.count == units.count else { throw ScoringJobError.incompletePhase(phase, have: byIndex.count, want: units.count) }
        let kept = units[0].kept
        var sum = [Int: Double](), count = [Int: Int]()
        var evaluations = 0
        var perSampleRange = [Range<Int>: Int]()
        for u in units.sorted(by: { $0.index < $1.index }) {
            guard let p = byIndex[u.index]?.ranking else { throw ScoringJobError.incompletePhase(phase, have: byIndex.count, want: units.count) }
            for (k, l) in p.layers.enumerated() { sum[l, default: 0] += p.sums.values[k]; count[l, default: 0] += p.counts[k] }
            evaluations += p.layerEvaluations
            perSampleRange[u.samples, default: 0] += p.maxEvaluationsPerSample
        }
        let all = Dictionary(uniqueKeysWithValues: kept.map { l in (l, count[l, default: 0] > 0 ? sum[l]! / Double(count[l]!) : .nan) })
        let best = kept.min { (all[$0]!, $0) < (all[$1]!, $1) }!
        return (LayerRemovalRound(removed: best, score: all[best]!, all: all), evaluations, perSampleRange.values.max() ?? 0)
    }

    /// The job's scores from every unit's partial (all phases), reduced in unit-index order per phase.
    /// - Throws: ``ScoringJobError`` when a phase is incomplete.
    public func reduce(units: [ScoringUnit], partials: [UnitPartial], config: NemotronHConfig) throws -> ImportanceScores {
        let byPhase = Dictionary(grouping: units, by: \.phase)
        let partialsByPhase = Dictionary(grouping: partials, by: \.phase)
        let width = (byPhase[0] ?? []).sorted { $0.index < $1.index }
        let wp = Dictionary((partialsByPhase[0] ?? []).map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
        guard !width.isEmpty, wp.count == width.count else { throw ScoringJobError.incompletePhase(0, have: wp.count, want: width.count) }
        let scorer = WidthScorer(config: config, options: options)
        for u in width {
            guard let p = wp[u.index]?.width else { throw ScoringJobError.incompletePhase(0, have: wp.count, want: width.count) }
            scorer.absorb(p)
        }
        var scores = scorer.finish()
        if rounds > 0 {
            var list = [LayerRemovalRound](), evaluations = 0, maxPer = 0
            for r in 1...rounds {
                guard let us = byPhase[r] else { throw ScoringJobError.incompletePhase(r, have: 0, want: 1) }
                let red = try reduceRound(units: us, partials: partialsByPhase[r] ?? [])
                list.append(red.round); evaluations += red.evaluations; maxPer = max(maxPer, red.maxPerSample)
            }
            scores.layerRanking = LayerRanking(metric: options.metric.rawValue, rounds: list, layerEvaluations: evaluations, maxEvaluationsPerRound: maxPer)
        }
        return scores
    }
}

/// Errors of scoring jobs and their queue (bad input: exit code 2).
public enum ScoringJobError: Error, CustomStringConvertible {
    case incompletePhase(Int, have: Int, want: Int)
    /// The worker's local model or calibration data is not the job's: (what, job's fingerprint, local fingerprint, local path).
    case fingerprintMismatch(what: String, job: String, local: String, path: String)
    case unknownJob(String)
    case corruptPartial(job: String, phase: Int, index: Int, message: String)

    public var description: String {
        switch self {
        case let .incompletePhase(p, have, want):
            return "phase \(p) of the scoring job is incomplete: \(have) of \(want) unit results"
        case let .fingerprintMismatch(what, job, local, path):
            return "\(path): this \(what) has fingerprint \(local), but the job was submitted for \(what) fingerprint \(job); refusing to compute units for it"
        case let .unknownJob(id): return "no scoring job \(id)"
        case let .corruptPartial(job, phase, index, message):
            return "job \(job), phase \(phase), unit \(index): stored result unreadable (\(message))"
        }
    }
}

/// One unit of a scoring job.
public struct ScoringUnit: Codable, Sendable, Hashable {
    /// 0: the width pass; r ≥ 1: round r of the iterative ranking.
    public var phase: Int
    /// Position in the phase's reduction order.
    public var index: Int
    /// Calibration samples [lower, upper).
    public var samples: Range<Int>
    /// Ranking rounds: the layers kept at the round's start (checkpoint numbering); empty for the width pass.
    public var kept: [Int]
    /// Ranking rounds: positions in `kept` of the candidates this unit scores (candidate k drops kept[k]).
    public var candidates: Range<Int>
    public init(phase: Int, index: Int, samples: Range<Int>, kept: [Int], candidates: Range<Int>) {
        self.phase = phase; self.index = index; self.samples = samples; self.kept = kept; self.candidates = candidates
    }
}

/// Doubles serialized bit-exactly as little-endian bytes (base64 in JSON): 8 bytes per value.
public struct DoubleSums: Codable, Sendable, Equatable {
    public var values: [Double]
    public init(_ values: [Double]) { self.values = values }
    public init(from decoder: Decoder) throws {
        let data = try decoder.singleValueContainer().decode(Data.self)
        guard data.count % 8 == 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(data.count) bytes is not a whole number of doubles"))
        }
        values = (0..<(data.count / 8)).map { i in
            var bits: UInt64 = 0
            for k in 0..<8 { bits |= UInt64(data[data.startIndex + i * 8 + k]) << (8 * UInt64(k)) }
            return Double(bitPattern: bits)
        }
    }
    public func encode(to encoder: Encoder) throws {
        var bytes = [UInt8](); bytes.reserveCapacity(values.count * 8)
        for v in values { let b = v.bitPattern; for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: b >> (8 * UInt64(k)))) } }
        var c = encoder.singleValueContainer()
        try c.encode(Data(bytes))
    }
}

/// A unit's result: exactly one of `width` (phase 0) or `ranking` (phase ≥ 1).
public struct UnitPartial: Codable, Sendable, Equatable {
    public var phase: Int
    public var index: Int
    public var width: WidthPartial?
    public var ranking: RankingPartial?
    public init(phase: Int, index: Int, width: WidthPartial? = nil, ranking: RankingPartial? = nil) {
        self.phase = phase; self.index = index; self.width = width; self.ranking = ranking
    }

    /// The stored form (JSON with base64 sums; ≤ 10.7 bytes per Double).
    public func encoded() throws -> Data { try JSONEncoder().encode(self) }
    public static func decode(_ data: Data) throws -> UnitPartial { try JSONDecoder().decode(UnitPartial.self, from: data) }
}

/// Width-pass sums of a range of samples: per layer, the per-channel Σ_b f(per-sample aggregate) of each
/// scored activation (hidden: mixer input [H]; ffn: down_proj input [F]; attention: o_proj input [nq·d];
/// mamba: x slice of in_proj [nh·P]) and Σ_b mean_t cos(h_in, h_out) per layer [L].
public struct WidthPartial: Codable, Sendable, Equatable {
    public var samples: Int
    public var hidden: [Int: DoubleSums]
    public var ffn: [Int: DoubleSums]
    public var attention: [Int: DoubleSums]
    public var mamba: [Int: DoubleSums]
    public var cosine: DoubleSums
}

/// Ranking sums of a unit: for each candidate layer (removed one), Σ of its squared logit difference (MSE)
/// or per-position KL over the unit's samples, and the count it is divided by (T·V per sample for MSE, T for KL).
public struct RankingPartial: Codable, Sendable, Equatable {
    public var layers: [Int]
    public var sums: DoubleSums
    public var counts: [Int]
    /// Layer evaluations spent on the candidates (the reference forward excluded).
    public var layerEvaluations: Int
    /// Layer evaluations per sample for this unit's candidates.
    public var maxEvaluationsPerSample: Int

    public init(layers: [Int], sums: DoubleSums, counts: [Int], layerEvaluations: Int, maxEvaluationsPerSample: Int) {
        self.layers = layers; self.sums = sums; self.counts = counts
        self.layerEvaluations = layerEvaluations; self.maxEvaluationsPerSample = maxEvaluationsPerSample
    }
}

/// The full model's reference for the ranking, per sample: final-normed rows [T, H] (MSE through the Gram
/// matrix) or logits [T, V] (KL, and the candidate-major order), kept within a byte budget and recomputed
/// beyond it.
final class RankingBaseline {
    let finalNormRows: Bool
    let budgetBytes: Int
    private(set) var rows = [Int: [Float]]()
    private var bytes = 0

    init(finalNormRows: Bool, budgetBytes: Int) { self.finalNormRows = finalNormRows; self.budgetBytes = budgetBytes }

    func offer(sample b: Int, _ r: [Float]) {
        guard rows[b] == nil, bytes + r.count * 4 <= budgetBytes else { return }
        rows[b] = r; bytes += r.count * 4
    }

    func get(model: NemotronHModel, ids: [Int32], sample b: Int) throws -> [Float] {
        if let r = rows[b] { return r }
        let r: [Float]
        if finalNormRows {
            var h = try model.embed(ids, sample: b)
            try model.runLayers(0..<model.config.numLayers, hidden: &h, rows: ids.count)
            var x = [Float](repeating: 0, count: h.count)
            h.withUnsafeBufferPointer { hp in x.withUnsafeMutableBufferPointer { model.finalNorm(hidden: hp.baseAddress!, rows: ids.count, into: $0.baseAddress!) } }
            r = x
        } else {
            r = try model.forward(ids, sample: b)
        }
        offer(sample: b, r)
        return r
    }
}

/// Computes units of a scoring job on one loaded model (one per worker process). Keeps the full model's
/// per-sample reference between units (``RankingBaseline``), so a worker that scores the same samples in
/// several rounds runs their reference forward once.
public final class ScoringUnitRunner {
    public let model: NemotronHModel
    public let set: CalibrationSet
    public let options: ScoreOptions
    public let order: RankingOrder
    let baseline: RankingBaseline

    /// - Parameter baselineBudgetBytes: bytes of reference rows kept between units (default 2 GiB).
    public init(model: NemotronHModel, set: CalibrationSet, options: ScoreOptions, order: RankingOrder = .layerMajor,
                baselineBudgetBytes: Int = 2 << 30) {
        self.model = model; self.set = set; self.options = options; self.order = order
        model.dtFloor = options.dtFloor
        baseline = RankingBaseline(finalNormRows: order == .layerMajor && options.metric == .mse, budgetBytes: options.layers == .iterativeMSE ? baselineBudgetBytes : 0)
    }

    /// Computes `unit`. `progress(sample)` is called after each sample.
    /// - Throws: ``ModelError`` for bad ids or non-finite logits; what the weight source throws.
    public func run(_ unit: ScoringUnit, progress: ((Int) -> Void)? = nil) throws -> UnitPartial {
        if unit.phase == 0 {
            return UnitPartial(phase: 0, index: unit.index, width: try width(unit, progress: progress))
        }
        return UnitPartial(phase: unit.phase, index: unit.index, ranking: try ranking(unit, progress: progress))
    }

    private func width(_ unit: ScoringUnit, progress: ((Int) -> Void)?) throws -> WidthPartial {
        let scorer = WidthScorer(config: model.config, options: options)
        let ranking = options.layers == .iterativeMSE
        let keepFinalNorm = ranking && baseline.finalNormRows
        let keepLogits = ranking && !baseline.finalNormRows
        var first = 0
        let widthTap = scorer.tap
        let base = baseline
        let tap = ForwardTap(points: widthTap.points.union(keepFinalNorm ? [.finalNorm] : [])) { ev in
            if ev.point == .finalNorm { base.offer(sample: first + ev.sequence, Array(ev.data)) } else { widthTap.observe(ev) }
        }
        // One sample per forward: a sample's activations then never depend on which samples share its batch (the
        // stacked products' rounding does), so any cut of the samples into units gives the same sums.
        for b in unit.samples {
            let ids = set.samples[b]
            first = b
            let logits = try model.forward(batch: [ids], firstSample: b, tap: tap)
            try model.checkFinite(logits, ids: ids, sample: b)
            scorer.samples += 1
            if keepLogits { baseline.offer(sample: b, logits) }
            progress?(b)
        }
        return scorer.partial()
    }

    private func ranking(_ unit: ScoringUnit, progress: ((Int) -> Void)?) throws -> RankingPartial {
        let V = model.config.vocabSize, H = model.config.hiddenSize
        let kept = unit.kept, cands = unit.candidates
        var dist = cands.map { _ in LogitDistance(metric: options.metric) }
        var evaluations = 0, perSample = 0
        for b in unit.samples {
            let ids = set.samples[b], T = ids.count
            let reference = try baseline.get(model: model, ids: ids, sample: b)
            let before = model.layerEvaluations
            switch order {
            case .layerMajor:
                try Importance.layerMajorSample(model: model, ids: ids, sample: b, kept: kept, candidates: cands) { k, state in
                    switch options.metric {
                    case .mse:
                        let s = try reference.withUnsafeBufferPointer { rp in
                            let x = FloatBuffer(count: T * H)
                            model.finalNorm(hidden: state, rows: T, into: x.p)
                            return try model.squaredLogitDistance(x.p, rp.baseAddress!, rows: T, bRows: T)
                        }
                        dist[k - cands.lowerBound].addSquared(s, rows: T, vocab: V)
                    case .kl:
                        let logits = try model.logits(hidden: Array(UnsafeBufferPointer(start: state, count: T * H)), rows: T)
                        dist[k - cands.lowerBound].add(candidate: logits, full: reference, rows: T, vocab: V)
                    }
                }
            case .candidateMajor:
                // Inputs of the candidates' skipped layers for this sample.
                var inputs = [[Float]]()
                var h = try model.embed(ids, sample: b)
                for (k, l) in kept.enumerated() where k < cands.upperBound {
                    if k >= cands.lowerBound { inputs.append(h) }
                    if k < cands.upperBound - 1 { try model.runLayer(l, hidden: &h, rows: T) }
                }
                for k in cands {
                    var x = inputs[k - cands.lowerBound]
                    try model.runLayers(kept[(k + 1)...], hidden: &x, rows: T)
                    let logits = try model.logits(hidden: x, rows: T)
                    dist[k - cands.lowerBound].add(candidate: logits, full: reference, rows: T, vocab: V)
                }
            }
            let used = model.layerEvaluations - before
            evaluations += used; perSample = max(perSample, used)
            progress?(b)
        }
        return RankingPartial(layers: cands.map { kept[$0] }, sums: DoubleSums(dist.map(\.sum)), counts: dist.map(\.count),
                              layerEvaluations: evaluations, maxEvaluationsPerSample: perSample)
    }
}

extension ScoringJobSpec {
    /// Runs every unit of the job in this process, phase by phase in unit order, and reduces them: the
    /// single-process scoring (``Importance/compute(model:set:options:progress:)``) and the ground truth the
    /// distributed runs are tested against.
    /// - Parameter progress: (phase name "width" / "layers", done, total) per sample.
    public func runLocally(_ runner: ScoringUnitRunner, progress: ((String, Int, Int) -> Void)? = nil) throws -> ImportanceScores {
        try validate()
        var units = widthUnits()
        var partials = [UnitPartial]()
        var done = 0
        for u in units { partials.append(try runner.run(u) { b in progress?("width", b + 1, sampleCount) }) }
        if rounds > 0 {
            var round = roundUnits(round: 1, kept: Array(0..<numLayers))
            let total = rounds * sampleCount
            for r in 1...rounds {
                var rp = [UnitPartial]()
                for u in round {
                    rp.append(try runner.run(u) { _ in if u.candidates.upperBound == u.kept.count { done += 1; progress?("layers", done, total) } })
                }
                units += round; partials += rp
                if r < rounds { round = try unitsAfter(phase: r, units: round, partials: rp) }
            }
        }
        return try reduce(units: units, partials: partials, config: runner.model.config)
    }
}
