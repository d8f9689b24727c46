import Foundation

/// The teacher's top-K next-token distribution for a block of positions: `ids` and `logprobs` are row-major
/// [rows, K]; row t lists the K most likely tokens after position t, most likely first, ties broken by the
/// lower token id.
public struct TopKLogProbs: Sendable, Equatable {
    public var rows: Int
    public var k: Int
    /// Token ids [rows, K].
    public var ids: [Int32]
    /// log softmax(logits / τ) of those tokens [rows, K], nats (≤ 0).
    public var logprobs: [Float]
}

/// Vocabulary chunk of the streaming log-sum-exp (columns per chunk).
public let topKVocabChunk = 8192

/// Top-K log-probabilities of logits [rows, V] at temperature τ: `log softmax(logits / τ)` over the full
/// vocabulary, then the K largest per row (descending; ties broken by the lower token id, so the result does
/// not depend on the selection algorithm).
///
/// The normaliser is a log-sum-exp computed in vocabulary chunks of ``topKVocabChunk`` columns (per chunk:
/// its maximum and Σ exp(x − max), merged as a running (max, sum) pair in Float64), so it is stable for any
/// logit range and never needs more than one row in flight. The selection keeps a sorted list of K while
/// scanning ids in ascending order, replacing its last entry only on a strictly larger value — which is why
/// equal values keep the lower id. Rows run in parallel. A naive twin (``naiveTopKLogProbs``) sorts every row.
///
/// Reference: transformers/torch `torch.log_softmax(logits / τ, -1).topk(K)` (ties there are unspecified;
/// here they are fixed to the lower id); Megatron-LM stores the same top-K for offline distillation.
/// - Precondition: 0 < K ≤ V, τ > 0, finite logits (the forward pass checks them).
public func topKLogProbs(_ logits: UnsafeBufferPointer<Float>, rows: Int, vocab V: Int, k K: Int, temperature tau: Double = 1) -> TopKLogProbs {
    precondition(K > 0 && K <= V && tau > 0 && logits.count >= rows * V)
    var ids = [Int32](repeating: 0, count: rows * K)
    var lps = [Float](repeating: 0, count: rows * K)
    let invTau = 1 / tau
    ids.withUnsafeMutableBufferPointer { ip in lps.withUnsafeMutableBufferPointer { lp in
        let idsOut = ip.baseAddress!, lpOut = lp.baseAddress!
        parallelFor(rows, minChunk: 1) { range in
            var topV = [Float](repeating: 0, count: K)
            var topI = [Int32](repeating: 0, count: K)
            for t in range {
                let row = logits.baseAddress! + t * V
                // 1. Streaming log-sum-exp of x/τ over vocabulary chunks.
                var m = -Double.infinity, s = 0.0
                var c0 = 0
                while c0 < V {
                    let c1 = min(V, c0 + topKVocabChunk)
                    var cm = -Float.infinity
                    for j in c0..<c1 { cm = max(cm, row[j]) }
                    let cmd = Double(cm) * invTau
                    var cs = 0.0
                    for j in c0..<c1 { cs += exp(Double(row[j]) * invTau - cmd) }
                    if cmd > m { s = s * exp(m - cmd) + cs; m = cmd } else { s += cs * exp(cmd - m) }
                    c0 = c1
                }
                let lse = m + log(s)
                // 2. Top K of the logits (order of x/τ is the order of x for τ > 0), ids ascending, strict >.
                var n = 0
                for j in 0..<V {
                    let x = row[j]
                    if n == K && x <= topV[K - 1] { continue }
                    var p = n == K ? K - 1 : n
                    while p > 0 && topV[p - 1] < x { topV[p] = topV[p - 1]; topI[p] = topI[p - 1]; p -= 1 }
                    topV[p] = x; topI[p] = Int32(j)
                    if n < K { n += 1 }
                }
                for r in 0..<K {
                    idsOut[t * K + r] = topI[r]
                    lpOut[t * K + r] = Float(Double(topV[r]) * invTau - lse)
                }
            }
        }
    } }
    return TopKLogProbs(rows: rows, k: K, ids: ids, logprobs: lps)
}

/// Naive twin of ``topKLogProbs(_:rows:vocab:k:temperature:)``: log-sum-exp over the whole row at once and a
/// full sort by (log-prob descending, id ascending). For tests.
public func naiveTopKLogProbs(_ logits: [Float], rows: Int, vocab V: Int, k K: Int, temperature tau: Double = 1) -> TopKLogProbs {
    var ids = [Int32](), lps = [Float]()
    for t in 0..<rows {
        let row = (0..<V).map { Double(logits[t * V + $0]) / tau }
        let m = row.max()!
        let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
        let order = (0..<V).sorted { (row[$0], -$0) > (row[$1], -$1) }
        for j in order.prefix(K) { ids.append(Int32(j)); lps.append(Float(row[j] - lse)) }
    }
    return TopKLogProbs(rows: rows, k: K, ids: ids, logprobs: lps)
}
