import Foundation
import PruneKit

/// Encoding speed (tokens/s, MB/s of UTF-8 text, one thread) on nemo-tiny's calibration text, with nemo-tiny's
/// tokenizer (ByteLevel pre-tokenizer) and split-bpe's (Split with the Llama-3 regex + ByteLevel). Each is
/// timed cold (empty word cache, first pass) and warm (best of 3 further passes).
func benchTokenizer() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let fixtures = root.appendingPathComponent("Tests/Fixtures")
    let calib = fixtures.appendingPathComponent("nemo-tiny/calib.jsonl").path
    guard case let .texts(docs) = try CalibrationSet.readDocuments(path: calib) else { return }
    let bytes = docs.reduce(0) { $0 + $1.utf8.count }
    // split-bpe once more with its regex wrapped in (?:…), so NSRegularExpression runs instead of the
    // hand-written matcher: the speed of an arbitrary Split pattern.
    let splitDir = fixtures.appendingPathComponent("split-bpe").path
    let json = try JSONParser().parse(Data(contentsOf: URL(fileURLWithPath: splitDir + "/tokenizer.json")))
    let regex = JSONWriter(indent: nil).string(.string("(?:" + SplitPattern.cl100kPattern + ")"))
    let pre = try JSONParser().parse(#"{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "# + regex
        + #"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}"#)
    let regexTok = try Tokenizer(json: json.setting("pre_tokenizer", pre), file: splitDir)
    for name in ["nemo-tiny", "split-bpe", "split-bpe (NSRegularExpression)"] {
        let tok = name.hasSuffix(")") ? regexTok : try Tokenizer.load(modelDir: fixtures.appendingPathComponent(name).path)
        func pass() -> (Double, Int) {
            let t0 = Date()
            var n = 0
            for d in docs { n += tok.encode(d).count }
            return (Date().timeIntervalSince(t0), n)
        }
        let (cold, tokens) = pass()
        var warm = Double.infinity
        for _ in 0..<3 { warm = min(warm, pass().0) }
        for (label, t) in [("cold", cold), ("warm", warm)] {
            print("  \(name) \(label): " + String(format: "%d docs, %.2f MB, %d tokens in %.1f ms: %.2f M tokens/s, %.2f MB/s",
                         docs.count, Double(bytes) / 1e6, tokens, t * 1000, Double(tokens) / t / 1e6, Double(bytes) / t / 1e6))
        }
    }
}
