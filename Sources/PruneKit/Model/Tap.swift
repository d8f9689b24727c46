/// Named intermediates the forward pass can report (llama.cpp / style.md habit 3). Importance scoring and
/// golden tests read activations only through a ``ForwardTap``.
public enum TapPoint: String, Sendable, CaseIterable {
    /// Embedding output h0 [T, H] (layer = -1).
    case embeddings
    /// The pre-norm output RMSNorm(h; w_ℓ) entering the mixer [T, H].
    case mixerIn = "mixer_in"
    /// `in_proj` output of a Mamba layer [T, 2I + 2GN + nh] (z | xBC | dt, pre-conv).
    case inProj = "in_proj"
    /// Input of `o_proj` of an attention layer [T, nq·d].
    case attnOut = "attn_out"
    /// The FFN activation entering `down_proj`, relu(up_proj(u))² [T, F].
    case ffnAct = "ffn_act"
    /// The mixer output before the residual add [T, H].
    case mixerOut = "mixer_out"
    /// The residual stream after layer ℓ [T, H].
    case layerOut = "layer_out"
    /// After norm_f [T, H] (layer = -1).
    case finalNorm = "final_norm"
}

/// One reported intermediate: a row-major [rows, cols] view valid only during the callback. A batched
/// forward reports each sequence of the batch as its own event, in batch order (`sequence` 0, 1, …).
public struct TapEvent {
    /// Layer index in the source checkpoint's numbering (−1 for embeddings / final norm).
    public let layer: Int
    public let point: TapPoint
    public let rows: Int
    public let cols: Int
    public let data: UnsafeBufferPointer<Float>
    /// Index of the sequence within the batch (0 for a single sequence).
    public let sequence: Int
}

/// Receives the intermediates it asks for. Called on the forward pass's thread, in layer order.
public struct ForwardTap {
    public var points: Set<TapPoint>
    public var observe: (TapEvent) -> Void
    public init(points: Set<TapPoint>, observe: @escaping (TapEvent) -> Void) {
        self.points = points
        self.observe = observe
    }
    @inline(__always) func wants(_ p: TapPoint) -> Bool { points.contains(p) }
}
