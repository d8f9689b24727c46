import Foundation

/// Errors from running the model on bad input.
public enum ModelError: Error, CustomStringConvertible, ExitCodeProviding {
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
    public var exitCode: Int32 { 2 }
}

/// The Nemotron-H forward pass on CPU in fp32 (nemotron-h.md §3; reference: transformers
/// `modeling_nemotron_h.py`), one sequence at a time ("batch size 1" semantics, pruning.md §1).
///
/// Weights stream from a ``WeightSource``: a layer's tensors are widened to Float32 when it runs and kept
/// while they fit `cacheBudgetBytes`; beyond that they are widened again on each use, so the whole fp32
/// model is never needed in memory (a 12B in bf16 evaluates on a 24 GiB machine). `lm_head` is applied in
/// vocabulary chunks when it does not fit the budget.
///
/// Every consumer (eval, importance scoring, layer-removal experiments, candidate evaluation) uses this one
/// pass through ``embed(_:sample:)``, ``runLayers(_:hidden:rows:tap:)`` and ``logits(hidden:rows:tap:)``,
/// reading intermediates through a ``ForwardTap``.
public final class NemotronHModel: @unchecked Sendable {
    public let config: NemotronHConfig
    public let source: WeightSource
    /// transformers' runtime floor dt ← max(dt, time_step_min) (nemotron-h.md §3.2 step 4). Default on.
    public var dtFloor = true
    /// Bytes of widened Float32 weights kept between uses.
    public let cacheBudgetBytes: Int
    /// Layer evaluations performed (each `runLayer` call counts one), for reporting.
    public private(set) var layerEvaluations = 0

    private var cache = [Int: [String: [Float]]]()
    private var cachedBytes = 0
    private var lmHead: [Float]?
    private let normF: [Float]
    private let lock = NSLock()

    /// - Parameter cacheBudgetBytes: bytes of fp32 weights to keep widened (default 4 GiB).
    public init(source: WeightSource, cacheBudgetBytes: Int = 4 << 30) throws {
        self.config = source.config
        self.source = source
        self.cacheBudgetBytes = cacheBudgetBytes
        normF = try source.floats("backbone.norm_f.weight")
        let lmBytes = config.vocabSize * config.hiddenSize * 4
        if lmBytes <= cacheBudgetBytes / 2 {
            lmHead = try source.floats(config.tieWordEmbeddings ? "backbone.embeddings.weight" : "lm_head.weight")
            cachedBytes += lmBytes
        }
    }

    public var eps: Float { Float(config.layerNormEpsilon) }

    // MARK: - Weights

    private func layerWeights(_ i: Int) throws -> [String: [Float]] {
        lock.lock(); defer { lock.unlock() }
        if let w = cache[i] { return w }
        var w = [String: [Float]]()
        var bytes = 0
        for (name, _) in config.layerTensors(i, config.pattern[i]) {
            let short = String(name.dropFirst("backbone.layers.\(i).".count))
            let v = try source.floats(name)
            bytes += v.count * 4
            w[short] = v
        }
        if cachedBytes + bytes <= cacheBudgetBytes {
            cache[i] = w
            cachedBytes += bytes
        }
        return w
    }

    /// Drops every cached widened layer (e.g. before running another model in the same process).
    public func clearCache() {
        lock.lock(); defer { lock.unlock() }
        cachedBytes -= cache.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count * 4 } }
        cache.removeAll()
    }

    // MARK: - Forward pieces

    /// h0 = Emb[ids] [T, H]. Rows are read straight from the source (no full widening of the table).
    /// - Throws: ``ModelError/tokenOutOfRange(sample:position:id:vocabSize:)``.
    public func embed(_ ids: [Int32], sample: Int = 0, tap: ForwardTap? = nil) throws -> [Float] {
        let H = config.hiddenSize, V = config.vocabSize
        guard !ids.isEmpty else { throw ModelError.emptyInput("sample \(sample) has no tokens") }
        var h = [Float](repeating: 0, count: ids.count * H)
        try h.withUnsafeMutableBufferPointer { hp in
            for (t, id) in ids.enumerated() {
                guard id >= 0, Int(id) < V else { throw ModelError.tokenOutOfRange(sample: sample, position: t, id: id, vocabSize: V) }
                try source.read("backbone.embeddings.weight", into: hp.baseAddress! + t * H, from: Int(id) * H, count: H)
            }
            if let tap, tap.wants(.embeddings) {
                tap.observe(TapEvent(layer: -1, point: .embeddings, rows: ids.count, cols: H, data: UnsafeBufferPointer(hp)))
            }
        }
        return h
    }

    /// Runs `layers` (checkpoint numbering, in the given order) on the residual stream `hidden` [T, H] in place.
    public func runLayers<S: Sequence>(_ layers: S, hidden: inout [Float], rows T: Int, tap: ForwardTap? = nil) throws where S.Element == Int {
        for i in layers { try runLayer(i, hidden: &hidden, rows: T, tap: tap) }
    }

    /// h ← h + Mixer_i(RMSNorm(h; w_i)).
    public func runLayer(_ i: Int, hidden: inout [Float], rows T: Int, tap: ForwardTap? = nil) throws {
        guard i >= 0, i < config.numLayers else { throw ModelError.badLayer(i, numLayers: config.numLayers) }
        let H = config.hiddenSize
        precondition(hidden.count == T * H, "hidden must be [T, H]")
        let w = try layerWeights(i)
        var u = [Float](repeating: 0, count: T * H)
        hidden.withUnsafeBufferPointer { hp in
            u.withUnsafeMutableBufferPointer { up in
                w["norm.weight"]!.withUnsafeBufferPointer { wp in
                    rmsNorm(up.baseAddress!, hp.baseAddress!, wp.baseAddress!, rows: T, dim: H, eps: eps)
                }
            }
        }
        emit(tap, i, .mixerIn, u, T, H)
        let out: [Float]
        switch config.pattern[i] {
        case .mamba: out = mamba(i, u, T, w, tap)
        case .attention: out = attention(i, u, T, w, tap)
        case .mlp: out = mlp(i, u, T, w, tap)
        }
        emit(tap, i, .mixerOut, out, T, H)
        hidden.withUnsafeMutableBufferPointer { hp in
            out.withUnsafeBufferPointer { addInPlace(hp.baseAddress!, $0.baseAddress!, count: T * H) }
        }
        emit(tap, i, .layerOut, hidden, T, H)
        lock.lock(); layerEvaluations += 1; lock.unlock()
    }

    /// logits [T, V] = RMSNorm(h; w_f) · lm_headᵀ.
    public func logits(hidden: [Float], rows T: Int, tap: ForwardTap? = nil) throws -> [Float] {
        let H = config.hiddenSize, V = config.vocabSize
        var x = [Float](repeating: 0, count: T * H)
        hidden.withUnsafeBufferPointer { hp in x.withUnsafeMutableBufferPointer { xp in normF.withUnsafeBufferPointer { wp in
            rmsNorm(xp.baseAddress!, hp.baseAddress!, wp.baseAddress!, rows: T, dim: H, eps: eps)
        } } }
        emit(tap, -1, .finalNorm, x, T, H)
        var out = [Float](repeating: 0, count: T * V)
        if let lmHead {
            x.withUnsafeBufferPointer { xp in lmHead.withUnsafeBufferPointer { wp in out.withUnsafeMutableBufferPointer { op in
                matmulTransB(op.baseAddress!, xp.baseAddress!, wp.baseAddress!, rows: T, inFeatures: H, outFeatures: V)
            } } }
        } else {
            // Stream lm_head in vocabulary chunks of ≤ 256 MiB fp32.
            let name = config.tieWordEmbeddings ? "backbone.embeddings.weight" : "lm_head.weight"
            let chunkRows = max(1, min(V, (256 << 20) / (4 * H)))
            var buf = [Float](repeating: 0, count: chunkRows * H)
            var r0 = 0
            while r0 < V {
                let n = min(chunkRows, V - r0)
                try buf.withUnsafeMutableBufferPointer { try source.read(name, into: $0.baseAddress!, from: r0 * H, count: n * H) }
                x.withUnsafeBufferPointer { xp in buf.withUnsafeBufferPointer { wp in out.withUnsafeMutableBufferPointer { op in
                    matmulTransB(op.baseAddress! + r0, xp.baseAddress!, wp.baseAddress!, rows: T, inFeatures: H, outFeatures: n, ldy: V)
                } } }
                r0 += n
            }
        }
        return out
    }

    /// The full forward: logits [T, V] for one sequence, through `layers` (default: all, in order).
    public func forward(_ ids: [Int32], layers: [Int]? = nil, sample: Int = 0, tap: ForwardTap? = nil) throws -> [Float] {
        var h = try embed(ids, sample: sample, tap: tap)
        try runLayers(layers ?? Array(0..<config.numLayers), hidden: &h, rows: ids.count, tap: tap)
        return try logits(hidden: h, rows: ids.count, tap: tap)
    }

    @inline(__always)
    private func emit(_ tap: ForwardTap?, _ layer: Int, _ point: TapPoint, _ v: [Float], _ rows: Int, _ cols: Int) {
        guard let tap, tap.wants(point) else { return }
        v.withUnsafeBufferPointer { tap.observe(TapEvent(layer: layer, point: point, rows: rows, cols: cols, data: $0)) }
    }

    // MARK: - Mixers

    // MARK: Mamba-2 (nemotron-h.md §3.2)
    private func mamba(_ i: Int, _ u: [Float], _ T: Int, _ w: [String: [Float]], _ tap: ForwardTap?) -> [Float] {
        let c = config
        let H = c.hiddenSize, I = c.mambaIntermediate, Cc = c.convDim, nh = c.mambaNumHeads
        let GN = c.nGroups * c.ssmStateSize, Din = c.inProjDim
        // 1. zxbcdt [T, Din] = u · in_projᵀ; split z | xBC | dt.
        var zxbcdt = [Float](repeating: 0, count: T * Din)
        u.withUnsafeBufferPointer { up in w["mixer.in_proj.weight"]!.withUnsafeBufferPointer { wp in zxbcdt.withUnsafeMutableBufferPointer { op in
            matmulTransB(op.baseAddress!, up.baseAddress!, wp.baseAddress!, rows: T, inFeatures: H, outFeatures: Din)
        } } }
        emit(tap, i, .inProj, zxbcdt, T, Din)
        var xbc = [Float](repeating: 0, count: T * Cc)
        var dt = [Float](repeating: 0, count: T * nh)
        var y = [Float](repeating: 0, count: T * I)
        let A = w["mixer.A_log"]!.map { -expf($0) }
        let floor = dtFloor ? Float(c.timeStepMin) : -Float.infinity
        zxbcdt.withUnsafeBufferPointer { zp in
            let z = zp.baseAddress!
            // 2. causal depthwise conv + SiLU on xBC only.
            xbc.withUnsafeMutableBufferPointer { xp in w["mixer.conv1d.weight"]!.withUnsafeBufferPointer { cw in
                let bias = w["mixer.conv1d.bias"]
                if let bias {
                    bias.withUnsafeBufferPointer { bp in
                        causalConv1dSiLU(xp.baseAddress!, z + I, ldx: Din, cw.baseAddress!, bp.baseAddress!, rows: T, channels: Cc, kernel: c.convKernel)
                    }
                } else {
                    causalConv1dSiLU(xp.baseAddress!, z + I, ldx: Din, cw.baseAddress!, nil, rows: T, channels: Cc, kernel: c.convKernel)
                }
            } }
            // 4. dt = softplus(dt_raw + dt_bias), floored.
            let dtBias = w["mixer.dt_bias"]!
            for t in 0..<T { for h in 0..<nh {
                dt[t * nh + h] = max(softplus(z[t * Din + I + Cc + h] + dtBias[h]), floor)
            } }
            // 5. scan with grouped B/C and the D skip.
            xbc.withUnsafeBufferPointer { xp in
                let x = xp.baseAddress!
                y.withUnsafeMutableBufferPointer { yp in dt.withUnsafeBufferPointer { dp in A.withUnsafeBufferPointer { ap in
                    w["mixer.D"]!.withUnsafeBufferPointer { Dp in
                        selectiveScan(yp.baseAddress!, x: x, ldx: Cc, B: x + I, C: x + I + GN, ldbc: Cc, dt: dp.baseAddress!,
                                      A: ap.baseAddress!, D: Dp.baseAddress!, rows: T, heads: nh, headDim: c.mambaHeadDim,
                                      groups: c.nGroups, state: c.ssmStateSize)
                    }
                } } }
            }
            // 6. gate, then per-group RMSNorm.
            y.withUnsafeMutableBufferPointer { yp in w["mixer.norm.weight"]!.withUnsafeBufferPointer { np in
                gatedGroupRMSNorm(yp.baseAddress!, yp.baseAddress!, z, ldz: Din, np.baseAddress!, rows: T, dim: I, groups: c.nGroups, eps: eps)
            } }
        }
        // 7. out_proj.
        var out = [Float](repeating: 0, count: T * H)
        y.withUnsafeBufferPointer { yp in w["mixer.out_proj.weight"]!.withUnsafeBufferPointer { wp in out.withUnsafeMutableBufferPointer { op in
            matmulTransB(op.baseAddress!, yp.baseAddress!, wp.baseAddress!, rows: T, inFeatures: I, outFeatures: H)
        } } }
        return out
    }

    // MARK: Attention (nemotron-h.md §3.3)
    private func attention(_ i: Int, _ u: [Float], _ T: Int, _ w: [String: [Float]], _ tap: ForwardTap?) -> [Float] {
        let c = config
        let H = c.hiddenSize, nq = c.numAttentionHeads, nkv = c.numKeyValueHeads, d = c.headDim
        func proj(_ name: String, _ outF: Int) -> [Float] {
            var o = [Float](repeating: 0, count: T * outF)
            u.withUnsafeBufferPointer { up in w[name]!.withUnsafeBufferPointer { wp in o.withUnsafeMutableBufferPointer { op in
                matmulTransB(op.baseAddress!, up.baseAddress!, wp.baseAddress!, rows: T, inFeatures: H, outFeatures: outF)
            } } }
            return o
        }
        let q = proj("mixer.q_proj.weight", nq * d), k = proj("mixer.k_proj.weight", nkv * d), v = proj("mixer.v_proj.weight", nkv * d)
        var a = [Float](repeating: 0, count: T * nq * d)
        q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in a.withUnsafeMutableBufferPointer { ap in
            causalAttention(ap.baseAddress!, q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, rows: T, heads: nq, kvHeads: nkv, headDim: d)
        } } } }
        emit(tap, i, .attnOut, a, T, nq * d)
        var out = [Float](repeating: 0, count: T * H)
        a.withUnsafeBufferPointer { ap in w["mixer.o_proj.weight"]!.withUnsafeBufferPointer { wp in out.withUnsafeMutableBufferPointer { op in
            matmulTransB(op.baseAddress!, ap.baseAddress!, wp.baseAddress!, rows: T, inFeatures: nq * d, outFeatures: H)
        } } }
        return out
    }

    // MARK: MLP (nemotron-h.md §3.4)
    private func mlp(_ i: Int, _ u: [Float], _ T: Int, _ w: [String: [Float]], _ tap: ForwardTap?) -> [Float] {
        let H = config.hiddenSize, F = config.ffnHiddenSize
        var act = [Float](repeating: 0, count: T * F)
        u.withUnsafeBufferPointer { up in w["mixer.up_proj.weight"]!.withUnsafeBufferPointer { wp in act.withUnsafeMutableBufferPointer { op in
            matmulTransB(op.baseAddress!, up.baseAddress!, wp.baseAddress!, rows: T, inFeatures: H, outFeatures: F)
            relu2InPlace(op.baseAddress!, count: T * F)
        } } }
        emit(tap, i, .ffnAct, act, T, F)
        var out = [Float](repeating: 0, count: T * H)
        act.withUnsafeBufferPointer { ap in w["mixer.down_proj.weight"]!.withUnsafeBufferPointer { wp in out.withUnsafeMutableBufferPointer { op in
            matmulTransB(op.baseAddress!, ap.baseAddress!, wp.baseAddress!, rows: T, inFeatures: F, outFeatures: H)
        } } }
        return out
    }
}
