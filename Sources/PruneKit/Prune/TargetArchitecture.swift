import Foundation

/// The sizes a pruning aims at. nil keeps the source's value. Depth is given either as a layer count
/// (the layers the iterative ranking removes first are dropped) or as explicit layers to drop.
public struct TargetArchitecture: Codable, Hashable, Sendable {
    /// Layers to keep (drops the first L − numLayers of the iterative removal order).
    public var numLayers: Int?
    /// Explicit layers to drop (checkpoint numbering). Exclusive with ``numLayers``.
    public var dropLayers: [Int]?
    public var hiddenSize: Int?
    public var ffnHiddenSize: Int?
    public var mambaNumHeads: Int?
    public var mambaHeadDim: Int?
    public var numAttentionHeads: Int?

    public init(numLayers: Int? = nil, dropLayers: [Int]? = nil, hiddenSize: Int? = nil, ffnHiddenSize: Int? = nil,
                mambaNumHeads: Int? = nil, mambaHeadDim: Int? = nil, numAttentionHeads: Int? = nil) {
        self.numLayers = numLayers; self.dropLayers = dropLayers; self.hiddenSize = hiddenSize; self.ffnHiddenSize = ffnHiddenSize
        self.mambaNumHeads = mambaNumHeads; self.mambaHeadDim = mambaHeadDim; self.numAttentionHeads = numAttentionHeads
    }

    /// Canonical JSON (sorted keys, nils omitted): the identity of a candidate architecture.
    public var canonicalJSON: String {
        var o = [(String, JSONValue)]()
        if let dropLayers { o.append(("drop_layers", .array(dropLayers.sorted().map { .int($0) }))) }
        if let ffnHiddenSize { o.append(("ffn_hidden_size", .int(ffnHiddenSize))) }
        if let hiddenSize { o.append(("hidden_size", .int(hiddenSize))) }
        if let mambaHeadDim { o.append(("mamba_head_dim", .int(mambaHeadDim))) }
        if let mambaNumHeads { o.append(("mamba_num_heads", .int(mambaNumHeads))) }
        if let numAttentionHeads { o.append(("num_attention_heads", .int(numAttentionHeads))) }
        if let numLayers { o.append(("num_layers", .int(numLayers))) }
        return JSONWriter(indent: nil).string(.object(o))
    }

    /// Hex SHA-256 of ``canonicalJSON``.
    public var hash: String { sha256Hex(Data(canonicalJSON.utf8)) }
}

/// Why a target cannot be applied to a source.
public enum PruneError: Error, CustomStringConvertible {
    case invalidTarget(String)
    case needsScores(String)
    case output(String)
    /// A bad option value (size string, dtype name), naming the option and the accepted forms.
    case badOption(String)

    public var description: String {
        switch self {
        case let .invalidTarget(m): return "invalid target architecture: \(m)"
        case let .needsScores(m): return "importance scores needed: \(m)"
        case let .output(m): return m
        case let .badOption(m): return m
        }
    }
}
