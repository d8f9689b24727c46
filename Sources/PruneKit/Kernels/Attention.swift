import Foundation

/// Causal grouped-query attention without positional encoding (nemotron-h.md §3.3):
/// out[t, h, :] = softmax_s≤t(Q[t,h]·K[s,kv(h)] / √d) · V[s, kv(h)], kv(h) = ⌊h / (nq/nkv)⌋.
/// Shapes: q [T, nq·d], k and v [T, nkv·d], out [T, nq·d]. Scores through sgemm per head ([T, T] scratch),
/// softmax rows in parallel, all in fp32.
public func causalAttention(_ out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                            rows T: Int, heads nq: Int, kvHeads nkv: Int, headDim d: Int) {
    let scale = 1 / Float(d).squareRoot()
    let rep = nq / nkv
    var scores = [Float](repeating: 0, count: T * T)
    scores.withUnsafeMutableBufferPointer { sb in
        let s = sb.baseAddress!
        for h in 0..<nq {
            let kv = h / rep
            // s[T, T] = q_h [T, d] · k_kvᵀ
            matmulTransB(s, q + h * d, k + kv * d, rows: T, inFeatures: d, outFeatures: T, ldx: nq * d, ldw: nkv * d, ldy: T)
            parallelFor(T, minChunk: 32) { r in
                for t in r {
                    let row = s + t * T
                    var m = -Float.infinity
                    for j in 0...t { row[j] *= scale; m = max(m, row[j]) }
                    var sum: Float = 0
                    for j in 0...t { let e = expf(row[j] - m); row[j] = e; sum += e }
                    let inv = 1 / sum
                    for j in 0...t { row[j] *= inv }
                    for j in (t + 1)..<T { row[j] = 0 }
                }
            }
            // out_h [T, d] = s [T, T] · v_kv [T, d]
            matmul(out + h * d, s, v + kv * d, m: T, k: T, n: d, lda: T, ldb: nkv * d, ldy: nq * d)
        }
    }
}
