/// Depthwise causal conv over time with zero left-padding K−1, then SiLU (nemotron-h.md §3.2 step 2):
/// out[t, c] = silu(bias[c] + Σ_{k<K} w[c, k] · x[t−K+1+k, c]).
/// Shapes: x [T, C] with row stride ldx (the xBC slice of in_proj output), w [C, 1, K], bias [C] or nil,
/// out [T, C] dense. The taps are summed in the order k = 0…K−1 (as ``Naive/causalConv1dSiLU``), over
/// contiguous channels so the loop vectorizes (w is transposed to [K, C] first).
public func causalConv1dSiLU(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, ldx: Int,
                             _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, rows T: Int, channels C: Int, kernel K: Int) {
    let wt = UnsafeMutablePointer<Float>.allocate(capacity: max(1, K * C))
    defer { wt.deallocate() }
    for c in 0..<C { for k in 0..<K { wt[k * C + c] = w[c * K + k] } }
    parallelFor(C, minChunk: 64) { cr in
        let c0 = cr.lowerBound, n = cr.count
        for t in 0..<T {
            let o = out + t * C + c0
            if let bias { o.update(from: bias + c0, count: n) } else { o.update(repeating: 0, count: n) }
            for k in max(0, K - 1 - t)..<K {
                let xs = x + (t - K + 1 + k) * ldx + c0, wk = wt + k * C + c0
                for c in 0..<n { o[c] += wk[c] * xs[c] }
            }
            for c in 0..<n { o[c] = silu(o[c]) }
        }
    }
}
