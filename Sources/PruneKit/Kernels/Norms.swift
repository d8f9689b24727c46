import Foundation

/// RMSNorm over rows: out[t, :] = w ⊙ x[t, :] / sqrt(mean_j x[t, j]² + eps) (nemotron-h.md §3.1).
/// Shapes: x, out [T, H]; w [H]. `out` may alias `x`.
public func rmsNorm(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                    rows: Int, dim: Int, eps: Float) {
    parallelFor(rows, minChunk: 16) { r in
        for t in r {
            let xr = x + t * dim, o = out + t * dim
            let ss = sumOfSquares(xr, count: dim)
            let inv = 1 / (ss / Float(dim) + eps).squareRoot()
            for j in 0..<dim { o[j] = w[j] * (xr[j] * inv) }
        }
    }
}

/// Gated grouped RMSNorm of the Mamba-2 mixer (nemotron-h.md §3.2 step 6): v = y ⊙ silu(z) (gate first),
/// then each of the G contiguous groups of I/G channels is normalised separately, then scaled by w.
/// Shapes: y, z, out [T, I] (rows with stride ldz for z); w [I]. `out` may alias `y`.
public func gatedGroupRMSNorm(_ out: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ z: UnsafePointer<Float>, ldz: Int,
                              _ w: UnsafePointer<Float>, rows: Int, dim: Int, groups: Int, eps: Float) {
    let gs = dim / groups
    parallelFor(rows, minChunk: 8) { r in
        for t in r {
            let yr = y + t * dim, zr = z + t * ldz, o = out + t * dim
            for j in 0..<dim { o[j] = yr[j] * silu(zr[j]) }
            for g in 0..<groups {
                let base = o + g * gs
                let ss = sumOfSquares(base, count: gs)
                let inv = 1 / (ss / Float(gs) + eps).squareRoot()
                for j in 0..<gs { base[j] = w[g * gs + j] * (base[j] * inv) }
            }
        }
    }
}

@inline(__always) public func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

@inline(__always) public func softplus(_ x: Float) -> Float { x > 20 ? x : log1pf(expf(x)) }
