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

    /// snake_case keys (config.json's names); nil sizes are omitted.
    enum CodingKeys: String, CodingKey {
        case numLayers = "num_layers", dropLayers = "drop_layers", hiddenSize = "hidden_size", ffnHiddenSize = "ffn_hidden_size"
        case mambaNumHeads = "mamba_num_heads", mambaHeadDim = "mamba_head_dim", numAttentionHeads = "num_attention_heads"
    }
    /// The keys report inputs of an older PruneKit wrote (the Swift names).
    private enum LegacyKeys: String, CodingKey { case numLayers, dropLayers, hiddenSize, ffnHiddenSize, mambaNumHeads, mambaHeadDim, numAttentionHeads }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.allKeys.isEmpty, let l = try? decoder.container(keyedBy: LegacyKeys.self), !l.allKeys.isEmpty {
            self.init(numLayers: try l.decodeIfPresent(Int.self, forKey: .numLayers), dropLayers: try l.decodeIfPresent([Int].self, forKey: .dropLayers),
                      hiddenSize: try l.decodeIfPresent(Int.self, forKey: .hiddenSize), ffnHiddenSize: try l.decodeIfPresent(Int.self, forKey: .ffnHiddenSize),
                      mambaNumHeads: try l.decodeIfPresent(Int.self, forKey: .mambaNumHeads), mambaHeadDim: try l.decodeIfPresent(Int.self, forKey: .mambaHeadDim),
                      numAttentionHeads: try l.decodeIfPresent(Int.self, forKey: .numAttentionHeads))
            return
        }
        self.init(numLayers: try c.decodeIfPresent(Int.self, forKey: .numLayers), dropLayers: try c.decodeIfPresent([Int].self, forKey: .dropLayers),
                  hiddenSize: try c.decodeIfPresent(Int.self, forKey: .hiddenSize), ffnHiddenSize: try c.decodeIfPresent(Int.self, forKey: .ffnHiddenSize),
                  mambaNumHeads: try c.decodeIfPresent(Int.self, forKey: .mambaNumHeads), mambaHeadDim: try c.decodeIfPresent(Int.self, forKey: .mambaHeadDim),
                  numAttentionHeads: try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads))
    }

    /// Canonical JSON: the `Codable` form with the drop list sorted, compact (``PruneKitJSON``: sorted keys, nils
    /// omitted): the identity of a candidate architecture (its bytes are stored and hashed; they must not change).
    public var canonicalJSON: String {
        var t = self
        t.dropLayers = dropLayers?.sorted()
        return (try? PruneKitJSON.string(t)) ?? ""
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
