import Foundation

/// PruneKit's one JSON convention for its own files and outputs (formats.md §0): `Codable` types with
/// snake_case keys, encoded with sorted keys and unescaped slashes; non-finite numbers are written as `null`
/// (``FiniteOrNull``), never as bare `NaN` / `Infinity` or as strings. The encoder refuses (throws) a
/// non-finite number that a type did not mark, so a missed field is an error, not a non-JSON file.
///
/// ``JSONWriter`` remains only where `Codable` cannot serve: config.json (bare `Infinity`, key order kept for
/// transformers) and safetensors headers (key order, duplicate-key rejection on read).
public enum PruneKitJSON {
    /// The shared encoder: sorted keys; `pretty` indents (files and `--format json`), compact otherwise (store columns).
    public static func encoder(pretty: Bool) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// The shared decoder. Also reads the strings `"NaN"`, `"Infinity"`, `"-Infinity"` that report inputs of an
    /// older PruneKit wrote for non-finite numbers.
    public static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return d
    }

    /// `v` encoded by ``encoder(pretty:)``.
    /// - Throws: `EncodingError` for a non-finite number not marked ``FiniteOrNull``.
    public static func data<T: Encodable>(_ v: T, pretty: Bool = false) throws -> Data { try encoder(pretty: pretty).encode(v) }

    /// `v` encoded by ``encoder(pretty:)`` as text.
    public static func string<T: Encodable>(_ v: T, pretty: Bool = false) throws -> String { String(decoding: try data(v, pretty: pretty), as: UTF8.self) }

    /// Decodes `T` from `data` with ``decoder``.
    public static func decode<T: Decodable>(_ t: T.Type, from data: Data) throws -> T { try decoder.decode(t, from: data) }
}

/// A number that may be non-finite: `Double` (read back as NaN from `null`) or `Double?` (read back as nil).
public protocol FiniteOrNullValue: Sendable, Equatable {
    /// The value when finite, else nil (written as `null`).
    var finiteValue: Double? { get }
    /// The value read from `null` (nil) or a number.
    init(finiteOrNull: Double?)
}

extension Double: FiniteOrNullValue {
    public var finiteValue: Double? { isFinite ? self : nil }
    public init(finiteOrNull v: Double?) { self = v ?? .nan }
}

extension Optional: FiniteOrNullValue where Wrapped == Double {
    public var finiteValue: Double? { flatMap { $0.isFinite ? $0 : nil } }
    public init(finiteOrNull v: Double?) { self = v }
}

/// PruneKit's convention for non-finite numbers in its own JSON: written as `null` (JSON has no NaN or
/// infinity). Use as a property wrapper on `Double` / `Double?` fields of `Codable` types
/// (`@FiniteOrNull var kl: Double?`), or as a value in a hand-written `encode(to:)`. A missing key reads as
/// nil (`Double?`) or NaN (`Double`).
@propertyWrapper
public struct FiniteOrNull<Value: FiniteOrNullValue>: Codable, Sendable, Equatable {
    public var wrappedValue: Value
    public init(wrappedValue: Value) { self.wrappedValue = wrappedValue }
    public init(_ v: Value) { wrappedValue = v }
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = Value(finiteOrNull: c.decodeNil() ? nil : try c.decode(Double.self))
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let v = wrappedValue.finiteValue { try c.encode(v) } else { try c.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// A ``FiniteOrNull`` field whose key is absent reads as nil / NaN (files written before the convention
    /// omitted nil numbers).
    public func decode<V>(_ t: FiniteOrNull<V>.Type, forKey key: Key) throws -> FiniteOrNull<V> {
        try decodeIfPresent(t, forKey: key) ?? FiniteOrNull(V(finiteOrNull: nil))
    }
}

/// The keyed container of an object of PruneKit's own JSON read leniently: a key matches when it is equal
/// ignoring case and underscores, so `hidden_size` (the convention) also reads `hiddenSize` (the Swift names,
/// which report inputs and store values of an older PruneKit were written with). Used by the `init(from:)`
/// of types whose older files or rows had camelCase keys; encoding always writes the snake_case key.
public struct LenientKeyedContainer {
    /// Any key of the object.
    public struct Key: CodingKey {
        public var stringValue: String
        public var intValue: Int? { nil }
        public init(_ s: String) { stringValue = s }
        public init(stringValue: String) { self.stringValue = stringValue }
        public init?(intValue: Int) { nil }
    }
    public let container: KeyedDecodingContainer<Key>
    private let keys: [String: Key]

    public init(_ decoder: Decoder) throws {
        container = try decoder.container(keyedBy: Key.self)
        var keys = [String: Key]()
        for k in container.allKeys {
            let n = Self.normalized(k.stringValue)
            // Both spellings present (not written by PruneKit): the snake_case one wins.
            if keys[n] == nil || k.stringValue.contains("_") { keys[n] = k }
        }
        self.keys = keys
    }

    static func normalized(_ key: String) -> String { key.lowercased().replacingOccurrences(of: "_", with: "") }

    private func key(_ name: String) -> Key? { keys[Self.normalized(name)] }

    /// Whether the object has `name` in either spelling.
    public func contains(_ name: String) -> Bool { key(name) != nil }

    /// The value under `name` (snake_case) or its camelCase spelling.
    /// - Throws: `DecodingError.keyNotFound` naming the snake_case key; the value's decoding errors.
    public func decode<T: Decodable>(_ name: String, as t: T.Type = T.self) throws -> T {
        guard let k = key(name) else {
            throw DecodingError.keyNotFound(Key(name), .init(codingPath: container.codingPath, debugDescription: "no value for \"\(name)\""))
        }
        return try container.decode(t, forKey: k)
    }

    /// The value under `name` or its camelCase spelling; nil when absent or null.
    public func decodeIfPresent<T: Decodable>(_ name: String, as t: T.Type = T.self) throws -> T? {
        guard let k = key(name) else { return nil }
        return try container.decodeIfPresent(t, forKey: k)
    }

    /// A number that may be non-finite (``FiniteOrNull``): nil when absent or null.
    public func finiteOrNull(_ name: String) throws -> Double? {
        try decodeIfPresent(name, as: FiniteOrNull<Double?>.self)?.wrappedValue
    }
}
