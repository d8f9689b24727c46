import Foundation

/// Errors from running the model on bad input.
public enum ModelError: Error, CustomStringConvertible {
    case tokenOutOfRange(sample: Int, position: Int, id: Int32, vocabSize: Int)
    case emptyInput(String)
    case badLayer(Int, numLayers: Int)
    case tooLarge(String)
    case nonFinite(String)

    public var description: String {
        switch self {
        case let .tokenOutOfRange(s, p, id, v): return "sample \(s), position \(p): token id \(id) is outside the vocabulary [0, \(v))"
        case let .emptyInput(m): return m
        case let .badLayer(i, n): return "layer \(i) does not exist (the model has \(n) layers, numbered 0..<\(n))"
        case let .tooLarge(m): return m
        case let .nonFinite(m): return m
        }
    }
}

/// The Nemotron-H forward pass on CPU in fp32 (nemotron-h.md §3; reference: transformers
/// `modeling_nemotron_h.py`), "batch size 1" semantics (pruning.md §1): a batch is several sequences whose
/// rows are stacked, [Σ T_b, H]; the matrix products run on all rows at once, while the conv, scan and
/// attention run per sequence, so a batch gives exactly the per-sequence results.
///
/// Weights stream from a ``WeightSource``. A layer's matrices are widened to fp32 and kept while they fit
/// `cacheBudgetBytes`; beyond that they are streamed: each product widens panels of rows (bf16/f16 → fp32)
/// into a small reusable buffer and multiplies there (``linear(_:_:rows:_:ldx:ldy:)``), so a 12B in bf16
/// runs without any fp32 weight cache. `lm_head` likewise, in vocabulary panels, when it does not fit.
///
/// Every consumer (eval, importance scoring, layer-removal experiments, candidate evaluation) uses this one
/// pass through ``embed(_:sample:tap:)``, ``runLayer(_:hidden:lengths:tap:)`` and ``logits(hidden:rows:tap:)``,
/// reading intermediates through a ``ForwardTap``.
public final class NemotronHModel: @unchecked Sendable {
    public let config: NemotronHConfig
    public let source: WeightSource
    /// transformers' runtime floor dt ← max(dt, time_step_min) (nemotron-h.md §3.2 step 4). Default on.
    public var dtFloor = true
    /// Bytes of widened Float32 weights kept between uses.
    public let cacheBudgetBytes: Int
    /// Bytes of activations (scratch of one layer and logits) a batch of sequences may use; batched
    /// callers (``evaluate(_:set:layers:progress:phase:onLogits:)``, scoring, candidate evaluation, the
    /// layer-major ranking's candidate chunks) size their batches to it. A single sequence larger than the
    /// budget still runs (alone). The command line's `--memory-gib`.
    public var batchBudgetBytes: Int
    /// The default activation budget, 4 GiB: at the 12B widths one sequence of T = 4096 tokens needs 2.9 GiB
    /// with its logits (0.93 GiB without: a Mamba layer's 60,672 floats per row), so eval runs one such sequence
    /// per batch and a ranking round stacks 4 candidates per product; with the round's 5.3 GB of hidden states
    /// (62 layers) and the 0.1 GB Gram matrix, `score` needs ≈ 10 GB of anonymous memory on a 24 GiB machine,
    /// the rest left to the mapped bf16 weight pages.
    public static let defaultBatchBudgetBytes = 4 << 30
    /// Layer evaluations performed (one per layer and sequence), for reporting.
    public private(set) var layerEvaluations = 0

    private var cache = [Int: LayerWeights]()
    private var cachedBytes = 0
    /// lm_head [V, H] (or the tied embeddings), cached or streamed.
    public let lmHead: LinearWeight
    private let normF: FloatBuffer
    /// lm_head's Gram matrix once computed (LogitGram.swift).
    var gramCache: FloatBuffer?
    let lock = NSLock()

    /// - Parameters:
    ///   - cacheBudgetBytes: bytes of fp32 weights to keep widened (default 4 GiB; 0 streams everything).
    ///   - batchBudgetBytes: bytes of activations per batch (``batchBudgetBytes``; default ``defaultBatchBudgetBytes``).
    public init(source: WeightSource, cacheBudgetBytes: Int = 4 << 30, batchBudgetBytes: Int = NemotronHModel.defaultBatchBudgetBytes) throws {
        self.config = source.config
        self.source = source
        self.cacheBudgetBytes = cacheBudgetBytes
        self.batchBudgetBytes = max(1, batchBudgetBytes)
        normF = FloatBuffer(try source.floats("backbone.norm_f.weight"))
        let V = config.vocabSize, H = config.hiddenSize
        let lmBytes = V * H * 4
        let name = config.tieWordEmbeddings ? "backbone.embeddings.weight" : "lm_head.weight"
        let keep = lmBytes <= cacheBudgetBytes / 2
        lmHead = LinearWeight(name: name, outFeatures: V, inFeatures: H, cached: keep ? FloatBuffer(try source.floats(name)) : nil, source: source)
        if keep { cachedBytes += lmBytes }
    }

    public var eps: Float { Float(config.layerNormEpsilon) }

    // MARK: - Weights

    private func layerWeights(_ i: Int) throws -> LayerWeights {
        lock.lock(); defer { lock.unlock() }
        if let w = cache[i] { return w }
        let bytes = LayerWeights.linearBytes(layer: i, config: config)
        let keep = cachedBytes + bytes <= cacheBudgetBytes
        let w = try LayerWeights.load(layer: i, config: config, source: source, cacheLinear: keep)
        if keep { cachedBytes += bytes }
        cache[i] = w  // streamed layers keep only their vectors
        return w
    }

    /// Drops every cached widened layer (e.g. before running another model in the same process).
    public func clearCache() {
        lock.lock(); defer { lock.unlock() }
        cachedBytes = lmHead.cached == nil ? 0 : lmHead.bytesFP32
        cache.removeAll()
    }

    /// Activation floats per token row of a batch: the residual stream, the largest layer's scratch, and
    /// (when `logits`) one row of logits.
    public func floatsPerRow(logits: Bool) -> Int {
        let kinds = Set(config.pattern)
        let scratch = kinds.map { LayerWeights.scratchFloatsPerRow($0, config: config) }.max() ?? 0
        return config.hiddenSize + scratch + (logits ? config.vocabSize : 0)
    }

    /// Splits sequences of `lengths` into consecutive batches of at most `batchBudgetBytes` of activations
    /// (each batch has at least one sequence). Returns index ranges into `lengths`.
    public func batches(_ lengths: [Int], logits: Bool, extraFloatsPerRow: Int = 0) -> [Range<Int>] {
        let maxRows = max(1, batchBudgetBytes / (4 * (floatsPerRow(logits: logits) + extraFloatsPerRow)))
        var out = [Range<Int>](), lo = 0, rows = 0
        for (b, T) in lengths.enumerated() {
            if b > lo && rows + T > maxRows { out.append(lo..<b); lo = b; rows = 0 }
            rows += T
        }
        if lo < lengths.count { out.append(lo..<lengths.count) }
        return out
    }

    // MARK: - Forward pieces

    /// h0 = Emb[ids] [T, H]. Rows are read straight from the source (no full widening of the table).
    /// - Throws: ``ModelError/tokenOutOfRange(sample:position:id:vocabSize:)``.
    public func embed(_ ids: [Int32], sample: Int = 0, tap: ForwardTap? = nil) throws -> [Float] {
        let H = config.hiddenSize
        guard !ids.isEmpty else { throw ModelError.emptyInput("sample \(sample) has no tokens") }
        var h = [Float](repeating: 0, count: ids.count * H)
        try h.withUnsafeMutableBufferPointer { try embed(ids, sample: sample, into: $0.baseAddress!) }
        emit(tap, -1, .embeddings, h, [ids.count], H)
        return h
    }

    /// The embeddings of several sequences stacked [Σ T_b, H] (sample numbers `firstSample`, … for errors).
    public func embed(batch: [[Int32]], firstSample: Int = 0, tap: ForwardTap? = nil) throws -> [Float] {
        let H = config.hiddenSize
        var h = [Float](repeating: 0, count: batch.reduce(0) { $0 + $1.count } * H)
        try h.withUnsafeMutableBufferPointer { hp in
            var row = 0
            for (b, ids) in batch.enumerated() {
                guard !ids.isEmpty else { throw ModelError.emptyInput("sample \(firstSample + b) has no tokens") }
                try embed(ids, sample: firstSample + b, into: hp.baseAddress! + row * H)
                row += ids.count
            }
        }
        emit(tap, -1, .embeddings, h, batch.map(\.count), H)
        return h
    }

    private func embed(_ ids: [Int32], sample: Int, into out: UnsafeMutablePointer<Float>) throws {
        let H = config.hiddenSize, V = config.vocabSize
        for (t, id) in ids.enumerated() {
            guard id >= 0, Int(id) < V else { throw ModelError.tokenOutOfRange(sample: sample, position: t, id: id, vocabSize: V) }
            try source.read("backbone.embeddings.weight", into: out + t * H, from: Int(id) * H, count: H)
        }
    }

    /// Runs `layers` (checkpoint numbering, in the given order) on the residual stream `hidden` [T, H] in place.
    public func runLayers<S: Sequence>(_ layers: S, hidden: inout [Float], rows T: Int, tap: ForwardTap? = nil) throws where S.Element == Int {
        for i in layers { try runLayer(i, hidden: &hidden, lengths: [T], tap: tap) }
    }

    /// Runs `layers` on a batch of sequences stacked in `hidden` [Σ lengths, H].
    public func runLayers<S: Sequence>(_ layers: S, hidden: inout [Float], lengths: [Int], tap: ForwardTap? = nil) throws where S.Element == Int {
        for i in layers { try runLayer(i, hidden: &hidden, lengths: lengths, tap: tap) }
    }

    /// h ← h + Mixer_i(RMSNorm(h; w_i)) for one sequence [T, H].
    public func runLayer(_ i: Int, hidden: inout [Float], rows T: Int, tap: ForwardTap? = nil) throws {
        try runLayer(i, hidden: &hidden, lengths: [T], tap: tap)
    }

    /// h ← h + Mixer_i(RMSNorm(h; w_i)) for a batch of sequences stacked in `hidden` [Σ lengths, H].
    public func runLayer(_ i: Int, hidden: inout [Float], lengths: [Int], tap: ForwardTap? = nil) throws {
        let H = config.hiddenSize
        precondition(hidden.count == lengths.reduce(0, +) * H, "hidden must be [Σ lengths, H]")
        try hidden.withUnsafeMutableBufferPointer { try runLayer(i, hidden: $0.baseAddress!, lengths: lengths, tap: tap) }
    }

    /// The pointer form of ``runLayer(_:hidden:lengths:tap:)``: `hidden` holds [Σ lengths, H].
    public func runLayer(_ i: Int, hidden h: UnsafeMutablePointer<Float>, lengths: [Int], tap: ForwardTap? = nil) throws {
        guard i >= 0, i < config.numLayers else { throw ModelError.badLayer(i, numLayers: config.numLayers) }
        let H = config.hiddenSize, R = lengths.reduce(0, +)
        let w = try layerWeights(i)
        let norm: FloatBuffer
        switch w { case let .mamba(m): norm = m.norm; case let .attention(a): norm = a.norm; case let .mlp(f): norm = f.norm }
        let u = FloatBuffer(count: R * H)
        rmsNorm(u.p, h, norm.p, rows: R, dim: H, eps: eps)
        emit(tap, i, .mixerIn, u.p, lengths, H)
        let out = FloatBuffer(count: R * H)
        switch w {
        case let .mamba(m): try mamba(i, m, u.p, out.p, lengths, tap)
        case let .attention(a): try attention(i, a, u.p, out.p, lengths, tap)
        case let .mlp(f): try mlp(i, f, u.p, out.p, lengths, tap)
        }
        emit(tap, i, .mixerOut, out.p, lengths, H)
        addInPlace(h, out.p, count: R * H)
        emit(tap, i, .layerOut, h, lengths, H)
        lock.lock(); layerEvaluations += lengths.count; lock.unlock()
    }

    /// x = RMSNorm(h; w_f) [R, H], the rows lm_head multiplies.
    public func finalNorm(hidden: UnsafePointer<Float>, rows R: Int, into x: UnsafeMutablePointer<Float>) {
        rmsNorm(x, hidden, normF.p, rows: R, dim: config.hiddenSize, eps: eps)
    }

    /// logits [R, V] = RMSNorm(h; w_f) · lm_headᵀ, for any rows (one sequence or a stacked batch).
    public func logits(hidden: [Float], rows T: Int, tap: ForwardTap? = nil) throws -> [Float] {
        try logits(hidden: hidden, lengths: [T], tap: tap)
    }

    /// logits for a stacked batch; the tap sees the final norm per sequence.
    public func logits(hidden: [Float], lengths: [Int], tap: ForwardTap? = nil) throws -> [Float] {
        let H = config.hiddenSize, V = config.vocabSize, R = lengths.reduce(0, +)
        precondition(hidden.count == R * H, "hidden must be [Σ lengths, H]")
        let x = FloatBuffer(count: R * H)
        hidden.withUnsafeBufferPointer { finalNorm(hidden: $0.baseAddress!, rows: R, into: x.p) }
        emit(tap, -1, .finalNorm, x.p, lengths, H)
        // Every element is written by the product (beta = 0), so the array skips zeroing its R·V floats.
        return try [Float](unsafeUninitializedCapacity: R * V) { buf, n in
            try linear(buf.baseAddress!, x.p, rows: R, lmHead)
            n = R * V
        }
    }

    /// The full forward: logits [T, V] for one sequence, through `layers` (default: all, in order).
    public func forward(_ ids: [Int32], layers: [Int]? = nil, sample: Int = 0, tap: ForwardTap? = nil) throws -> [Float] {
        try forward(batch: [ids], layers: layers, firstSample: sample, tap: tap)
    }

    /// The forward of a batch: logits [Σ T_b, V], rows of sample b after those of samples < b. Equal to
    /// running each sequence on its own (the products see more rows; per-row results do not change).
    public func forward(batch: [[Int32]], layers: [Int]? = nil, firstSample: Int = 0, tap: ForwardTap? = nil) throws -> [Float] {
        let lengths = batch.map(\.count)
        var h = try embed(batch: batch, firstSample: firstSample, tap: tap)
        try runLayers(layers ?? Array(0..<config.numLayers), hidden: &h, lengths: lengths, tap: tap)
        return try logits(hidden: h, lengths: lengths, tap: tap)
    }

    @inline(__always)
    private func emit(_ tap: ForwardTap?, _ layer: Int, _ point: TapPoint, _ v: [Float], _ lengths: [Int], _ cols: Int) {
        guard let tap, tap.wants(point) else { return }
        v.withUnsafeBufferPointer { emit(tap, layer, point, $0.baseAddress!, lengths, cols) }
    }

    /// One event per sequence of the batch.
    @inline(__always)
    private func emit(_ tap: ForwardTap?, _ layer: Int, _ point: TapPoint, _ p: UnsafePointer<Float>, _ lengths: [Int], _ cols: Int) {
        guard let tap, tap.wants(point) else { return }
        var row = 0
        for (s, T) in lengths.enumerated() {
            tap.observe(TapEvent(layer: layer, point: point, rows: T, cols: cols, data: UnsafeBufferPointer(start: p + row * cols, count: T * cols), sequence: s))
            row += T
        }
    }

    // MARK: - Mixers (inputs u [R, H] = the normed stream, outputs out [R, H]; R = Σ lengths)

    /// Mamba-2 (nemotron-h.md §3.2).
    private func mamba(_ i: Int, _ w: MambaWeights, _ u: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                       _ lengths: [Int], _ tap: ForwardTap?) throws {
        let c = config
        let I = c.mambaIntermediate, Cc = c.convDim, nh = c.mambaNumHeads, GN = c.nGroups * c.ssmStateSize, Din = c.inProjDim
        let R = lengths.reduce(0, +)
        // 1. zxbcdt [R, Din] = u · in_projᵀ; split z | xBC | dt.
        let zxbcdt = FloatBuffer(count: R * Din)
        try linear(zxbcdt.p, u, rows: R, w.inProj)
        emit(tap, i, .inProj, zxbcdt.p, lengths, Din)
        let z = zxbcdt.p
        let xbc = FloatBuffer(count: R * Cc), dt = FloatBuffer(count: R * nh), y = FloatBuffer(count: R * I)
        // 4. dt = softplus(dt_raw + dt_bias), floored (all rows).
        softplusBias(dt.p, z + I + Cc, ld: Din, bias: w.dtBias.p, rows: R, cols: nh, floor: dtFloor ? Float(c.timeStepMin) : -Float.infinity)
        var r0 = 0
        for T in lengths {
            // 2. causal depthwise conv + SiLU on xBC only, per sequence.
            causalConv1dSiLU(xbc.p + r0 * Cc, z + r0 * Din + I, ldx: Din, w.conv.p, w.convBias?.p, rows: T, channels: Cc, kernel: c.convKernel)
            // 5. scan with grouped B/C and the D skip, per sequence.
            let x = xbc.p + r0 * Cc
            selectiveScan(y.p + r0 * I, x: x, ldx: Cc, B: x + I, C: x + I + GN, ldbc: Cc, dt: dt.p + r0 * nh,
                          A: w.A.p, D: w.D.p, rows: T, heads: nh, headDim: c.mambaHeadDim, groups: c.nGroups, state: c.ssmStateSize)
            r0 += T
        }
        // 6. gate, then per-group RMSNorm.
        gatedGroupRMSNorm(y.p, y.p, z, ldz: Din, w.gateNorm.p, rows: R, dim: I, groups: c.nGroups, eps: eps)
        // 7. out_proj.
        try linear(out, y.p, rows: R, w.outProj)
    }

    /// Attention (nemotron-h.md §3.3).
    private func attention(_ i: Int, _ w: AttentionWeights, _ u: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                           _ lengths: [Int], _ tap: ForwardTap?) throws {
        let c = config
        let nq = c.numAttentionHeads, nkv = c.numKeyValueHeads, d = c.headDim
        let R = lengths.reduce(0, +)
        let q = FloatBuffer(count: R * nq * d), k = FloatBuffer(count: R * nkv * d), v = FloatBuffer(count: R * nkv * d)
        try linear(q.p, u, rows: R, w.q)
        try linear(k.p, u, rows: R, w.k)
        try linear(v.p, u, rows: R, w.v)
        let a = FloatBuffer(count: R * nq * d)
        var r0 = 0
        for T in lengths {
            causalAttention(a.p + r0 * nq * d, q: q.p + r0 * nq * d, k: k.p + r0 * nkv * d, v: v.p + r0 * nkv * d,
                            rows: T, heads: nq, kvHeads: nkv, headDim: d)
            r0 += T
        }
        emit(tap, i, .attnOut, a.p, lengths, nq * d)
        try linear(out, a.p, rows: R, w.o)
    }

    /// MLP (nemotron-h.md §3.4).
    private func mlp(_ i: Int, _ w: MLPWeights, _ u: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                     _ lengths: [Int], _ tap: ForwardTap?) throws {
        let F = config.ffnHiddenSize, R = lengths.reduce(0, +)
        let act = FloatBuffer(count: R * F)
        try linear(act.p, u, rows: R, w.up)
        relu2InPlace(act.p, count: R * F)
        emit(tap, i, .ffnAct, act.p, lengths, F)
        try linear(out, act.p, rows: R, w.down)
    }
}
