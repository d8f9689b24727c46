import Foundation

/// Distance between a candidate's logits and the full model's, accumulated over samples.
struct LogitDistance {
    let metric: ScoreOptions.Metric
    var sum: Double = 0
    var count: Int = 0

    /// Adds one sample: MSE sums squared differences over [T, V] (mean over samples, positions and
    /// vocabulary, pruning.md §3); KL sums KL(p_full ‖ p_candidate) per position (mean over positions).
    mutating func add(candidate: [Float], full: [Float], rows T: Int, vocab V: Int) {
        switch metric {
        case .mse:
            var s: Double = 0
            candidate.withUnsafeBufferPointer { c in full.withUnsafeBufferPointer { f in
                for i in 0..<(T * V) { let d = Double(c[i] - f[i]); s += d * d }
            } }
            sum += s; count += T * V
        case .kl:
            sum += klDivergence(reference: full, candidate: candidate, rows: T, vocab: V)
            count += T
        }
    }

    var value: Double { count > 0 ? sum / Double(count) : .nan }
}

/// Σ over rows of KL(softmax(reference_t) ‖ softmax(candidate_t)), in nats.
public func klDivergence(reference: [Float], candidate: [Float], rows T: Int, vocab V: Int) -> Double {
    reference.withUnsafeBufferPointer { r in candidate.withUnsafeBufferPointer { c in
        let lr = logSumExpRows(r, rows: T, cols: V), lc = logSumExpRows(c, rows: T, cols: V)
        var total: Double = 0
        for t in 0..<T {
            var s: Double = 0
            for v in 0..<V {
                let a = Double(r[t * V + v]) - lr[t], b = Double(c[t * V + v]) - lc[t]
                s += exp(a) * (a - b)
            }
            total += s
        }
        return total
    } }
}

extension Importance {
    /// Iterative layer removal by logit distance to the full model (paper §4.1, pruning.md §3).
    ///
    /// Each round, for every kept layer ℓ, the model without ℓ (and without the layers removed before) is run
    /// on every sample and compared with the full model's logits; the layer with the smallest distance is
    /// removed. The inputs of every kept layer are cached per sample and round, so candidate ℓ re-runs only
    /// the layers after it: (|S| − 1) + |S|(|S| − 1)/2 ≤ |S|(|S| + 1)/2 layer evaluations per sample and round.
    ///
    /// - Parameters:
    ///   - fullLogits: the full model's logits per sample [T_b, V], or nil to recompute them each round.
    ///   - remove: rounds to run (≤ L − 1).
    ///   - progress: called after each (round, sample) with (done, total).
    public static func iterativeRanking(model: NemotronHModel, set: CalibrationSet, fullLogits: [[Float]]?,
                                        metric: ScoreOptions.Metric, remove: Int,
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
        for _ in 0..<remove {
            var dist = Dictionary(uniqueKeysWithValues: kept.map { ($0, LogitDistance(metric: metric)) })
            var roundEvals = 0
            for (b, ids) in set.samples.enumerated() {
                let T = ids.count
                let full = try fullLogits?[b] ?? model.forward(ids, sample: b)
                let before = model.layerEvaluations
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
                _ = H
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
