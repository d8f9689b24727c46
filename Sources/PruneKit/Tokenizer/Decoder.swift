import Foundation

/// The decoder stage: token strings back to text. Supported: `ByteLevel` (each character of a token back to its
/// byte via ``ByteLevelTable``; a token with a character outside the table is kept as its UTF-8, as in
/// tokenizers `decoders/byte_level.rs`; the bytes are then decoded as UTF-8, invalid sequences becoming U+FFFD).
public enum TokenDecoder: Sendable {
    case byteLevel

    /// - Throws: ``TokenizerError/unsupported(file:component:type:)`` for other types.
    public init(json: JSONValue, file: String) throws {
        let type = json["type"]?.stringValue ?? "(missing)"
        guard type == "ByteLevel" else { throw TokenizerError.unsupported(file: file, component: "decoder", type: type) }
        self = .byteLevel
    }

    /// Text of the token strings.
    public func decode(_ tokens: [String]) -> String {
        var bytes = [UInt8]()
        for t in tokens {
            if let b = ByteLevelTable.decode(t) { bytes.append(contentsOf: b) } else { bytes.append(contentsOf: t.utf8) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
