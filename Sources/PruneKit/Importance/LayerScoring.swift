import Foundation

/// Distance between a candidate's logits and the full model's, accumulated over samples: the metric's mean
/// of a ``LogitComparison`` (MSE over samples, positions and vocabulary, pruning.md §3; KL per position).
struct LogitDistance {
    let metric: ScoreOptions.Metric
    var comparison = LogitComparison()

    init(metric: ScoreOptions.Metric) { self.metric = metric }

    /// Adds one sample's logits [T, V].
    mutating func add(candidate: [Float], full: [Float], rows T: Int, vocab V: Int) {
        comparison.add(LogitComparison.of(reference: full, candidate: candidate, rows: T, vocab: V, parts: metric == .kl ? .kl : .squared))
    }

    /// Adds one sample's summed squared logit difference over [T, V] (MSE only), e.g. from the Gram matrix.
    mutating func addSquared(_ s: Double, rows T: Int, vocab V: Int) {
        comparison.addSquared(s, rows: T, vocab: V)
    }

    var value: Double { metric == .kl ? comparison.meanKL : comparison.mse }
    /// The metric's sum and what it is divided by (a unit's partial result).
    var sum: Double { metric == .kl ? comparison.kl : comparison.squared }
    var count: Int { metric == .kl ? comparison.rows : comparison.squaredCount }
}

/// In which order a round of the iterative ranking runs its layer evaluations.
public enum RankingOrder: String, Sendable, CaseIterable {
    /// Layer by layer: each kept layer runs once per round on the stacked hidden states of every candidate whose
    /// suffix contains it (candidates × T rows per product, chunked to the model's batch budget), so its weights
    /// are read once per chunk instead of once per candidate. The MSE comes from lm_head's Gram matrix.
    case layerMajor = "layer-major"
    /// Candidate by candidate from the cached prefix inputs, the MSE from full logits (the original order; the
    /// ground truth layer-major is tested against).
    case candidateMajor = "candidate-major"
}

extension Importance {
    /// Iterative layer removal by logit distance to the full model (paper §4.1, pruning.md §3).
    ///
    /// Each round, for every kept layer ℓ, the model without ℓ (and without the layers removed before) is run
    /// on every sample and compared with the full model's logits; the layer with the smallest distance is
    /// removed. Candidate ℓ shares the full model's prefix up to ℓ and re-runs only the kept layers after it:
    /// (|S| − 1) + |S|(|S| − 1)/2 ≤ |S|(|S| + 1)/2 layer evaluations per sample and round, in ``RankingOrder``.
    ///
    /// The MSE of a candidate with final-normed rows x against the full model's x_f is Σ_t Δx_t·G·Δx_tᵀ / (T·V)
    /// with G = Wᵀ·W (``NemotronHModel/lmHeadGram()``) in the layer-major order; KL needs the candidate's logits
    /// and computes them in vocabulary panels.
    ///
    /// - Parameters:
    ///   - fullLogits: the full model's logits per sample [T_b, V] (KL), or nil to recompute them each round.
    ///   - fullFinalNorm: the full model's final-normed rows per sample [T_b, H] (MSE, layer-major), or nil
    ///     to compute them here.
    ///   - remove: rounds to run (≤ L − 1).
    ///   - progress: called after each (round, sample) with (done, total).
    /// - Throws: ``ImportanceError/badRemove(_:numLayers:)``, ``ModelError`` for bad ids.
    public static func iterativeRanking(model: NemotronHModel, set: CalibrationSet, fullLogits: [[Float]]?,
                                        fullFinalNorm: [[Float]]? = nil,
                                        metric: ScoreOptions.Metric, remove: Int, order: RankingOrder = .layerMajor,
                                        progress: ((Int, Int) -> Void)? = nil) throws -> LayerRanking {
        let L = model.config.numLayers
        guard remove >= 1, remove < L else {
            throw ImportanceError.badRemove(remove, numLayers: L)
        }
        var options = ScoreOptions()
        options.metric = metric; options.remove = remove; options.dtFloor = model.dtFloor
        let runner = ScoringUnitRunner(model: model, set: set, options: options, order: order)
        for (b, r) in ((runner.baseline.finalNormRows ? fullFinalNorm : fullLogits) ?? []).enumerated() { runner.baseline.offer(sample: b, r) }
        // The rounds' units (one per round: every sample, every candidate), run here and reduced.
        let spec = ScoringJobSpec(checkpoint: "", calibration: "", options: options, numLayers: L,
                                  sampleCount: set.samples.count, unitSamples: max(1, set.samples.count))
        var round = spec.roundUnits(round: 1, kept: Array(0..<L))
        var units = [ScoringUnit](), partials = [UnitPartial]()
        var done = 0
        for r in 1...remove {
            let rp = try round.map { u in try runner.run(u) { _ in done += 1; progress?(done, remove * set.samples.count) } }
            units += round; partials += rp
            if r < remove { round = try spec.unitsAfter(phase: r, units: round, partials: rp) }
        }
        var rounds = [LayerRemovalRound](), evaluations = 0, maxPerRound = 0
        for r in 1...remove {
            let red = try spec.reduceRound(units: units.filter { $0.phase == r }, partials: partials.filter { $0.phase == r })
            rounds.append(red.round); evaluations += red.evaluations; maxPerRound = max(maxPerRound, red.maxPerSample)
        }
        return LayerRanking(metric: metric.rawValue, rounds: rounds, layerEvaluations: evaluations, maxEvaluationsPerRound: maxPerRound)
    }

    /// One sample of a layer-major round: the final hidden state [T, H] of every candidate k in `candidates`
    /// (positions in `kept`; default all; candidate k is the kept stack without kept[k]) is handed to
    /// `finished(k, state)`.
    ///
    /// Layout: slot 0 holds the shared prefix (the full kept stack so far), slot k − k0 + 1 candidate k. Layers
    /// before the first candidate run on the prefix only. Before layer kept[j] runs (j in the range), the prefix
    /// is copied to candidate j's slot (candidate j skips kept[j]); then kept[j] runs once on the prefix (while a
    /// later candidate of the range still needs it) and the slots of the candidates started before j —
    /// contiguous rows — in chunks of whole sequences within the model's batch budget. Memory:
    /// (|range| + 1)·T·H floats of states plus one chunk's scratch.
    static func layerMajorSample(model: NemotronHModel, ids: [Int32], sample: Int, kept: [Int], candidates: Range<Int>? = nil,
                                 finished: (Int, UnsafePointer<Float>) throws -> Void) throws {
        let H = model.config.hiddenSize, T = ids.count, S = kept.count
        let cands = candidates ?? 0..<S
        let k0 = cands.lowerBound, n = cands.count
        let slot = T * H
        let states = FloatBuffer(count: (n + 1) * slot)
        let h0 = try model.embed(ids, sample: sample)
        h0.withUnsafeBufferPointer { states.p.update(from: $0.baseAddress!, count: slot) }
        let perChunk = max(1, model.batches(Array(repeating: T, count: n + 1), logits: false).first?.count ?? 1)
        for (j, l) in kept.enumerated() {
            if cands.contains(j) { (states.p + (j - k0 + 1) * slot).update(from: states.p, count: slot) }
            let first = j < cands.upperBound - 1 ? 0 : 1
            let last = max(0, min(j, cands.upperBound) - k0)
            var s0 = first
            while s0 <= last {
                let c = min(perChunk, last + 1 - s0)
                try model.runLayer(l, hidden: states.p + s0 * slot, lengths: Array(repeating: T, count: c))
                s0 += c
            }
        }
        for k in cands { try finished(k, states.p + (k - k0 + 1) * slot) }
    }

    /// The same ranking without the prefix cache: every candidate runs the whole kept stack from the
    /// embeddings. The ground truth the cached version is tested against.
    public static func iterativeRankingUncached(model: NemotronHModel, set: CalibrationSet, metric: ScoreOptions.Metric,
                                                remove: Int) throws -> LayerRanking {
        let L = model.config.numLayers, V = model.config.vocabSize
        var kept = Array(0..<L)
        var rounds = [LayerRemovalRound]()
        let full = try set.samples.enumerated().map { try model.forward($0.element, sample: $0.offset) }
        let start = model.layerEvaluations
        for _ in 0..<remove {
            var all = [Int: Double]()
            for l in kept {
                var d = LogitDistance(metric: metric)
                let layers = kept.filter { $0 != l }
                for (b, ids) in set.samples.enumerated() {
                    d.add(candidate: try model.forward(ids, layers: layers, sample: b), full: full[b], rows: ids.count, vocab: V)
                }
                all[l] = d.value
            }
            let best = kept.min { (all[$0]!, $0) < (all[$1]!, $1) }!
            rounds.append(LayerRemovalRound(removed: best, score: all[best]!, all: all))
            kept.removeAll { $0 == best }
        }
        return LayerRanking(metric: metric.rawValue, rounds: rounds, layerEvaluations: model.layerEvaluations - start, maxEvaluationsPerRound: 0)
    }
}
