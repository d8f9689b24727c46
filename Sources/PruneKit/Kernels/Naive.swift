import Foundation

/// Naive twins of the optimised kernels: the plainest loops that follow nemotron-h.md §3 line by line,
/// kept as ground truth for tests (llm.c habit). Not used by the forward pass.
public enum Naive {
    /// y[T, out] = x[T, in] · W[out, in]ᵀ
    public static func matmulTransB(_ x: [Float], _ w: [Float], rows: Int, inFeatures: Int, outFeatures: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outFeatures)
        for t in 0..<rows { for o in 0..<outFeatures {
            var acc: Double = 0
            for i in 0..<inFeatures { acc += Double(x[t * inFeatures + i]) * Double(w[o * inFeatures + i]) }
            y[t * outFeatures + o] = Float(acc)
        } }
        return y
    }

    /// Twin of the panel-streamed ``linear(_:_:rows:_:ldx:ldy:)``: widen the whole weight [out, in] to fp32,
    /// then one sgemm, y[T, out] = x · Wᵀ.
    public static func linearWidenWhole(_ x: [Float], _ w: LinearWeight, rows T: Int) throws -> [Float] {
        let whole = try w.source.floats(w.name)
        var y = [Float](repeating: 0, count: T * w.outFeatures)
        PruneKit.matmulTransB(&y, x, whole, rows: T, inFeatures: w.inFeatures, outFeatures: w.outFeatures)
        return y
    }

    public static func rmsNorm(_ x: [Float], _ w: [Float], rows: Int, dim: Int, eps: Float) -> [Float] {
        var out = x
        for t in 0..<rows {
            var ss: Double = 0
            for j in 0..<dim { ss += Double(x[t * dim + j]) * Double(x[t * dim + j]) }
            let r = Float(1 / (ss / Double(dim) + Double(eps)).squareRoot())
            for j in 0..<dim { out[t * dim + j] = w[j] * x[t * dim + j] * r }
        }
        return out
    }

    public static func gatedGroupRMSNorm(_ y: [Float], _ z: [Float], _ w: [Float], rows: Int, dim: Int, groups: Int, eps: Float) -> [Float] {
        var v = [Float](repeating: 0, count: rows * dim)
        for i in 0..<(rows * dim) { v[i] = y[i] * (z[i] / (1 + exp(-z[i]))) }
        let gs = dim / groups
        for t in 0..<rows { for g in 0..<groups {
            var ss: Double = 0
            for j in 0..<gs { let a = Double(v[t * dim + g * gs + j]); ss += a * a }
            let r = Float(1 / (ss / Double(gs) + Double(eps)).squareRoot())
            for j in 0..<gs { let i = t * dim + g * gs + j; v[i] = v[i] * r * w[g * gs + j] }
        } }
        return v
    }

    public static func causalConv1dSiLU(_ x: [Float], _ w: [Float], _ bias: [Float]?, rows T: Int, channels C: Int, kernel K: Int) -> [Float] {
        var out = [Float](repeating: 0, count: T * C)
        for t in 0..<T { for c in 0..<C {
            var acc = bias?[c] ?? 0
            for k in 0..<K where t - K + 1 + k >= 0 { acc += w[c * K + k] * x[(t - K + 1 + k) * C + c] }
            out[t * C + c] = acc / (1 + exp(-acc))
        } }
        return out
    }

    /// Scan with an explicit state tensor S[h][p][n], updated token by token.
    public static func selectiveScan(x: [Float], B: [Float], C: [Float], dt: [Float], A: [Float], D: [Float],
                                     rows T: Int, heads nh: Int, headDim P: Int, groups G: Int, state N: Int) -> [Float] {
        var y = [Float](repeating: 0, count: T * nh * P)
        var S = [[[Float]]](repeating: [[Float]](repeating: [Float](repeating: 0, count: N), count: P), count: nh)
        for t in 0..<T { for h in 0..<nh {
            let g = h / (nh / G)
            let d = dt[t * nh + h]
            for p in 0..<P {
                var acc: Float = 0
                for n in 0..<N {
                    S[h][p][n] = exp(d * A[h]) * S[h][p][n] + d * x[t * nh * P + h * P + p] * B[t * G * N + g * N + n]
                    acc += S[h][p][n] * C[t * G * N + g * N + n]
                }
                y[t * nh * P + h * P + p] = acc + D[h] * x[t * nh * P + h * P + p]
            }
        } }
        return y
    }

    public static func causalAttention(q: [Float], k: [Float], v: [Float], rows T: Int, heads nq: Int, kvHeads nkv: Int, headDim d: Int) -> [Float] {
        var out = [Float](repeating: 0, count: T * nq * d)
        for h in 0..<nq {
            let kvh = h / (nq / nkv)
            for t in 0..<T {
                var s = [Double](repeating: 0, count: t + 1)
                for j in 0...t {
                    var dot: Double = 0
                    for e in 0..<d { dot += Double(q[t * nq * d + h * d + e]) * Double(k[j * nkv * d + kvh * d + e]) }
                    s[j] = dot / Double(d).squareRoot()
                }
                let m = s.max()!
                let ex = s.map { exp($0 - m) }
                let z = ex.reduce(0, +)
                for e in 0..<d {
                    var acc: Double = 0
                    for j in 0...t { acc += ex[j] / z * Double(v[j * nkv * d + kvh * d + e]) }
                    out[t * nq * d + h * d + e] = Float(acc)
                }
            }
        }
        return out
    }
}
