import Foundation

/// Why a scores JSON file could not be read.
public struct ScoresFormatError: Error, CustomStringConvertible {
    /// The key (dotted path, e.g. `ffn.4[7]`) that is wrong.
    public let key: String
    public let message: String
    public var description: String { "importance scores: key \"\(key)\": \(message)" }
}

extension ImportanceScores {
    /// Reads the shape ``json`` writes (`prunekit score --format json`, also Scripts/reference/ref_scores.py):
    /// `hidden` [H]; `ffn`, `attention_heads`, `mamba_heads`, `mamba_head_dim` as objects of layer number →
    /// array; optional `mamba_channels` (layer → [nh·P], head-major); optional `block_influence` [L];
    /// optional `iterative_mse` / `iterative_kl` rounds `{"removed", "<metric>", "all": {layer: score}}`;
    /// optional `aggregation`, `layer_evaluations`, `max_layer_evaluations_per_round`.
    /// Unknown keys are ignored. Numbers may be written as `{"__float__": "Infinity"}` or bare non-finite.
    ///
    /// When `mamba_channels` is absent, ``mambaChannels`` is empty; a plan then ranks Mamba heads by
    /// `mamba_heads` (exact when the head-dim is not pruned) and refuses to prune heads and head-dim together.
    /// - Throws: ``ScoresFormatError`` naming the key.
    public init(json: JSONValue) throws {
        guard json.objectValue != nil else { throw ScoresFormatError(key: "(top level)", message: "expected a JSON object") }
        func floats(_ v: JSONValue, _ key: String) throws -> [Float] {
            guard let a = v.arrayValue else { throw ScoresFormatError(key: key, message: "expected an array of numbers") }
            return try a.enumerated().map { i, x in
                guard let d = x.doubleValue else { throw ScoresFormatError(key: "\(key)[\(i)]", message: "expected a number, got \(JSONWriter(indent: nil).string(x))") }
                return Float(d)
            }
        }
        func layerKey(_ k: String, _ key: String) throws -> Int {
            guard let l = Int(k), l >= 0 else { throw ScoresFormatError(key: key, message: "layer key \"\(k)\" is not a layer number") }
            return l
        }
        func perLayer(_ key: String, required: Bool) throws -> [Int: [Float]] {
            guard let v = json[key], !v.isNull else {
                if required { throw ScoresFormatError(key: key, message: "missing (expected an object of layer number → scores)") }
                return [:]
            }
            guard let o = v.objectValue else { throw ScoresFormatError(key: key, message: "expected an object of layer number → scores") }
            var out = [Int: [Float]]()
            for (k, a) in o { out[try layerKey(k, "\(key).\(k)")] = try floats(a, "\(key).\(k)") }
            return out
        }
        guard let h = json["hidden"], !h.isNull else { throw ScoresFormatError(key: "hidden", message: "missing (expected [hidden_size] channel scores)") }
        let hidden = try floats(h, "hidden")
        let ffn = try perLayer("ffn", required: true)
        let attn = try perLayer("attention_heads", required: true)
        let mHeads = try perLayer("mamba_heads", required: true)
        let mDim = try perLayer("mamba_head_dim", required: true)
        let mChannels = try perLayer("mamba_channels", required: false)
        var influence: [Float]?
        if let b = json["block_influence"], !b.isNull { influence = try floats(b, "block_influence") }
        var ranking: LayerRanking?
        for metric in ["mse", "kl"] {
            let key = "iterative_\(metric)"
            guard let v = json[key], !v.isNull else { continue }
            guard let rounds = v.arrayValue else { throw ScoresFormatError(key: key, message: "expected an array of rounds") }
            var parsed = [LayerRemovalRound]()
            for (i, r) in rounds.enumerated() {
                let rk = "\(key)[\(i)]"
                guard let removed = r["removed"]?.intValue else { throw ScoresFormatError(key: rk + ".removed", message: "missing or not an integer") }
                guard let score = r[metric]?.doubleValue else { throw ScoresFormatError(key: rk + ".\(metric)", message: "missing or not a number") }
                var all = [Int: Double]()
                if let o = r["all"]?.objectValue {
                    for (k, x) in o {
                        guard let d = x.doubleValue else { throw ScoresFormatError(key: rk + ".all.\(k)", message: "expected a number") }
                        all[try layerKey(k, rk + ".all.\(k)")] = d
                    }
                }
                parsed.append(LayerRemovalRound(removed: removed, score: score, all: all))
            }
            ranking = LayerRanking(metric: metric, rounds: parsed, layerEvaluations: json["layer_evaluations"]?.intValue ?? 0,
                                   maxEvaluationsPerRound: json["max_layer_evaluations_per_round"]?.intValue ?? 0)
            break
        }
        self.init(hidden: hidden, ffn: ffn, attentionHeads: attn, mambaChannels: mChannels, mambaHeadDim: mDim, mambaHeads: mHeads,
                  blockInfluence: influence, layerRanking: ranking, aggregation: json["aggregation"]?.stringValue ?? "mean/l2")
    }

    /// Reads a scores JSON file (see ``init(json:)``).
    /// - Throws: ``ScoresFormatError`` naming the file and key, or a read/parse error naming the file.
    public static func load(path: String) throws -> ImportanceScores {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ScoresFormatError(key: "(file)", message: "cannot read \(path)")
        }
        let json: JSONValue
        do { json = try JSONParser(allowNonFinite: true, rejectDuplicateKeys: true).parse(data) } catch {
            throw ScoresFormatError(key: "(file)", message: "\(path) is not valid JSON: \(error)")
        }
        do { return try ImportanceScores(json: json) } catch let e as ScoresFormatError {
            throw ScoresFormatError(key: e.key, message: "\(e.message) (in \(path))")
        }
    }
}
