import Foundation

/// Language-model metrics of a model on a token set.
public struct EvalMetrics: Sendable {
    /// Mean next-token negative log-likelihood, nats per predicted token.
    public var loss: Double
    public var perplexity: Double { exp(loss) }
    /// Tokens whose next token was predicted (Σ (T_b − 1)).
    public var predictedTokens: Int
    /// Tokens run through the model (Σ T_b).
    public var tokens: Int
    public var seconds: Double
    /// Each sample's mean next-token loss, nats per predicted token, in set order.
    public var sampleLosses: [Double] = []
    /// Batches the samples ran in (``NemotronHModel/batches(_:logits:extraFloatsPerRow:)``, sized to the
    /// activation budget).
    public var batches = 1
    /// Standard error of the mean of ``sampleLosses`` (sample standard deviation / √N; nil for N < 2): the
    /// spread to compare two models on the same set with.
    public var lossStandardError: Double? { standardError(sampleLosses) }
    /// Forward throughput, tokens per second (all tokens, wall clock).
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }

    public var json: JSONValue {
        .object([("loss", .double(loss)), ("perplexity", .double(perplexity)), ("predicted_tokens", .int(predictedTokens)),
                 ("tokens", .int(tokens)), ("seconds", .double(seconds)), ("tokens_per_second", .double(tokensPerSecond)),
                 ("loss_standard_error", lossStandardError.map { .double($0) } ?? .null), ("batches", .int(batches)),
                 ("sample_losses", .array(sampleLosses.map { .double($0) }))])
    }
}

/// Standard error of the mean of `values`: sample standard deviation (n − 1) / √n; nil for fewer than 2 values.
public func standardError(_ values: [Double]) -> Double? {
    guard values.count >= 2 else { return nil }
    let n = Double(values.count), mean = values.reduce(0, +) / n
    let v = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    return (v / n).squareRoot()
}

/// Row-wise log-sum-exp of logits [T, V]: SIMD max and exponentials (``exp16(_:)``), sums in fp32 lanes per
/// block of 1024 and Double across blocks.
public func logSumExpRows(_ logits: UnsafeBufferPointer<Float>, rows T: Int, cols V: Int) -> [Double] {
    var out = [Double](repeating: 0, count: T)
    out.withUnsafeMutableBufferPointer { op in
        let o = op.baseAddress!
        parallelFor(T, minChunk: 4) { r in
            for t in r {
                let row = logits.baseAddress! + t * V
                let m = maxElement(row, count: V)
                o[t] = Double(m) + log(sumExpShifted(row, count: V, shift: m))
            }
        }
    }
    return out
}

extension NemotronHModel {
    /// Throws ``ModelError/nonFinite(_:)`` naming the first layer whose output is not finite when `logits`
    /// contain NaN or ±Inf (e.g. a corrupt weight), instead of reporting a NaN loss.
    public func checkFinite(_ logits: [Float], ids: [Int32], sample: Int, layers: [Int]? = nil) throws {
        try logits.withUnsafeBufferPointer { try checkFinite($0, ids: ids, sample: sample, layers: layers) }
    }

    /// ``checkFinite(_:ids:sample:layers:)`` on logits held elsewhere (a sample's rows of a batch).
    public func checkFinite(_ logits: UnsafeBufferPointer<Float>, ids: [Int32], sample: Int, layers: [Int]? = nil) throws {
        guard !allFinite(logits.baseAddress!, count: logits.count) else { return }
        var first: (Int, TapPoint)?
        let tap = ForwardTap(points: [.embeddings, .layerOut]) { ev in
            guard first == nil, ev.data.contains(where: { !$0.isFinite }) else { return }
            first = (ev.layer, ev.point)
        }
        _ = try forward(ids, layers: layers, sample: sample, tap: tap)
        let place: String
        if let (l, p) = first {
            place = p == .embeddings ? "the embeddings (backbone.embeddings.weight)" : "layer \(l) (\(config.pattern[l].name), tensors backbone.layers.\(l).*)"
        } else {
            place = "the final norm or lm_head (backbone.norm_f.weight, lm_head.weight)"
        }
        throw ModelError.nonFinite("sample \(sample): the logits contain NaN or infinite values; the first non-finite output is from \(place) — check those weights")
    }

    /// Mean next-token loss over a set. Samples run in batches of ``batchBudgetBytes`` (stacked rows, one
    /// product per weight and batch); the result equals running each sample on its own up to the products'
    /// rounding (≈ 3e-8 relative on nemo-tiny, `ForwardGoldenTests.testStreamedEvalLossEqualsWholeLogits`). When lm_head is
    /// cached and nobody needs the logits (`onLogits` nil), they are computed 64 MiB of rows at a time and
    /// reduced at once, never as a whole [Σ T_b, V] array (at V = 131,072 that array is 0.5 MiB per token,
    /// and its first touch alone cost ≈ 14 % of the mid-size model's eval).
    /// `onLogits(b, logits[T_b, V])` sees each sample's logits in order (e.g. to write `--logits-out`).
    /// `progress` gets a step `phase` counted in tokens, advanced after each sample (and its `onLogits`).
    /// - Throws: ``ModelError`` for an empty set or out-of-range ids.
    public func evaluate(_ set: CalibrationSet, layers: [Int]? = nil, progress: ProgressReporter? = nil, phase: String = "eval",
                         onLogits: ((Int, [Float]) throws -> Void)? = nil) throws -> EvalMetrics {
        guard !set.samples.isEmpty else { throw ModelError.emptyInput("the data set has no samples") }
        progress?.start(phase, total: set.tokenCount, unit: "tokens")
        defer { progress?.finish() }
        let start = Date()
        let V = config.vocabSize
        var total = LogitComparison()
        var tokens = 0
        var sampleLosses = [Double]()
        for (b, ids) in set.samples.enumerated() where ids.count < 2 {
            throw ModelError.emptyInput("sample \(b) has \(ids.count) token(s); a next-token loss needs at least 2 (use --seq-len ≥ 2)")
        }
        let chunked = onLogits == nil && lmHead.cached != nil
        let rowsPerChunk = max(1, (64 << 20) / (4 * V))
        let ranges = batches(set.samples.map(\.count), logits: !chunked)
        let chunk = chunked ? FloatBuffer(count: min(rowsPerChunk, set.samples.map(\.count).max() ?? 1) * V) : nil
        for range in ranges {
            let batch = Array(set.samples[range])
            if let chunk {
                // Layers for the whole batch, then lm_head and the loss a chunk of rows at a time.
                let lengths = batch.map(\.count), R = lengths.reduce(0, +), H = config.hiddenSize
                var h = try embed(batch: batch, firstSample: range.lowerBound)
                try runLayers(layers ?? Array(0..<config.numLayers), hidden: &h, lengths: lengths)
                let x = FloatBuffer(count: R * H)
                h.withUnsafeBufferPointer { finalNorm(hidden: $0.baseAddress!, rows: R, into: x.p) }
                var row = 0
                for (k, ids) in batch.enumerated() {
                    let b = range.lowerBound + k, T = ids.count
                    var sample = LogitComparison()
                    var t0 = 0
                    while t0 < T {
                        let c = min(rowsPerChunk, T - t0)
                        try linear(chunk.p, x.p + (row + t0) * H, rows: c, lmHead)
                        let part = UnsafeBufferPointer(start: UnsafePointer(chunk.p), count: c * V)
                        try checkFinite(part, ids: ids, sample: b, layers: layers)
                        sample.add(LogitComparison.nextToken(logits: part, ids: ids, firstRow: t0, vocab: V))
                        t0 += c
                    }
                    total.add(sample)
                    sampleLosses.append(sample.loss)
                    tokens += T
                    progress?.advance(by: T)
                    row += T
                }
                continue
            }
            let logits = try forward(batch: batch, layers: layers, firstSample: range.lowerBound)
            try logits.withUnsafeBufferPointer { all in
                var row = 0
                for (k, ids) in batch.enumerated() {
                    let b = range.lowerBound + k, T = ids.count
                    let own = UnsafeBufferPointer(rebasing: all[(row * V)..<((row + T) * V)])
                    try checkFinite(own, ids: ids, sample: b, layers: layers)
                    let sample = LogitComparison.nextToken(logits: own, ids: ids, vocab: V)
                    total.add(sample)
                    sampleLosses.append(sample.loss)
                    tokens += T
                    if let onLogits { try onLogits(b, batch.count == 1 ? logits : Array(own)) }
                    progress?.advance(by: T)
                    row += T
                }
            }
        }
        return EvalMetrics(loss: total.loss, predictedTokens: total.predicted, tokens: tokens,
                           seconds: Date().timeIntervalSince(start), sampleLosses: sampleLosses, batches: ranges.count)
    }
}
