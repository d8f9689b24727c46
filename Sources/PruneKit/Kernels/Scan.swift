import Foundation

/// The Mamba-2 selective scan, plain recurrence per head (nemotron-h.md §3.2 step 5), with the D skip:
///   S_h(t) = exp(dt[t,h]·A_h) · S_h(t−1) + dt[t,h] · x[t,h,:] ⊗ B[t,g(h),:]
///   y[t,h,:] = S_h(t) · C[t,g(h),:] + D_h · x[t,h,:],   g(h) = ⌊h / (nh/G)⌋.
/// Shapes: x [T, nh·P] (row stride ldx), B and C [T, G·N] (row stride ldbc), dt [T, nh] (already softplus'd
/// and floored), A [nh] (= −exp(A_log)), D [nh], y [T, nh·P] dense. Heads run in parallel.
public func selectiveScan(_ y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, ldx: Int,
                          B: UnsafePointer<Float>, C: UnsafePointer<Float>, ldbc: Int,
                          dt: UnsafePointer<Float>, A: UnsafePointer<Float>, D: UnsafePointer<Float>,
                          rows T: Int, heads nh: Int, headDim P: Int, groups G: Int, state N: Int) {
    let headsPerGroup = nh / G
    let I = nh * P
    parallelFor(nh) { hr in
        var S = [Float](repeating: 0, count: P * N)
        S.withUnsafeMutableBufferPointer { sp in
            let s = sp.baseAddress!
            for h in hr {
                for i in 0..<(P * N) { s[i] = 0 }
                let g = h / headsPerGroup
                for t in 0..<T {
                    let d = dt[t * nh + h]
                    let dA = expf(d * A[h])
                    let xt = x + t * ldx + h * P
                    let bt = B + t * ldbc + g * N
                    let ct = C + t * ldbc + g * N
                    let yt = y + t * I + h * P
                    if N % 16 == 0 {
                        // 16 state lanes at a time (the dot with C reduced lane-wise).
                        let rb = UnsafeRawPointer(bt), rc = UnsafeRawPointer(ct)
                        for p in 0..<P {
                            let dx = d * xt[p]
                            let row = UnsafeMutableRawPointer(s + p * N)
                            var acc = SIMD16<Float>()
                            for n in stride(from: 0, to: N, by: 16) {
                                let v = dA * row.loadUnaligned(fromByteOffset: 4 * n, as: SIMD16<Float>.self)
                                    + dx * rb.loadUnaligned(fromByteOffset: 4 * n, as: SIMD16<Float>.self)
                                row.storeBytes(of: v, toByteOffset: 4 * n, as: SIMD16<Float>.self)
                                acc += v * rc.loadUnaligned(fromByteOffset: 4 * n, as: SIMD16<Float>.self)
                            }
                            yt[p] = acc.sum() + D[h] * xt[p]
                        }
                    } else {
                        for p in 0..<P {
                            let dx = d * xt[p]
                            let row = s + p * N
                            var acc: Float = 0
                            for n in 0..<N {
                                let v = dA * row[n] + dx * bt[n]
                                row[n] = v
                                acc += v * ct[n]
                            }
                            yt[p] = acc + D[h] * xt[p]
                        }
                    }
                }
            }
        }
    }
}
