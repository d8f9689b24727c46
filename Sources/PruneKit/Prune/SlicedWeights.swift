import Foundation

/// How one target tensor is cut from a source tensor: viewed as a 2-D [rows, cols] matrix (1-D tensors have
/// one column; conv1d [Cc, 1, K] is [Cc, K]), keep `rows` and `cols` (nil = all), in that order.
public struct TensorSlice: Sendable {
    public let sourceName: String
    public let sourceRows: Int
    public let sourceCols: Int
    public let rows: [Int]?
    public let cols: [Int]?
    public let targetShape: [Int]
}

/// A pruned model as a ``WeightSource`` over its source weights: tensors are cut on read, row by row, so
/// the pruned model can be evaluated in memory (search) or streamed to disk (export) without a full copy.
/// Slicing map: pruning.md §4.
public final class SlicedWeights: WeightSource, @unchecked Sendable {
    public let plan: PruningPlan
    public let base: WeightSource
    public var config: NemotronHConfig { plan.target }
    /// Target tensor name → slice.
    public let slices: [String: TensorSlice]

    public init(base: WeightSource, plan: PruningPlan) {
        self.base = base
        self.plan = plan
        slices = SlicedWeights.makeSlices(plan)
    }

    /// The slicing map (pruning.md §4) for every tensor of the target.
    public static func makeSlices(_ plan: PruningPlan) -> [String: TensorSlice] {
        let s = plan.source, t = plan.target
        let Kh = plan.keptHidden.count == s.hiddenSize ? nil : plan.keptHidden
        var out = [String: TensorSlice]()
        func add(_ tname: String, _ sname: String, _ sr: Int, _ sc: Int, _ rows: [Int]?, _ cols: [Int]?, _ shape: [Int]) {
            out[tname] = TensorSlice(sourceName: sname, sourceRows: sr, sourceCols: sc, rows: rows, cols: cols, targetShape: shape)
        }
        let V = s.vocabSize, H = s.hiddenSize
        add("backbone.embeddings.weight", "backbone.embeddings.weight", V, H, nil, Kh, [V, t.hiddenSize])
        add("backbone.norm_f.weight", "backbone.norm_f.weight", H, 1, Kh, nil, [t.hiddenSize])
        if !s.tieWordEmbeddings { add("lm_head.weight", "lm_head.weight", V, H, nil, Kh, [V, t.hiddenSize]) }
        for (j, l) in plan.keptLayers.enumerated() {
            let sp = "backbone.layers.\(l).", tp = "backbone.layers.\(j)."
            add(tp + "norm.weight", sp + "norm.weight", H, 1, Kh, nil, [t.hiddenSize])
            let expected = Dictionary(uniqueKeysWithValues: t.layerTensors(j, s.pattern[l]).map { ($0.name, $0.shape) })
            func mix(_ n: String, _ sr: Int, _ sc: Int, _ rows: [Int]?, _ cols: [Int]?) {
                add(tp + "mixer." + n, sp + "mixer." + n, sr, sc, rows, cols, expected[tp + "mixer." + n]!)
            }
            switch s.pattern[l] {
            case .mlp:
                let Kf = plan.keptFFN[l]!.count == s.ffnHiddenSize ? nil : plan.keptFFN[l]
                mix("up_proj.weight", s.ffnHiddenSize, H, Kf, Kh)
                mix("down_proj.weight", H, s.ffnHiddenSize, Kh, Kf)
            case .attention:
                let d = s.headDim, nq = s.numAttentionHeads, kvd = s.numKeyValueHeads * d
                let heads = plan.keptAttentionHeads[l]!
                let Kq: [Int]? = heads.count == nq ? nil : heads.flatMap { h in (0..<d).map { h * d + $0 } }
                mix("q_proj.weight", nq * d, H, Kq, Kh)
                mix("k_proj.weight", kvd, H, nil, Kh)
                mix("v_proj.weight", kvd, H, nil, Kh)
                mix("o_proj.weight", H, nq * d, Kh, Kq)
            case .mamba:
                let P = s.mambaHeadDim, I = s.mambaIntermediate, GN = s.nGroups * s.ssmStateSize, Cc = s.convDim
                let heads = plan.keptMambaHeads[l]!, dims = plan.keptMambaHeadDim[l]!
                let full = heads.count == s.mambaNumHeads && dims.count == P
                // in_proj rows: z [I] | x [I] | B [GN] | C [GN] | dt [nh]; conv channels: x [I] | B [GN] | C [GN].
                let xs = heads.flatMap { h in dims.map { h * P + $0 } }          // kept (h, p) channels
                let inRows: [Int]? = full ? nil : xs + xs.map { I + $0 } + (0..<(2 * GN)).map { 2 * I + $0 } + heads.map { 2 * I + 2 * GN + $0 }
                let convRows: [Int]? = full ? nil : xs + (0..<(2 * GN)).map { I + $0 }
                let Km: [Int]? = heads.count == s.mambaNumHeads ? nil : heads
                mix("in_proj.weight", s.inProjDim, H, inRows, Kh)
                mix("conv1d.weight", Cc, s.convKernel, convRows, nil)
                if s.useConvBias { mix("conv1d.bias", Cc, 1, convRows, nil) }
                mix("A_log", s.mambaNumHeads, 1, Km, nil)
                mix("D", s.mambaNumHeads, 1, Km, nil)
                mix("dt_bias", s.mambaNumHeads, 1, Km, nil)
                mix("norm.weight", I, 1, full ? nil : xs, nil)
                mix("out_proj.weight", H, I, Kh, full ? nil : xs)
            }
        }
        return out
    }

    public func releasePages(_ name: String) {
        if let s = slices[name] { base.releasePages(s.sourceName) }
    }

    public func shape(of name: String) throws -> [Int] {
        guard let s = slices[name] else { throw CheckpointError.tensorNotFound(tensor: name, where: "the pruned model") }
        return s.targetShape
    }

    /// Reads elements [from, from + count) of the sliced tensor, reading whole source rows and gathering.
    public func read(_ name: String, into out: UnsafeMutablePointer<Float>, from: Int, count: Int) throws {
        guard let s = slices[name] else { throw CheckpointError.tensorNotFound(tensor: name, where: "the pruned model") }
        let tCols = s.cols?.count ?? s.sourceCols
        if s.rows == nil && s.cols == nil {
            try base.read(s.sourceName, into: out, from: from, count: count)
            return
        }
        guard count > 0 else { return }
        var row = [Float](repeating: 0, count: s.sourceCols)
        var k = 0
        var r = from / tCols
        var c = from % tCols
        while k < count {
            let sr = s.rows?[r] ?? r
            try row.withUnsafeMutableBufferPointer { try base.read(s.sourceName, into: $0.baseAddress!, from: sr * s.sourceCols, count: s.sourceCols) }
            while c < tCols && k < count {
                out[k] = row[s.cols?[c] ?? c]
                k += 1; c += 1
            }
            c = 0; r += 1
        }
    }
}
