import Foundation
import PruneKit
import XCTest

final class TokenizerTests: XCTestCase {
    struct GoldenLine { var text: String; var ids: [Int32] }

    static func golden(_ dir: String) throws -> [GoldenLine] {
        let text = try String(contentsOfFile: dir + "/tokens-golden.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let v = try JSONParser().parse(String(line))
            return GoldenLine(text: v["text"]!.stringValue!, ids: v["ids"]!.arrayValue!.map { Int32($0.intValue!) })
        }
    }

    /// Every golden line's ids equal the tokenizers library's; decoding gives the text back.
    func checkGolden(_ dir: String, _ tokenizer: Tokenizer? = nil, label: String = "") throws {
        let tok = try tokenizer ?? Tokenizer.load(modelDir: dir)
        let lines = try Self.golden(dir)
        var matched = 0, decoded = 0
        for (i, g) in lines.enumerated() {
            let ids = tok.encode(g.text)
            if ids == g.ids { matched += 1 } else if i - matched < 5 {
                XCTFail("\(dir) line \(i + 1) \(g.text.debugDescription.prefix(80)): got \(ids.prefix(40)) want \(g.ids.prefix(40))")
            }
            if tok.decode(Array(g.ids.dropFirst())) == g.text { decoded += 1 }
        }
        print("golden \((dir as NSString).lastPathComponent)\(label): \(matched)/\(lines.count) lines match; \(decoded)/\(lines.count) decode back to the text")
        XCTAssertEqual(matched, lines.count)
        XCTAssertEqual(decoded, lines.count)
        XCTAssertGreaterThan(lines.count, 300)
    }

    func testGoldenNemoTiny() throws { try checkGolden(Fixtures.nemoTiny) }
    func testGoldenSplitBPE() throws { try checkGolden(Fixtures.splitBPE) }

    /// The tokenizer with its split regex run by NSRegularExpression (the pattern wrapped in `(?:…)` so the
    /// hand-written matcher is not chosen), as a Split + ByteLevel(use_regex: false) sequence.
    static func regexPathTokenizer(_ dir: String, pattern: String) throws -> Tokenizer {
        let json = try JSONParser().parse(Data(contentsOf: URL(fileURLWithPath: dir + "/tokenizer.json")))
        let regex = JSONWriter(indent: nil).string(.string("(?:" + pattern + ")"))
        let pre = try JSONParser().parse(#"{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "# + regex
            + #"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}"#)
        return try Tokenizer(json: json.setting("pre_tokenizer", pre), file: dir)
    }

    func testGoldenThroughRegexPath() throws {
        try checkGolden(Fixtures.nemoTiny, Self.regexPathTokenizer(Fixtures.nemoTiny, pattern: SplitPattern.gpt2Pattern), label: " (NSRegularExpression)")
        try checkGolden(Fixtures.splitBPE, Self.regexPathTokenizer(Fixtures.splitBPE, pattern: SplitPattern.cl100kPattern), label: " (NSRegularExpression)")
    }

    /// The hand-written matchers split exactly like the regex engine on every golden text.
    func testFastSplitMatchesRegex() throws {
        let texts = try Self.golden(Fixtures.splitBPE).map(\.text) + ["'S 'LL ſ 'Re x\u{0B}y \u{85}z  \r\n \n\t", "a  \u{A0} b"]
        for p in [SplitPattern.cl100kPattern, SplitPattern.gpt2Pattern] {
            let fast = try SplitPattern(regex: p), slow = try SplitPattern(regex: p, forceRegex: true)
            var same = 0
            for t in texts {
                if fast.split(t) == slow.split(t) { same += 1 } else { XCTFail("\(t.debugDescription.prefix(60)): \(fast.split(t).prefix(12)) vs \(slow.split(t).prefix(12))") }
            }
            XCTAssertEqual(same, texts.count)
        }
    }

    /// The heap merge equals its naive twin on every pre-token of the golden texts.
    func testMergeHeapMatchesNaive() throws {
        let tok = try Tokenizer.load(modelDir: Fixtures.splitBPE)
        var words = 0
        for g in try Self.golden(Fixtures.splitBPE) {
            for w in tok.preTokenize(g.text) {
                let initial = ByteLevelTable.encode(Array(w.utf8)).unicodeScalars.map { tok.model.vocab[String($0)]! }
                var fast = initial
                tok.model.applyMerges(&fast)
                XCTAssertEqual(fast, tok.model.applyMergesNaive(initial), w)
                words += 1
            }
        }
        XCTAssertGreaterThan(words, 1000)
    }

    static func tinyJSON(merges: String, preTokenizer: String = #"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#,
                         normalizer: String = "null", modelType: String = "BPE", modelExtra: String = "") -> String {
        var vocab = [String]()
        for b in 0..<256 { vocab.append(String(Unicode.Scalar(ByteLevelTable.byteToScalar[b])!)) }
        vocab += ["Ġt", "he", "Ġthe", "<s>"]
        let v = vocab.enumerated().map { "\(JSONWriter(indent: nil).string(.string($0.element))): \($0.offset)" }.joined(separator: ", ")
        return """
        {"version": "1.0", "added_tokens": [{"id": 259, "content": "<s>", "special": true}], "normalizer": \(normalizer),
         "pre_tokenizer": \(preTokenizer),
         "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
           "special_tokens": {"<s>": {"id": "<s>", "ids": [259], "tokens": ["<s>"]}}},
         "decoder": {"type": "ByteLevel"},
         "model": {"type": "\(modelType)", "unk_token": null, \(modelExtra) "vocab": {\(v)}, "merges": \(merges)}}
        """
    }

    func write(_ s: String) -> String {
        let dir = Fixtures.tempDir("tok")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try! s.write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)
        return dir
    }

    /// Merges in the "a b" string form and the [a, b] pair form give the same tokenizer.
    func testMergeForms() throws {
        let a = try Tokenizer.load(modelDir: write(Self.tinyJSON(merges: #"["Ġ t", "h e", "Ġt he"]"#)))
        let b = try Tokenizer.load(modelDir: write(Self.tinyJSON(merges: #"[["Ġ", "t"], ["h", "e"], ["Ġt", "he"]]"#)))
        XCTAssertEqual(a.encode("a the"), [259, 97, 258])  // <s>, "a" (byte 0x61), "Ġthe"
        XCTAssertEqual(b.encode("a the"), a.encode("a the"))
        XCTAssertEqual(a.decode(a.encode("a the"), skipSpecialTokens: true), "a the")
    }

    /// ignore_merges: a word that is itself in the vocab is one token even when no merge chain makes it.
    func testIgnoreMerges() throws {
        let plain = try Tokenizer.load(modelDir: write(Self.tinyJSON(merges: "[]")))
        XCTAssertEqual(plain.encode(" the", addSpecialTokens: false), [32, 116, 104, 101])  // ids are byte values in this vocab
        let ignoring = try Tokenizer.load(modelDir: write(Self.tinyJSON(merges: "[]", modelExtra: #""ignore_merges": true,"#)))
        XCTAssertEqual(ignoring.encode(" the", addSpecialTokens: false), [258])
        XCTAssertEqual(ignoring.encode(" thee", addSpecialTokens: false), [32, 116, 104, 101, 101])
    }

    func testInvalidTokenizerJSON() {
        let dir = write("{\"model\": [1, 2")
        XCTAssertThrowsError(try Tokenizer.load(modelDir: dir)) { e in
            guard case TokenizerError.invalidJSON = e else { return XCTFail("\(e)") }
        }
        let none = Fixtures.tempDir("none")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: none) }
        XCTAssertThrowsError(try Tokenizer.load(modelDir: none)) { e in
            guard case TokenizerError.io = e else { return XCTFail("\(e)") }
        }
    }

    func testUnknownComponentNamed() {
        let cases: [(String, String)] = [
            (Self.tinyJSON(merges: "[]", preTokenizer: #"{"type": "Metaspace", "replacement": "▁"}"#), "Metaspace"),
            (Self.tinyJSON(merges: "[]", normalizer: #"{"type": "NFKC"}"#), "NFKC"),
            (Self.tinyJSON(merges: "[]", modelType: "WordPiece"), "WordPiece"),
            (Self.tinyJSON(merges: "[]", modelExtra: #""continuing_subword_prefix": "@@","#), "continuing_subword_prefix"),
            (Self.tinyJSON(merges: "[]", preTokenizer: #"{"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Split", "pattern": {"String": " "}}]}"#), "Split after ByteLevel"),
            (Self.tinyJSON(merges: "[]", preTokenizer: #"{"type": "Split", "pattern": {"Regex": "\\s"}, "behavior": "Weird"}"#), "Weird"),
        ]
        for (json, name) in cases {
            XCTAssertThrowsError(try Tokenizer.load(modelDir: write(json))) { e in
                guard case TokenizerError.unsupported = e else { return XCTFail("\(e)") }
                XCTAssertTrue("\(e)".contains(name), "\(e)")
            }
        }
    }

    func testAddPrefixSpaceAndSplitBehaviors() throws {
        let t = try Tokenizer.load(modelDir: write(Self.tinyJSON(merges: "[]", preTokenizer: #"{"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}"#)))
        XCTAssertEqual(t.preTokenize("hi there"), [" hi", " there"])
        let removed = try Tokenizer.load(modelDir: write(Self.tinyJSON(merges: "[]", preTokenizer:
            #"{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": "-"}, "behavior": "Removed"}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}"#)))
        XCTAssertEqual(removed.preTokenize("a-b--c"), ["a", "b", "c"])
        let prev = try Tokenizer.load(modelDir: write(Self.tinyJSON(merges: "[]", preTokenizer:
            #"{"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithPrevious"}"#)))
        XCTAssertEqual(prev.preTokenize("a-b--c"), ["a-", "b-", "-", "c"])
    }
}
