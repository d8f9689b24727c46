import Foundation

/// An entry of tokenizer.json's `added_tokens`: matched in the raw text before pre-tokenization and never split
/// by BPE (tokenizers `AddedVocabulary`).
public struct AddedToken: Sendable, Equatable {
    public var id: Int32
    public var content: String
    public var special: Bool
    /// Absorb whitespace on the left / right of the match.
    public var lstrip: Bool
    public var rstrip: Bool
    /// Match only when not inside a word (neighbours are not letters, digits or `_`).
    public var singleWord: Bool

    init(json: JSONValue, file: String) throws {
        guard let id = json["id"]?.intValue, id >= 0, id < Int(Int32.max), let content = json["content"]?.stringValue, !content.isEmpty else {
            throw TokenizerError.invalidField(file: file, key: "added_tokens", message: "each entry needs an integer id and a non-empty content")
        }
        self.id = Int32(id)
        self.content = content
        special = json["special"]?.boolValue ?? false
        lstrip = json["lstrip"]?.boolValue ?? false
        rstrip = json["rstrip"]?.boolValue ?? false
        singleWord = json["single_word"]?.boolValue ?? false
    }
}

/// Finds added tokens in UTF-8 text: leftmost match, longest token on ties (Aho-Corasick's leftmost-longest, as
/// the tokenizers library does), by first byte.
struct AddedTokenMatcher: Sendable {
    let tokens: [AddedToken]
    private let bytes: [[UInt8]]
    /// byFirstByte[b] = indices of tokens starting with byte b, longest first.
    private let byFirstByte: [[Int]]

    init(_ tokens: [AddedToken]) {
        self.tokens = tokens
        let bytes = tokens.map { Array($0.content.utf8) }
        var first = [[Int]](repeating: [], count: 256)
        for (i, b) in bytes.enumerated() { first[Int(b[0])].append(i) }
        self.bytes = bytes
        byFirstByte = first.map { list in list.sorted { bytes[$0].count > bytes[$1].count } }
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Splits `text` into (range, added token index or nil) parts in order; ranges may be empty only for tokens.
    func split(_ text: UnsafeBufferPointer<UInt8>) -> [(Range<Int>, Int?)] {
        var out = [(Range<Int>, Int?)]()
        var segStart = 0
        var i = 0
        let n = text.count
        while i < n {
            var found: Int? = nil
            for t in byFirstByte[Int(text[i])] {
                let b = bytes[t]
                if i + b.count <= n && (0..<b.count).allSatisfy({ text[i + $0] == b[$0] }) {
                    if tokens[t].singleWord && !(isBoundary(text, i - 1) && isBoundary(text, i + b.count)) { continue }
                    found = t; break
                }
            }
            guard let t = found else { i += 1; continue }
            var lo = i, hi = i + bytes[t].count
            if tokens[t].lstrip { while lo > segStart && isSpace(text[lo - 1]) { lo -= 1 } }
            if tokens[t].rstrip { while hi < n && isSpace(text[hi]) { hi += 1 } }
            if segStart < lo { out.append((segStart..<lo, nil)) }
            out.append((lo..<hi, t))
            segStart = hi
            i = hi
        }
        if segStart < n { out.append((segStart..<n, nil)) }
        return out
    }

    private func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    /// True at the text ends or next to a byte that is not an ASCII letter, digit or `_` (non-ASCII counts as
    /// a word character).
    private func isBoundary(_ text: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        if i < 0 || i >= text.count { return true }
        let b = text[i]
        let word = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b >= 0x80
        return !word
    }
}
