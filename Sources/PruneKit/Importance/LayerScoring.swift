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
        let L = model.config.numLayers, V = model.config.vocabSize, H = model.config.hiddenSize
        guard remove >= 1, remove < L else {
            throw ImportanceError.badRemove(remove, numLayers: L)
        }
        var kept = Array(0..<L)
        var rounds = [LayerRemovalRound]()
        var evaluations = 0, maxPerRound = 0
        let total = remove * set.samples.count
        var done = 0
        var reference = fullFinalNorm
        if order == .layerMajor, metric == .mse, reference == nil {
            reference = try set.samples.enumerated().map { b, ids in
                var h = try model.embed(ids, sample: b)
                try model.runLayers(0..<L, hidden: &h, rows: ids.count)
                var x = [Float](repeating: 0, count: h.count)
                h.withUnsafeBufferPointer { hp in x.withUnsafeMutableBufferPointer { model.finalNorm(hidden: hp.baseAddress!, rows: ids.count, into: $0.baseAddress!) } }
                return x
            }
        }
        for _ in 0..<remove {
            var dist = Dictionary(uniqueKeysWithValues: kept.map { ($0, LogitDistance(metric: metric)) })
            var roundEvals = 0
            for (b, ids) in set.samples.enumerated() {
                let T = ids.count
                let before = model.layerEvaluations
                switch order {
                case .layerMajor:
                    let full = metric == .kl ? try fullLogits?[b] ?? model.forward(ids, sample: b) : nil
                    try layerMajorSample(model: model, ids: ids, sample: b, kept: kept) { k, state in
                        switch metric {
                        case .mse:
                            let s = try reference![b].withUnsafeBufferPointer { rp in
                                let x = FloatBuffer(count: T * H)
                                model.finalNorm(hidden: state, rows: T, into: x.p)
                                return try model.squaredLogitDistance(x.p, rp.baseAddress!, rows: T, bRows: T)
                            }
                            dist[kept[k]]!.addSquared(s, rows: T, vocab: V)
                        case .kl:
                            let logits = try model.logits(hidden: Array(UnsafeBufferPointer(start: state, count: T * H)), rows: T)
                            dist[kept[k]]!.add(candidate: logits, full: full!, rows: T, vocab: V)
                        }
                    }
                case .candidateMajor:
                    let full = try fullLogits?[b] ?? model.forward(ids, sample: b)
                    // Inputs of every kept layer for this sample.
                    var inputs = [[Float]]()
                    inputs.reserveCapacity(kept.count)
                    var h = try model.embed(ids, sample: b)
                    for (k, l) in kept.enumerated() {
                        inputs.append(h)
                        if k < kept.count - 1 { try model.runLayer(l, hidden: &h, rows: T) }
                    }
                    for (k, l) in kept.enumerated() {
                        var x = inputs[k]
                        try model.runLayers(kept[(k + 1)...], hidden: &x, rows: T)
                        let logits = try model.logits(hidden: x, rows: T)
                        dist[l]!.add(candidate: logits, full: full, rows: T, vocab: V)
                    }
                }
                let used = model.layerEvaluations - before
                roundEvals = max(roundEvals, used)
                evaluations += used
                done += 1
                progress?(done, total)
            }
            maxPerRound = max(maxPerRound, roundEvals)
            let all = dist.mapValues(\.value)
            let best = kept.min { (all[$0]!, $0) < (all[$1]!, $1) }!
            rounds.append(LayerRemovalRound(removed: best, score: all[best]!, all: all))
            kept.removeAll { $0 == best }
        }
        return LayerRanking(metric: metric.rawValue, rounds: rounds, layerEvaluations: evaluations, maxEvaluationsPerRound: maxPerRound)
    }

    /// One sample of a layer-major round: the final hidden state [T, H] of every candidate k (the kept stack
    /// without kept[k]) is handed to `finished(k, state)`.
    ///
    /// Layout: slot 0 holds the shared prefix (the full kept stack so far), slot k + 1 candidate k. Before layer
    /// kept[j] runs, the prefix is copied to slot j + 1 (candidate j skips kept[j]); then kept[j] runs once on
    /// slots 0…j, contiguous rows [0, (j + 1)·T) (slots 1…j at the last layer, whose prefix output is unused),
    /// in chunks of whole sequences within the model's batch budget. Memory: (|S| + 1)·T·H floats of states
    /// plus one chunk's scratch.
    static func layerMajorSample(model: NemotronHModel, ids: [Int32], sample: Int, kept: [Int],
                                 finished: (Int, UnsafePointer<Float>) throws -> Void) throws {
        let H = model.config.hiddenSize, T = ids.count, S = kept.count
        let slot = T * H
        let states = FloatBuffer(count: (S + 1) * slot)
        let h0 = try model.embed(ids, sample: sample)
        h0.withUnsafeBufferPointer { states.p.update(from: $0.baseAddress!, count: slot) }
        let perChunk = max(1, model.batches(Array(repeating: T, count: S + 1), logits: false).first?.count ?? 1)
        for (j, l) in kept.enumerated() {
            (states.p + (j + 1) * slot).update(from: states.p, count: slot)
            let first = j == S - 1 ? 1 : 0
            var s0 = first
            while s0 <= j {
                let n = min(perChunk, j + 1 - s0)
                try model.runLayer(l, hidden: states.p + s0 * slot, lengths: Array(repeating: T, count: n))
                s0 += n
            }
        }
        for k in 0..<S { try finished(k, states.p + (k + 1) * slot) }
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
