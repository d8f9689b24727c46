/// Depthwise causal conv over time with zero left-padding K−1, then SiLU (nemotron-h.md §3.2 step 2):
/// out[t, c] = silu(bias[c] + Σ_{k<K} w[c, k] · x[t−K+1+k, c]).
/// Shapes: x [T, C] with row stride ldx (the xBC slice of in_proj output), w [C, 1, K], bias [C] or nil,
/// out [T, C] dense.
public func causalConv1dSiLU(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, ldx: Int,
                             _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, rows T: Int, channels C: Int, kernel K: Int) {
    parallelFor(C, minChunk: 64) { cr in
        for t in 0..<T {
            let o = out + t * C
            for c in cr {
                var acc: Float = bias?[c] ?? 0
                let wc = w + c * K
                for k in 0..<K {
                    let s = t - K + 1 + k
                    if s >= 0 { acc += wc[k] * x[s * ldx + c] }
                }
                o[c] = silu(acc)
            }
        }
    }
}
