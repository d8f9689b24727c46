import Foundation

/// A Split pre-tokenizer's regex. The two patterns nearly every byte-level tokenizer uses get a hand-written
/// matcher (GPT-2's, used by `ByteLevel(use_regex: true)`, and the GPT-4 cl100k / Llama-3 one); any other
/// pattern runs through ICU's `NSRegularExpression`, with `\s` rewritten to Oniguruma's Unicode White_Space
/// set (the tokenizers library uses Oniguruma). Both paths give the same pieces on the golden texts (tested).
///
/// `NSRegularExpression` is documented thread-safe for matching, hence `@unchecked Sendable`.
public final class SplitPattern: @unchecked Sendable {
    enum Kind { case gpt2, cl100k, regex(NSRegularExpression) }
    let kind: Kind
    /// The pattern as written in tokenizer.json.
    public let pattern: String

    /// GPT-2's pre-tokenizer regex (tokenizers `ByteLevel`).
    public static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// GPT-4's cl100k pattern, also Llama 3's.
    public static let cl100kPattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    static let gpt2 = SplitPattern(fast: .gpt2, pattern: gpt2Pattern)

    init(fast: Kind, pattern: String) { self.kind = fast; self.pattern = pattern }

    /// - Parameters:
    ///   - regex: an Oniguruma-style pattern as in tokenizer.json.
    ///   - forceRegex: use NSRegularExpression even for the patterns with a hand-written matcher (tests).
    /// - Throws: ``TokenizerError/invalidField(file:key:message:)`` if the pattern does not compile.
    public init(regex: String, file: String = "", forceRegex: Bool = false) throws {
        pattern = regex
        if !forceRegex && regex == SplitPattern.gpt2Pattern { kind = .gpt2; return }
        if !forceRegex && regex == SplitPattern.cl100kPattern { kind = .cl100k; return }
        do {
            kind = .regex(try NSRegularExpression(pattern: SplitPattern.icuPattern(regex), options: []))
        } catch {
            throw TokenizerError.invalidField(file: file, key: "pre_tokenizer.pattern", message: "regex does not compile: \(regex)")
        }
    }

    /// Rewrites `\s` / `\S` to Oniguruma's Unicode White_Space set, which ICU's `\s` misses U+000B and U+0085 of.
    static func icuPattern(_ p: String) -> String {
        let ws = #"\t\n\x{0B}\f\r\x{85}\p{Z}"#
        var out = ""
        var inClass = 0
        var it = p.makeIterator()
        while let c = it.next() {
            if c == "\\" {
                guard let d = it.next() else { out.append(c); break }
                switch (d, inClass > 0) {
                case ("s", false): out += "[\(ws)]"
                case ("s", true): out += ws
                case ("S", false): out += "[^\(ws)]"
                default: out.append(c); out.append(d)
                }
                continue
            }
            if c == "[" { inClass += 1 } else if c == "]" && inClass > 0 { inClass -= 1 }
            out.append(c)
        }
        return out
    }

    /// Splits a string (tests, debugging): matches and the gaps between them, in order.
    public func split(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var out = [String]()
        bytes.withUnsafeBufferPointer { buf in
            findMatches(buf, 0..<buf.count) { r, _ in out.append(String(decoding: buf[r], as: UTF8.self)) }
        }
        return out
    }

    /// Calls `emit(range, isMatch)` for the non-empty matches in `buf[range]` and the gaps between them, in
    /// order, covering the range (tokenizers `Pattern::find_matches`).
    func findMatches(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ emit: (Range<Int>, Bool) -> Void) {
        switch kind {
        case .gpt2, .cl100k:
            let sc = ScalarClasses(buf, range)
            let n = sc.count
            var i = 0
            while i < n {
                let e: Int
                if case .gpt2 = kind { e = sc.matchGPT2(i) } else { e = sc.matchCL100K(i) }
                emit(sc.offs[i]..<sc.offs[e], true)
                i = e
            }
        case let .regex(re):
            let text = String(decoding: UnsafeBufferPointer(rebasing: buf[range]), as: UTF8.self)
            // UTF-16 offset → byte offset.
            var map = [Int](repeating: 0, count: text.utf16.count + 1)
            var u16 = 0, u8 = range.lowerBound
            for s in text.unicodeScalars {
                map[u16] = u8
                if s.value > 0xFFFF { map[u16 + 1] = u8 }
                u16 += s.value > 0xFFFF ? 2 : 1
                u8 += s.utf8.count
            }
            map[u16] = u8
            var prev = range.lowerBound
            for m in re.matches(in: text, options: [], range: NSRange(location: 0, length: u16)) {
                let a = map[m.range.location], b = map[m.range.location + m.range.length]
                if a == b { continue }
                if prev < a { emit(prev..<a, false) }
                emit(a..<b, true)
                prev = b
            }
            if prev < range.upperBound { emit(prev..<range.upperBound, false) }
        }
    }
}

/// The unicode scalars of a UTF-8 range with the character classes the regexes test.
struct ScalarClasses {
    static let letter: UInt8 = 1, number: UInt8 = 2, space: UInt8 = 4, newline: UInt8 = 8, other: UInt8 = 16
    var vals: [UInt32] = []
    var cls: [UInt8] = []
    /// Byte offset of scalar i; offs[count] = end of range.
    var offs: [Int] = []
    var count: Int { vals.count }

    static let ascii: [UInt8] = (0..<128).map { classifySlow(UInt32($0)) }

    static func classifySlow(_ v: UInt32) -> UInt8 {
        if v == 0x0A || v == 0x0D { return newline }
        guard let s = Unicode.Scalar(v) else { return other }
        if s.properties.isWhitespace { return space }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
        case .decimalNumber, .letterNumber, .otherNumber: return number
        default: return other
        }
    }

    init(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        let cap = range.count
        vals.reserveCapacity(cap); cls.reserveCapacity(cap); offs.reserveCapacity(cap + 1)
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let b0 = UInt32(buf[i])
            var v: UInt32, len: Int
            if b0 < 0x80 { v = b0; len = 1 }
            else if b0 < 0xE0 { v = (b0 & 0x1F) << 6 | UInt32(buf[i + 1] & 0x3F); len = 2 }
            else if b0 < 0xF0 { v = (b0 & 0x0F) << 12 | UInt32(buf[i + 1] & 0x3F) << 6 | UInt32(buf[i + 2] & 0x3F); len = 3 }
            else { v = (b0 & 0x07) << 18 | UInt32(buf[i + 1] & 0x3F) << 12 | UInt32(buf[i + 2] & 0x3F) << 6 | UInt32(buf[i + 3] & 0x3F); len = 4 }
            vals.append(v)
            cls.append(v < 128 ? ScalarClasses.ascii[Int(v)] : ScalarClasses.classifySlow(v))
            offs.append(i)
            i += len
        }
        offs.append(end)
    }

    @inline(__always) func isSpace(_ i: Int) -> Bool { cls[i] & (ScalarClasses.space | ScalarClasses.newline) != 0 }

    /// Whitespace alternatives shared by both patterns: `\s+(?!\S)|\s+` from a whitespace scalar at i.
    @inline(__always) func matchTrailingSpace(_ i: Int, spaceEnd e: Int) -> Int {
        if e == count { return e }
        if e - 1 > i { return e - 1 }
        return e
    }

    /// End of the match of GPT-2's pattern at scalar i (always > i).
    func matchGPT2(_ i: Int) -> Int {
        let n = count
        let v = vals[i]
        if v == 0x27, i + 1 < n {  // 's|'t|'re|'ve|'m|'ll|'d
            let a = vals[i + 1]
            if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }
            if i + 2 < n {
                let b = vals[i + 2]
                if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }
            }
        }
        // ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+`
        var j = i
        if v == 0x20, i + 1 < n, !isSpace(i + 1) { j = i + 1 }
        let c = cls[j]
        if c & (ScalarClasses.letter | ScalarClasses.number | ScalarClasses.other) != 0 {
            var e = j + 1
            while e < n && cls[e] == c { e += 1 }
            return e
        }
        var e = i + 1
        while e < n && isSpace(e) { e += 1 }
        return matchTrailingSpace(i, spaceEnd: e)
    }

    @inline(__always) static func lower(_ v: UInt32) -> UInt32 {
        if v >= 0x41 && v <= 0x5A { return v + 32 }
        if v == 0x17F { return 0x73 }  // ſ folds to s
        return v
    }

    /// End of the match of the cl100k / Llama-3 pattern at scalar i (always > i).
    func matchCL100K(_ i: Int) -> Int {
        let n = count
        let v = vals[i], c = cls[i]
        if v == 0x27, i + 1 < n {  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            let a = ScalarClasses.lower(vals[i + 1])
            if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }
            if i + 2 < n {
                let b = ScalarClasses.lower(vals[i + 2])
                if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if c & (ScalarClasses.space | ScalarClasses.other) != 0, i + 1 < n, cls[i + 1] == ScalarClasses.letter {
            var e = i + 2
            while e < n && cls[e] == ScalarClasses.letter { e += 1 }
            return e
        }
        if c == ScalarClasses.letter {
            var e = i + 1
            while e < n && cls[e] == ScalarClasses.letter { e += 1 }
            return e
        }
        // \p{N}{1,3}
        if c == ScalarClasses.number {
            var e = i + 1
            while e < n && e < i + 3 && cls[e] == ScalarClasses.number { e += 1 }
            return e
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var j = i
        if v == 0x20, i + 1 < n, cls[i + 1] == ScalarClasses.other { j = i + 1 }
        if cls[j] == ScalarClasses.other {
            var e = j + 1
            while e < n && cls[e] == ScalarClasses.other { e += 1 }
            while e < n && cls[e] == ScalarClasses.newline { e += 1 }
            return e
        }
        // \s*[\r\n]+ : whitespace run, backtracked to end after its last CR/LF.
        var e = i + 1
        while e < n && isSpace(e) { e += 1 }
        var k = e - 1
        while k >= i && cls[k] != ScalarClasses.newline { k -= 1 }
        if k >= i { return k + 1 }
        return matchTrailingSpace(i, spaceEnd: e)
    }
}
