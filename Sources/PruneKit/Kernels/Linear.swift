import Foundation

/// An owned fp32 buffer with a stable base pointer `p` (weights and scratch of the forward pass), so
/// kernels take pointers directly instead of nesting `withUnsafeBufferPointer` closures (llama2.c style).
/// Contents start uninitialised unless `zeroed`. Large buffers come from and return to ``ScratchPool``.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let p: UnsafeMutablePointer<Float>
    private let capacity: Int

    public init(count: Int, zeroed: Bool = false) {
        self.count = count
        (p, capacity) = ScratchPool.shared.take(count)
        if zeroed { p.initialize(repeating: 0, count: count) }
    }

    /// A copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { ScratchPool.shared.give(p, floats: capacity) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }
}

/// A linear layer's weight W [out, in] (row-major, checkpoint layout): widened to fp32 and kept (`cached`),
/// or streamed from its ``WeightSource`` on every use in panels of rows (``linear(_:_:rows:_:ldx:ldy:)``).
public struct LinearWeight: @unchecked Sendable {
    /// Checkpoint key, e.g. `backbone.layers.0.mixer.in_proj.weight`.
    public let name: String
    public let outFeatures: Int
    public let inFeatures: Int
    /// The widened weight [out, in], or nil when streamed.
    public let cached: FloatBuffer?
    let source: WeightSource

    init(name: String, outFeatures: Int, inFeatures: Int, cached: FloatBuffer?, source: WeightSource) {
        self.name = name; self.outFeatures = outFeatures; self.inFeatures = inFeatures; self.cached = cached; self.source = source
    }

    /// The 2-D tensor `name` of `source`, widened and kept when `cache`, else streamed.
    /// - Throws: ``CheckpointError`` when the tensor is missing or not 2-D.
    public init(name: String, source: WeightSource, cache: Bool) throws {
        let s = try source.shape(of: name)
        guard s.count == 2 else { throw CheckpointError.mismatch(tensor: name, message: "shape \(s); a linear weight is 2-D [out, in]") }
        self.init(name: name, outFeatures: s[0], inFeatures: s[1], cached: cache ? FloatBuffer(try source.floats(name)) : nil, source: source)
    }

    public var bytesFP32: Int { outFeatures * inFeatures * 4 }
}

/// Bytes of the fp32 panel a streamed weight is widened into. Widening itself is cheap (≈ 1–3 % of the product
/// at T = 512); what a panel costs is the split of one product into several narrower sgemm calls, each packing
/// all of x again. Measured at the 12B widths, T = 512 (`PruneKitBench panels`): 16 MiB panels (819 rows at
/// H = 5120) split up_proj and lm_head with the least loss of 4, 16 and 64 MiB.
public nonisolated(unsafe) var linearPanelBytes = 16 << 20
/// Fewest weight rows per panel (sgemm's N): each panel's product packs all of x [T, in] again, which costs
/// as much as the product's arithmetic divided by N, so wide inputs (down_proj's 20,480 columns, 204 rows at
/// 16 MiB) get panels above ``linearPanelBytes``. 1024 rows: a ranking round at the 12B widths (x up to
/// 8 × 512 rows) measured 30.3 s → 29.0 s against 128 rows (`PruneKitBench ranking`, one run each).
public nonisolated(unsafe) var linearPanelMinRows = 1024

/// y[T, out] = x[T, in] · Wᵀ through sgemm. A streamed weight is widened from its source (bf16, f16 or f32)
/// a panel of rows at a time into one reusable fp32 buffer of ≈ ``linearPanelBytes``, and each panel is
/// multiplied into its columns of y, so no whole fp32 copy of the layer is ever made. The result equals the
/// widen-whole-then-multiply product (``Naive/linearWidenWhole(_:_:rows:)``) up to sgemm's blocking order.
/// - Throws: what the source's `read` throws (e.g. a tensor missing from a shard).
public func linear(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows T: Int, _ w: LinearWeight,
                   ldx: Int? = nil, ldy: Int? = nil) throws {
    let O = w.outFeatures, I = w.inFeatures
    if let c = w.cached {
        matmulTransB(y, x, c.p, rows: T, inFeatures: I, outFeatures: O, ldx: ldx, ldy: ldy)
        return
    }
    let panelRows = max(1, min(O, max(linearPanelMinRows, linearPanelBytes / (4 * I))))
    let panel = FloatBuffer(count: panelRows * I)
    var r0 = 0
    while r0 < O {
        let n = min(panelRows, O - r0)
        try widenRows(w, from: r0, count: n, into: panel.p)
        matmulTransB(y + r0, x, panel.p, rows: T, inFeatures: I, outFeatures: n, ldx: ldx, ldy: ldy ?? O)
        r0 += n
    }
    if O * I >= 1 << 20 { w.source.releasePages(w.name) }
}

/// Widens rows [r0, r0 + n) of a streamed weight into `out`, split over the cores (the panel is memory-bound
/// work between two compute-bound products).
private func widenRows(_ w: LinearWeight, from r0: Int, count n: Int, into out: UnsafeMutablePointer<Float>) throws {
    let I = w.inFeatures
    final class FirstError: @unchecked Sendable { let lock = NSLock(); var error: Error? }
    let failure = FirstError()
    parallelFor(n, minChunk: max(1, (1 << 16) / I)) { rows in
        do { try w.source.read(w.name, into: out + rows.lowerBound * I, from: (r0 + rows.lowerBound) * I, count: rows.count * I) } catch {
            failure.lock.lock(); if failure.error == nil { failure.error = error }; failure.lock.unlock()
        }
    }
    if let e = failure.error { throw e }
}
