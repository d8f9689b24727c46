import Foundation

/// The pre-tokenizer stage of a `tokenizer.json`: splits text into pre-tokens (words) before BPE.
///
/// Works on UTF-8 bytes: a ``PreTokenized`` holds a byte buffer and the byte ranges of the current pieces.
/// `ByteLevel` does not rewrite the bytes; it only marks the pipeline byte-level so the model maps each byte
/// to its GPT-2 symbol (the same result as the tokenizers library's string rewrite, without the copies).
/// Supported types: `ByteLevel` (`add_prefix_space`, `use_regex`), `Split` (regex or string pattern; behaviors
/// Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous; `invert`), `Sequence`.
public indirect enum PreTokenizer {
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(SplitPattern, behavior: SplitBehavior, invert: Bool)
    case sequence([PreTokenizer])

    /// Builds a pre-tokenizer from its JSON object.
    /// - Throws: ``TokenizerError/unsupported(file:component:type:)`` for an unknown `type` or behavior, or a
    ///   pre-tokenizer placed after `ByteLevel` (which would need the rewritten text).
    public init(json: JSONValue, file: String) throws {
        guard let type = json["type"]?.stringValue else {
            throw TokenizerError.invalidField(file: file, key: "pre_tokenizer.type", message: "missing")
        }
        switch type {
        case "ByteLevel":
            self = .byteLevel(addPrefixSpace: json["add_prefix_space"]?.boolValue ?? true,
                              useRegex: json["use_regex"]?.boolValue ?? true)
        case "Split":
            let pattern: SplitPattern
            if let r = json["pattern"]?["Regex"]?.stringValue {
                pattern = try SplitPattern(regex: r, file: file)
            } else if let s = json["pattern"]?["String"]?.stringValue {
                pattern = try SplitPattern(regex: NSRegularExpression.escapedPattern(for: s), file: file)
            } else {
                throw TokenizerError.invalidField(file: file, key: "pre_tokenizer.pattern", message: "expected {\"Regex\": …} or {\"String\": …}")
            }
            let b = json["behavior"]?.stringValue ?? "Isolated"
            guard let behavior = SplitBehavior(rawValue: b) else {
                throw TokenizerError.unsupported(file: file, component: "Split behavior", type: b)
            }
            self = .split(pattern, behavior: behavior, invert: json["invert"]?.boolValue ?? false)
        case "Sequence":
            guard let list = json["pretokenizers"]?.arrayValue else {
                throw TokenizerError.invalidField(file: file, key: "pre_tokenizer.pretokenizers", message: "missing or not an array")
            }
            self = .sequence(try list.map { try PreTokenizer(json: $0, file: file) })
        default:
            throw TokenizerError.unsupported(file: file, component: "pre_tokenizer", type: type)
        }
        var seenByteLevel = false
        for stage in flattened {
            if seenByteLevel { throw TokenizerError.unsupported(file: file, component: "pre_tokenizer", type: "\(stage.typeName) after ByteLevel") }
            if case .byteLevel = stage { seenByteLevel = true }
        }
    }

    var typeName: String {
        switch self { case .byteLevel: return "ByteLevel"; case .split: return "Split"; case .sequence: return "Sequence" }
    }

    /// The stages in order, sequences expanded.
    var flattened: [PreTokenizer] {
        if case let .sequence(list) = self { return list.flatMap { $0.flattened } }
        return [self]
    }

    /// True when the pipeline contains a ByteLevel stage (the model then works on bytes).
    public var isByteLevel: Bool {
        flattened.contains { if case .byteLevel = $0 { return true }; return false }
    }

    /// Splits `p`'s pieces further.
    public func apply(_ p: inout PreTokenized) {
        switch self {
        case let .sequence(list):
            for s in list { s.apply(&p) }
        case let .byteLevel(addPrefixSpace, useRegex):
            if addPrefixSpace { p.prependSpaces() }
            if useRegex { p.split(SplitPattern.gpt2, behavior: .isolated, invert: false) }
        case let .split(pattern, behavior, invert):
            p.split(pattern, behavior: behavior, invert: invert)
        }
    }
}

/// How a Split pre-tokenizer treats the pattern's matches (tokenizers `SplitDelimiterBehavior`).
public enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

/// Text being pre-tokenized: UTF-8 bytes and the byte ranges of the pieces, in order.
public struct PreTokenized {
    public var bytes: [UInt8]
    public var pieces: [Range<Int>]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
        self.pieces = bytes.isEmpty ? [] : [0..<bytes.count]
    }

    /// The pieces as strings (for tests and debugging).
    public var strings: [String] { pieces.map { String(decoding: bytes[$0], as: UTF8.self) } }

    /// ByteLevel's add_prefix_space: a space before every piece that does not start with one.
    mutating func prependSpaces() {
        guard pieces.contains(where: { bytes[$0.lowerBound] != 0x20 }) else { return }
        var nb = [UInt8]()
        nb.reserveCapacity(bytes.count + pieces.count)
        var np = [Range<Int>]()
        np.reserveCapacity(pieces.count)
        for r in pieces {
            let s = nb.count
            if bytes[r.lowerBound] != 0x20 { nb.append(0x20) }
            nb.append(contentsOf: bytes[r])
            np.append(s..<nb.count)
        }
        bytes = nb
        pieces = np
    }

    mutating func split(_ pattern: SplitPattern, behavior: SplitBehavior, invert: Bool) {
        var out = [Range<Int>]()
        out.reserveCapacity(pieces.count * 4)
        var parts = [(Range<Int>, Bool)]()
        bytes.withUnsafeBufferPointer { buf in
            for r in pieces {
                parts.removeAll(keepingCapacity: true)
                pattern.findMatches(buf, r) { m, isMatch in parts.append((m, isMatch != invert)) }
                applyBehavior(behavior, parts, &out)
            }
        }
        pieces = out
    }
}

/// tokenizers `NormalizedString::split`: turns (range, isMatch) parts covering a piece into pieces.
private func applyBehavior(_ b: SplitBehavior, _ parts: [(Range<Int>, Bool)], _ out: inout [Range<Int>]) {
    let start = out.count
    switch b {
    case .isolated:
        for (r, _) in parts { out.append(r) }
    case .removed:
        for (r, m) in parts where !m { out.append(r) }
    case .contiguous:
        var prevMatch = false
        for (r, m) in parts {
            if m && prevMatch && out.count > start { out[out.count - 1] = out[out.count - 1].lowerBound..<r.upperBound } else { out.append(r) }
            prevMatch = m
        }
    case .mergedWithPrevious:
        var prevMatch = false
        for (r, m) in parts {
            if m && !prevMatch && out.count > start { out[out.count - 1] = out[out.count - 1].lowerBound..<r.upperBound } else { out.append(r) }
            prevMatch = m
        }
    case .mergedWithNext:
        var prevMatch = false
        var rev = [Range<Int>]()
        for (r, m) in parts.reversed() {
            if m && !prevMatch && !rev.isEmpty { rev[rev.count - 1] = r.lowerBound..<rev[rev.count - 1].upperBound } else { rev.append(r) }
            prevMatch = m
        }
        out.append(contentsOf: rev.reversed())
    }
}
