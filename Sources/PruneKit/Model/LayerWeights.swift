import Foundation

// Typed weights of one decoder layer, built once from the config's tensor table (NemotronHConfig.layerTensors),
// as llama2.c's `TransformerWeights`. Names in the comments are checkpoint keys after `backbone.layers.{i}.`.
// Widths: H hidden, I = nh·P Mamba intermediate, GN = G·N, Cc = I + 2·GN conv channels,
// Din = 2·I + 2·GN + nh in_proj rows, F FFN hidden, d head dim, nq / nkv query / key-value heads.

/// Mamba-2 mixer weights (nemotron-h.md §3.2).
struct MambaWeights {
    let norm: FloatBuffer         // [H]          norm.weight (pre-mixer RMSNorm)
    let inProj: LinearWeight      // [Din, H]     mixer.in_proj.weight → z [I] | xBC [Cc] | dt [nh]
    let conv: FloatBuffer         // [Cc, 1, K]   mixer.conv1d.weight (depthwise, causal)
    let convBias: FloatBuffer?    // [Cc]         mixer.conv1d.bias (when use_conv_bias)
    let A: FloatBuffer            // [nh]         −exp(mixer.A_log)
    let D: FloatBuffer            // [nh]         mixer.D (skip)
    let dtBias: FloatBuffer       // [nh]         mixer.dt_bias
    let gateNorm: FloatBuffer     // [I]          mixer.norm.weight (gated group RMSNorm)
    let outProj: LinearWeight     // [H, I]       mixer.out_proj.weight
}

/// Attention mixer weights (nemotron-h.md §3.3), no biases, no positional encoding.
struct AttentionWeights {
    let norm: FloatBuffer         // [H]          norm.weight
    let q: LinearWeight           // [nq·d, H]    mixer.q_proj.weight
    let k: LinearWeight           // [nkv·d, H]   mixer.k_proj.weight
    let v: LinearWeight           // [nkv·d, H]   mixer.v_proj.weight
    let o: LinearWeight           // [H, nq·d]    mixer.o_proj.weight
}

/// MLP mixer weights (nemotron-h.md §3.4): relu² between two projections, no gate, no biases.
struct MLPWeights {
    let norm: FloatBuffer         // [H]          norm.weight
    let up: LinearWeight          // [F, H]       mixer.up_proj.weight
    let down: LinearWeight        // [H, F]       mixer.down_proj.weight
}

enum LayerWeights {
    case mamba(MambaWeights)
    case attention(AttentionWeights)
    case mlp(MLPWeights)

    /// Reads layer `i`'s tensors from `source`. Vectors are always widened; the matrices are widened and
    /// kept when `cacheLinear`, else streamed in panels on each use.
    /// - Throws: what the source throws for a missing or unreadable tensor.
    static func load(layer i: Int, config c: NemotronHConfig, source: WeightSource, cacheLinear: Bool) throws -> LayerWeights {
        let prefix = "backbone.layers.\(i)."
        let shapes = Dictionary(uniqueKeysWithValues: c.layerTensors(i, c.pattern[i]).map { ($0.name, $0.shape) })
        func vec(_ key: String) throws -> FloatBuffer { FloatBuffer(try source.floats(prefix + key)) }
        func mat(_ key: String) throws -> LinearWeight {
            let name = prefix + key, s = shapes[name]!
            return LinearWeight(name: name, outFeatures: s[0], inFeatures: s[1],
                                cached: cacheLinear ? FloatBuffer(try source.floats(name)) : nil, source: source)
        }
        let norm = try vec("norm.weight")
        switch c.pattern[i] {
        case .mamba:
            let A = try source.floats(prefix + "mixer.A_log").map { -expf($0) }
            return .mamba(MambaWeights(norm: norm, inProj: try mat("mixer.in_proj.weight"), conv: try vec("mixer.conv1d.weight"),
                                       convBias: c.useConvBias ? try vec("mixer.conv1d.bias") : nil, A: FloatBuffer(A),
                                       D: try vec("mixer.D"), dtBias: try vec("mixer.dt_bias"),
                                       gateNorm: try vec("mixer.norm.weight"), outProj: try mat("mixer.out_proj.weight")))
        case .attention:
            return .attention(AttentionWeights(norm: norm, q: try mat("mixer.q_proj.weight"), k: try mat("mixer.k_proj.weight"),
                                               v: try mat("mixer.v_proj.weight"), o: try mat("mixer.o_proj.weight")))
        case .mlp:
            return .mlp(MLPWeights(norm: norm, up: try mat("mixer.up_proj.weight"), down: try mat("mixer.down_proj.weight")))
        }
    }

    /// fp32 bytes of the layer's matrices (what caching them costs).
    static func linearBytes(layer i: Int, config c: NemotronHConfig) -> Int {
        c.layerTensors(i, c.pattern[i]).filter { $0.shape.count == 2 }.reduce(0) { $0 + $1.shape.reduce(4, *) }
    }

    /// Scratch floats per token row while the layer runs (input norm, projections, mixer intermediates, output).
    static func scratchFloatsPerRow(_ kind: LayerKind, config c: NemotronHConfig) -> Int {
        let H = c.hiddenSize
        switch kind {
        case .mamba: return 2 * H + c.inProjDim + c.convDim + c.mambaNumHeads + c.mambaIntermediate
        case .attention: return 2 * H + 2 * c.numAttentionHeads * c.headDim + 2 * c.numKeyValueHeads * c.headDim
        case .mlp: return 2 * H + c.ffnHiddenSize
        }
    }
}
