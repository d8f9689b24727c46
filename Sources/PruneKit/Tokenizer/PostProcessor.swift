import Foundation

/// The post-processor stage: adds special tokens around an encoded sequence (tokenizers `processors`).
/// Supported: `TemplateProcessing` (the `single` template, e.g. "<s> $A"), `ByteLevel` (changes offsets
/// only, so ids pass through) and `Sequence` of them.
public indirect enum PostProcessor: Sendable {
    /// One entry per template item: the ids of a special token, or nil for the sequence `$A`.
    case template(single: [[Int32]?])
    case byteLevel
    case sequence([PostProcessor])

    /// - Throws: ``TokenizerError`` for an unknown `type` or a malformed template.
    public init(json: JSONValue, file: String) throws {
        guard let type = json["type"]?.stringValue else {
            throw TokenizerError.invalidField(file: file, key: "post_processor.type", message: "missing")
        }
        switch type {
        case "TemplateProcessing":
            guard let single = json["single"]?.arrayValue else {
                throw TokenizerError.invalidField(file: file, key: "post_processor.single", message: "missing or not an array")
            }
            var items = [[Int32]?]()
            for item in single {
                if let seq = item["Sequence"] {
                    guard seq["id"]?.stringValue == "A" else {
                        throw TokenizerError.invalidField(file: file, key: "post_processor.single", message: "the single template may only use sequence A")
                    }
                    items.append(nil)
                } else if let name = item["SpecialToken"]?["id"]?.stringValue {
                    guard let ids = json["special_tokens"]?[name]?["ids"]?.arrayValue else {
                        throw TokenizerError.invalidField(file: file, key: "post_processor.special_tokens", message: "no entry for '\(name)'")
                    }
                    items.append(try ids.map {
                        guard let i = $0.intValue, i >= 0, i < Int(Int32.max) else {
                            throw TokenizerError.invalidField(file: file, key: "post_processor.special_tokens", message: "bad id for '\(name)'")
                        }
                        return Int32(i)
                    })
                } else {
                    throw TokenizerError.invalidField(file: file, key: "post_processor.single", message: "item is neither Sequence nor SpecialToken")
                }
            }
            self = .template(single: items)
        case "ByteLevel":
            self = .byteLevel
        case "Sequence":
            guard let list = json["processors"]?.arrayValue else {
                throw TokenizerError.invalidField(file: file, key: "post_processor.processors", message: "missing or not an array")
            }
            self = .sequence(try list.map { try PostProcessor(json: $0, file: file) })
        default:
            throw TokenizerError.unsupported(file: file, component: "post_processor", type: type)
        }
    }

    /// Every id the post-processor can add.
    var specialIds: [Int32] {
        switch self {
        case .byteLevel: return []
        case let .sequence(list): return list.flatMap(\.specialIds)
        case let .template(single): return single.compactMap { $0 }.flatMap { $0 }
        }
    }

    /// The ids with the special tokens added (single sequence).
    public func process(_ ids: [Int32]) -> [Int32] {
        switch self {
        case .byteLevel: return ids
        case let .sequence(list): return list.reduce(ids) { $1.process($0) }
        case let .template(single):
            var out = [Int32]()
            out.reserveCapacity(ids.count + single.count)
            for item in single {
                if let s = item { out.append(contentsOf: s) } else { out.append(contentsOf: ids) }
            }
            return out
        }
    }
}
