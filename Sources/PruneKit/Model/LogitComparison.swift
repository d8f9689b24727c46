import Foundation

/// The one comparison of a candidate's logits with a reference's (the full model, a teacher), used by the
/// iterative layer ranking, the search's candidate evaluation and `prunekit eval` (pruning.md §3, §6):
/// KL(p_reference ‖ p_candidate) per position, the squared logit difference over [T, V], and the next-token
/// NLL of both. Each row is streamed over the vocabulary in chunks of ``chunk`` logits with online
/// log-sum-exp (one pass, two `exp` per logit; no [T, V] temporaries); rows run in parallel. Sums are kept so
/// samples add up; the means are the figures reported.
///
/// The ranking's layer-major MSE comes from lm_head's Gram matrix instead (``NemotronHModel/lmHeadGram()``):
/// it adds its squared sums with ``addSquared(_:rows:vocab:)``.
public struct LogitComparison: Sendable, Equatable {
    /// Which figures to compute (KL costs two `exp` per logit; the squared difference none).
    public struct Parts: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let kl = Parts(rawValue: 1)
        public static let squared = Parts(rawValue: 2)
        /// Next-token NLL of the candidate and of the reference (needs the token ids).
        public static let nll = Parts(rawValue: 4)
        public static let all: Parts = [.kl, .squared, .nll]
    }

    /// Logits per streamed chunk of a row.
    public static let chunk = 8192

    /// Σ over positions of KL(softmax(reference_t) ‖ softmax(candidate_t)), nats.
    public var kl = 0.0
    /// Σ over positions and vocabulary of (candidate − reference)².
    public var squared = 0.0
    /// Σ over t < T − 1 of −log p_candidate(ids[t+1] | ids[≤t]), nats.
    public var nll = 0.0
    /// The same for the reference.
    public var referenceNLL = 0.0
    /// Positions compared, and positions with a next token.
    public var rows = 0
    public var predicted = 0
    /// Logits per position (vocabulary size) of the squared sums.
    public var squaredCount = 0

    public init() {}

    /// Mean KL per position, nats/token.
    public var meanKL: Double { rows > 0 ? kl / Double(rows) : .nan }
    /// Mean squared logit difference over positions and vocabulary.
    public var mse: Double { squaredCount > 0 ? squared / Double(squaredCount) : .nan }
    /// The candidate's mean next-token loss, nats per predicted token.
    public var loss: Double { predicted > 0 ? nll / Double(predicted) : .nan }
    /// The reference's mean next-token loss.
    public var referenceLoss: Double { predicted > 0 ? referenceNLL / Double(predicted) : .nan }

    /// Adds another comparison's sums (e.g. the next sample's).
    public mutating func add(_ o: LogitComparison) {
        kl += o.kl; squared += o.squared; nll += o.nll; referenceNLL += o.referenceNLL
        rows += o.rows; predicted += o.predicted; squaredCount += o.squaredCount
    }

    /// Adds a squared-difference sum computed elsewhere (the Gram matrix) for `rows` positions of `vocab` logits.
    public mutating func addSquared(_ s: Double, rows T: Int, vocab V: Int) {
        squared += s; squaredCount += T * V
    }

    /// Compares one sample's logits [T, V] (row-major). `ids` (T tokens) is needed for ``Parts/nll``.
    public static func of(reference: [Float], candidate: [Float], ids: [Int32]? = nil, rows T: Int, vocab V: Int,
                          parts: Parts = .all) -> LogitComparison {
        precondition(reference.count >= T * V && candidate.count >= T * V, "logits shorter than [T, V]")
        var perRow = [(kl: Double, sq: Double, nll: Double, refNLL: Double)](repeating: (0, 0, 0, 0), count: T)
        let wantNLL = parts.contains(.nll) && ids != nil
        reference.withUnsafeBufferPointer { rp in candidate.withUnsafeBufferPointer { cp in perRow.withUnsafeMutableBufferPointer { out in
            let o = out.baseAddress!
            parallelFor(T, minChunk: 4) { range in
                for t in range {
                    let r = rp.baseAddress! + t * V, c = cp.baseAddress! + t * V
                    o[t] = row(r, c, V, parts)
                    if wantNLL, t + 1 < T {
                        let target = Int(ids![t + 1])
                        // row() returned the log-sum-exps in the nll slots.
                        o[t].nll -= Double(c[target]); o[t].refNLL -= Double(r[target])
                    } else {
                        o[t].nll = 0; o[t].refNLL = 0
                    }
                }
            }
        } } }
        var out = LogitComparison()
        for x in perRow { out.kl += x.kl; out.squared += x.sq; out.nll += x.nll; out.referenceNLL += x.refNLL }
        out.rows = T
        out.predicted = wantNLL ? max(0, T - 1) : 0
        if parts.contains(.squared) { out.squaredCount = T * V } else { out.squared = 0 }
        return out
    }

    /// The next-token NLL of logits [T, V] alone (no reference: `prunekit eval`): ``nll`` and ``predicted``
    /// (T − 1 positions) set, the rest zero. Log-sum-exp rows with SIMD exponentials (``logSumExpRows(_:rows:cols:)``),
    /// since eval's cost outside the matrix products is this pass over [T, V].
    public static func nextToken(logits: [Float], ids: [Int32], vocab V: Int) -> LogitComparison {
        precondition(logits.count >= ids.count * V, "logits shorter than [T, V]")
        return logits.withUnsafeBufferPointer { nextToken(logits: UnsafeBufferPointer(rebasing: $0[0..<(ids.count * V)]), ids: ids, vocab: V) }
    }

    /// ``nextToken(logits:ids:vocab:)`` on logits held elsewhere: `lp` holds rows [firstRow, firstRow + n) of
    /// the sample's [T, V] logits (n = lp.count / V; default all of them), so a caller can stream the
    /// vocabulary product in row chunks and add the parts up (same sums, same order).
    public static func nextToken(logits lp: UnsafeBufferPointer<Float>, ids: [Int32], firstRow: Int = 0, vocab V: Int) -> LogitComparison {
        let T = ids.count, n = lp.count / V
        precondition(n * V == lp.count && firstRow >= 0 && firstRow + n <= T, "logits rows outside [0, T)")
        var out = LogitComparison()
        out.rows = n
        let predicted = max(0, min(n, T - 1 - firstRow))
        guard predicted > 0 else { return out }
        let lse = logSumExpRows(lp, rows: predicted, cols: V)
        for i in 0..<predicted { out.nll += lse[i] - Double(lp[i * V + Int(ids[firstRow + i + 1])]) }
        out.predicted = predicted
        return out
    }

    /// One row: KL, squared difference, and the candidate's and reference's log-sum-exp (in the nll slots).
    private static func row(_ r: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ V: Int, _ parts: Parts)
        -> (kl: Double, sq: Double, nll: Double, refNLL: Double)
    {
        let wantKL = parts.contains(.kl) || parts.contains(.nll)
        var mr = -Double.infinity, sr = 0.0, w = 0.0, mc = -Double.infinity, sc = 0.0, sq = 0.0
        var start = 0
        while start < V {
            let n = min(chunk, V - start)
            let rr = r + start, cc = c + start
            if wantKL {
                let cmr = Double(maxElement(rr, count: n)), cmc = Double(maxElement(cc, count: n))
                if cmr > mr { let f = mr == -.infinity ? 0 : exp(mr - cmr); sr *= f; w *= f; mr = cmr }
                if cmc > mc { sc *= mc == -.infinity ? 0 : exp(mc - cmc); mc = cmc }
                for v in 0..<n {
                    let a = Double(rr[v]), b = Double(cc[v])
                    let e = exp(a - mr)
                    sr += e; w += e * (a - b); sc += exp(b - mc)
                }
            }
            if parts.contains(.squared) {
                for v in 0..<n { let d = Double(cc[v] - rr[v]); sq += d * d }
            }
            start += n
        }
        guard wantKL else { return (0, sq, 0, 0) }
        let lseR = mr + log(sr), lseC = mc + log(sc)
        // KL = Σ p_r (r − c) − lse_r + lse_c.
        let kl = parts.contains(.kl) ? w / sr - lseR + lseC : 0
        return (kl, sq, lseC, lseR)
    }
}
