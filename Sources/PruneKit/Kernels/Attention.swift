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
                    softmaxRow(s + t * T, count: t + 1, scale: scale)
                    (s + t * T + t + 1).update(repeating: 0, count: T - t - 1)
                }
            }
            // out_h [T, d] = s [T, T] · v_kv [T, d]
            matmul(out + h * d, s, v + kv * d, m: T, k: T, n: d, lda: T, ldb: nkv * d, ldy: nq * d)
        }
    }
}

/// row[0..<n] ← softmax(scale · row[0..<n]) in SIMD lanes (``exp16(_:)``).
@inline(__always)
func softmaxRow(_ row: UnsafeMutablePointer<Float>, count n: Int, scale: Float) {
    let m = maxElement(row, count: n) * scale
    let raw = UnsafeMutableRawPointer(row)
    var acc = SIMD16<Float>()
    var j = 0
    while j + 16 <= n {
        let e = exp16(raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) * scale - m)
        raw.storeBytes(of: e, toByteOffset: 4 * j, as: SIMD16<Float>.self)
        acc += e
        j += 16
    }
    var sum = acc.sum()
    while j < n { let e = expf(row[j] * scale - m); row[j] = e; sum += e; j += 1 }
    let inv = 1 / sum
    j = 0
    while j + 16 <= n {
        raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) * inv, toByteOffset: 4 * j, as: SIMD16<Float>.self)
        j += 16
    }
    while j < n { row[j] *= inv; j += 1 }
}
