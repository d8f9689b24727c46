import CBLAS
import Foundation

extension NemotronHModel {
    /// The Gram matrix G = Wᵀ·W [H, H] of lm_head W [V, H] (or the tied embeddings), computed once per model
    /// and kept (H²·4 bytes: 100 MiB at H = 5120). W is streamed over the vocabulary in panels of ≤ 64 MiB
    /// fp32 and accumulated with `ssyrk` (V·H² multiply-adds).
    ///
    /// With it the squared logit difference of two final-normed rows is ‖Δx·Wᵀ‖² = Δx·G·Δxᵀ: an H × H product
    /// instead of a V × H one (see ``squaredLogitDistance(_:_:rows:)``).
    /// - Throws: what the weight source throws when reading lm_head.
    public func lmHeadGram() throws -> FloatBuffer {
        lock.lock(); defer { lock.unlock() }
        if let g = gramCache { return g }
        let V = config.vocabSize, H = config.hiddenSize
        let G = FloatBuffer(count: H * H, zeroed: true)
        let panelRows = max(1, min(V, (64 << 20) / (4 * H)))
        let panel: FloatBuffer? = lmHead.cached == nil ? FloatBuffer(count: panelRows * H) : nil
        var r0 = 0
        while r0 < V {
            let n = min(panelRows, V - r0)
            let a: UnsafePointer<Float>
            if let c = lmHead.cached { a = UnsafePointer(c.p + r0 * H) } else {
                try source.read(lmHead.name, into: panel!.p, from: r0 * H, count: n * H)
                a = UnsafePointer(panel!.p)
            }
            setBLASThreads(forWork: n * H * H)
            // G (upper triangle) += Aᵀ·A, A [n, H] row-major.
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(H), Int32(n), 1, a, Int32(H), 1, G.p, Int32(H))
            r0 += n
        }
        for i in 0..<H { for j in 0..<i { G.p[i * H + j] = G.p[j * H + i] } }
        gramCache = G
        return G
    }

    /// Σ over rows t of ‖(a_t − b_t)·Wᵀ‖², the summed squared logit difference of final-normed rows a and b
    /// [R, H] (b may repeat with period `bRows`: row t of a is compared with row t mod bRows of b), through the
    /// Gram matrix: Σ_t Δ_t·G·Δ_tᵀ (Double accumulation of the row dot products).
    ///
    /// Rounding differs from the direct Σ (a·Wᵀ − b·Wᵀ)²: here Δ is formed before the product, so the result
    /// does not suffer the cancellation of two rounded logits, while G carries the fp32 rounding of a V-term
    /// sum; the two agree to ≈ 1e-6 relative on the fixtures.
    /// - Throws: what ``lmHeadGram()`` throws.
    public func squaredLogitDistance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows R: Int, bRows: Int) throws -> Double {
        let H = config.hiddenSize
        let G = try lmHeadGram()
        let chunk = max(1, min(R, (256 << 20) / (8 * H)))
        let d = FloatBuffer(count: chunk * H), y = FloatBuffer(count: chunk * H)
        var total = 0.0
        var r0 = 0
        while r0 < R {
            let n = min(chunk, R - r0)
            for r in 0..<n {
                let ar = a + (r0 + r) * H, br = b + ((r0 + r) % bRows) * H, dr = d.p + r * H
                for j in 0..<H { dr[j] = ar[j] - br[j] }
            }
            matmul(y.p, d.p, G.p, m: n, k: H, n: H, lda: H, ldb: H, ldy: H)
            total += rowDots(d.p, y.p, rows: n, cols: H)
            r0 += n
        }
        return total
    }
}

/// Σ_r Σ_j a[r, j]·b[r, j], each row in fp32 SIMD lanes, rows summed in Double.
func rowDots(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, cols: Int) -> Double {
    var total = 0.0
    for r in 0..<rows { total += Double(dot(a + r * cols, b + r * cols, count: cols)) }
    return total
}
