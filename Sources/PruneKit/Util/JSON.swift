import Foundation

/// A JSON value that keeps object key order, number literals as written, and (optionally) the bare
/// `Infinity` / `-Infinity` / `NaN` tokens that Python's `json` module reads and writes.
///
/// Why not Foundation: `JSONSerialization` drops key order, silently keeps the last of duplicate keys
/// (a parser-differential hazard for safetensors headers, formats.md §1) and cannot write a bare `Infinity`
/// back (formats.md §2), which config.json of Nemotron-H needs.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The literal as written (`1e-05`, `131072`, `Infinity`), so a read-modify-write keeps it unchanged.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y || (Double(jsonNumber: x) == Double(jsonNumber: y))
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(pairs) = self { return pairs.first(where: { $0.0 == key })?.1 }
        return nil
    }

    public var objectValue: [(String, JSONValue)]? { if case let .object(o) = self { return o }; return nil }
    public var arrayValue: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    public var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    public var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// The number as a Double; also reads transformers 5's `{"__float__": "Infinity"}` encoding.
    public var doubleValue: Double? {
        switch self {
        case let .number(s): return Double(jsonNumber: s)
        case let .object(o) where o.count == 1 && o[0].0 == "__float__":
            if let s = o[0].1.stringValue { return Double(jsonNumber: s) }
            return nil
        default: return nil
        }
    }

    /// The number as an exact Int64, or nil when it is fractional, has an exponent, or does not fit.
    public var int64Value: Int64? {
        guard case let .number(s) = self else { return nil }
        if let v = Int64(s) { return v }
        // Accept integral literals written as 4.0e3 etc.? No: shapes and sizes must be plain integers.
        return nil
    }

    public var intValue: Int? { int64Value.flatMap { Int(exactly: $0) } }

    /// Returns a copy with `key` set (replaced in place when present, appended otherwise).
    public func setting(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case var .object(pairs) = self else { return self }
        if let i = pairs.firstIndex(where: { $0.0 == key }) { pairs[i].1 = value } else { pairs.append((key, value)) }
        return .object(pairs)
    }

    public func removing(_ key: String) -> JSONValue {
        guard case let .object(pairs) = self else { return self }
        return .object(pairs.filter { $0.0 != key })
    }

    public static func int<T: BinaryInteger>(_ v: T) -> JSONValue { .number(String(v)) }
    public static func double(_ v: Double) -> JSONValue {
        if v.isInfinite { return .number(v > 0 ? "Infinity" : "-Infinity") }
        if v.isNaN { return .number("NaN") }
        return .number("\(v)")
    }
}

extension Double {
    /// Parses a JSON number literal or Python's `Infinity`, `-Infinity`, `NaN`.
    init?(jsonNumber s: String) {
        switch s {
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        case "NaN": self = .nan
        default:
            guard let v = Double(s) else { return nil }
            self = v
        }
    }
}

/// An error from ``JSONParser``, with the byte offset where parsing stopped.
public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict JSON parser (RFC 8259) with two opt-ins: the non-finite tokens Python writes, and a choice to
/// reject duplicate object keys.
public struct JSONParser {
    public var allowNonFinite = true
    public var rejectDuplicateKeys = true
    public var maxDepth = 512

    public init(allowNonFinite: Bool = true, rejectDuplicateKeys: Bool = true) {
        self.allowNonFinite = allowNonFinite
        self.rejectDuplicateKeys = rejectDuplicateKeys
    }

    public func parse(_ data: Data) throws -> JSONValue {
        try data.withUnsafeBytes { raw -> JSONValue in
            var p = Cursor(bytes: raw.bindMemory(to: UInt8.self), options: self)
            p.skipWhitespace()
            let v = try p.value(depth: 0)
            p.skipWhitespace()
            if p.i != p.bytes.count { throw p.error("trailing characters after the JSON value") }
            return v
        }
    }

    public func parse(_ string: String) throws -> JSONValue { try parse(Data(string.utf8)) }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        let options: JSONParser
        var i = 0

        func error(_ m: String) -> JSONParseError { JSONParseError(message: m, offset: i) }

        mutating func skipWhitespace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func literal(_ s: String) -> Bool {
            let u = Array(s.utf8)
            guard i + u.count <= bytes.count else { return false }
            for k in 0..<u.count where bytes[i + k] != u[k] { return false }
            i += u.count
            return true
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < options.maxDepth else { throw error("nesting deeper than \(options.maxDepth)") }
            guard i < bytes.count else { throw error("unexpected end of input") }
            switch bytes[i] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): if literal("true") { return .bool(true) }
            case UInt8(ascii: "f"): if literal("false") { return .bool(false) }
            case UInt8(ascii: "n"): if literal("null") { return .null }
            case UInt8(ascii: "N"): if options.allowNonFinite, literal("NaN") { return .number("NaN") }
            case UInt8(ascii: "I"): if options.allowNonFinite, literal("Infinity") { return .number("Infinity") }
            case UInt8(ascii: "-"):
                if options.allowNonFinite, literal("-Infinity") { return .number("-Infinity") }
                return try number()
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: break
            }
            throw error("unexpected character '\(Character(Unicode.Scalar(bytes[i])))'")
        }

        mutating func number() throws -> JSONValue {
            let start = i
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            func digits() -> Int { let s = i; while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }; return i - s }
            guard i < bytes.count else { throw error("bad number") }
            if bytes[i] == 0x30 { i += 1 } else if digits() == 0 { throw error("bad number") }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") { i += 1; if digits() == 0 { throw error("bad number") } }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                if digits() == 0 { throw error("bad number") }
            }
            return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count else { throw error("bad \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]; i += 1
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw error("bad \\u escape")
                }
                v = v << 4 | d
            }
            return v
        }

        mutating func string() throws -> String {
            i += 1 // opening quote
            var out = [UInt8]()
            while true {
                guard i < bytes.count else { throw error("unterminated string") }
                let c = bytes[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c < 0x20 { throw error("control character in string") }
                if c == UInt8(ascii: "\\") {
                    i += 1
                    guard i < bytes.count else { throw error("unterminated escape") }
                    let e = bytes[i]; i += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var cp = try hex4()
                        if cp >= 0xD800, cp < 0xDC00 {
                            guard literal("\\u") else { throw error("lone surrogate") }
                            let lo = try hex4()
                            guard lo >= 0xDC00, lo < 0xE000 else { throw error("bad surrogate pair") }
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                        } else if cp >= 0xDC00, cp < 0xE000 { throw error("lone surrogate") }
                        guard let scalar = Unicode.Scalar(cp) else { throw error("bad code point") }
                        out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default: throw error("bad escape")
                    }
                } else {
                    out.append(c); i += 1
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw error("string is not valid UTF-8") }
            return s
        }

        mutating func array(depth: Int) throws -> JSONValue {
            i += 1
            var items = [JSONValue]()
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard i < bytes.count else { throw error("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        }

        mutating func object(depth: Int) throws -> JSONValue {
            i += 1
            var pairs = [(String, JSONValue)]()
            var seen = Set<String>()
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
            while true {
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let keyOffset = i
                let key = try string()
                if options.rejectDuplicateKeys, !seen.insert(key).inserted {
                    throw JSONParseError(message: "duplicate key \"\(key)\"", offset: keyOffset)
                }
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                skipWhitespace()
                pairs.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard i < bytes.count else { throw error("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                throw error("expected ',' or '}'")
            }
        }
    }
}

/// Writes JSON the way Python's `json.dumps(obj, indent=…, ensure_ascii=False)` does, including bare
/// `Infinity`, so config.json files round-trip through transformers unchanged.
public struct JSONWriter {
    /// Spaces per level; nil writes compact JSON (`{"a":1}`).
    public var indent: Int?
    public init(indent: Int? = 2) { self.indent = indent }

    public func string(_ v: JSONValue) -> String {
        var out = ""
        write(v, level: 0, into: &out)
        return out
    }

    public func data(_ v: JSONValue) -> Data { Data(string(v).utf8) }

    private func write(_ v: JSONValue, level: Int, into out: inout String) {
        switch v {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .number(s): out += s
        case let .string(s): JSONWriter.escape(s, into: &out)
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (k, item) in items.enumerated() {
                if k > 0 { out += "," }
                newline(level + 1, &out)
                write(item, level: level + 1, into: &out)
            }
            newline(level, &out)
            out += "]"
        case let .object(pairs):
            if pairs.isEmpty { out += "{}"; return }
            out += "{"
            for (k, (key, item)) in pairs.enumerated() {
                if k > 0 { out += "," }
                newline(level + 1, &out)
                JSONWriter.escape(key, into: &out)
                out += indent == nil ? ":" : ": "
                write(item, level: level + 1, into: &out)
            }
            newline(level, &out)
            out += "}"
        }
    }

    private func newline(_ level: Int, _ out: inout String) {
        guard let indent else { return }
        out += "\n" + String(repeating: " ", count: indent * level)
    }

    static func escape(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        out += "\""
    }
}
