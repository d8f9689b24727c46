/// GPT-2's byte ↔ unicode table (`bytes_to_unicode` in openai/gpt-2 `encoder.py`, `ByteLevel` in Hugging Face
/// tokenizers): printable bytes map to themselves, the other 68 to U+0100 … U+0143 in byte order, so every byte
/// string becomes a printable string and back.
public enum ByteLevelTable {
    /// byteToScalar[b] = the unicode scalar value standing for byte b.
    public static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable { table[b] = UInt32(b) } else { table[b] = 256 + n; n += 1 }
        }
        return table
    }()

    /// The inverse: scalar value → byte, for the 256 scalars in the table.
    public static let scalarToByte: [UInt32: UInt8] = {
        var d = [UInt32: UInt8]()
        for (b, s) in byteToScalar.enumerated() { d[s] = UInt8(b) }
        return d
    }()

    /// The byte-level string of some bytes (e.g. " the" → "Ġthe").
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(byteToScalar[Int(b)])!) }
        return String(s)
    }

    /// The bytes of a byte-level string, or nil if it holds a character outside the table.
    public static func decode(_ s: String) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            guard let b = scalarToByte[u.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
