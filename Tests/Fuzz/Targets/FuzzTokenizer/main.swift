import Foundation
import FuzzSupport
import PruneKit

// tokenizer.json loader and encoder (Tokenizer/). The first input byte picks the mode:
// - even: the rest is a tokenizer.json. Loading either throws TokenizerError or yields a tokenizer whose
//   encodings of a few fixed texts hold only ids in 0..<vocabSize, each with a token string, and are stable
//   (a second encode, served from the cache, gives the same ids).
// - odd: the rest is text for the fixture tokenizers (nemo-tiny, split-bpe). Ids are in range, encoding is
//   stable, and decoding the ids (without special tokens added) gives the text back (byte-level BPE is
//   lossless).

let fixtureTokenizers: [Tokenizer] = ["nemo-tiny", "split-bpe"].map {
    try! Tokenizer(path: ((fixturesDir as NSString).appendingPathComponent($0) as NSString).appendingPathComponent("tokenizer.json"))
}
let probeTexts = ["Hello world", "  leading spaces\n\ttab", "é中😀 \u{0}", "<s>special</s><|im_end|>", "12345 678", ""]

func checkIds(_ tok: Tokenizer, _ text: String, addSpecialTokens: Bool) -> [Int32] {
    let ids = tok.encode(text, addSpecialTokens: addSpecialTokens)
    let v = tok.vocabSize
    for id in ids {
        invariant(id >= 0 && Int(id) < v, "id \(id) outside 0..<\(v) for \(text.debugDescription)")
        invariant(tok.token(id) != nil, "id \(id) has no token string (\(text.debugDescription))")
    }
    invariant(tok.encode(text, addSpecialTokens: addSpecialTokens) == ids, "encoding is not stable for \(text.debugDescription)")
    return ids
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let rest = Data(bytes: data + 1, count: size - 1)
    if data[0] & 1 == 0 {
        let tok: Tokenizer
        do {
            let json: JSONValue
            do { json = try JSONParser().parse(rest) } catch { return 0 }
            tok = try Tokenizer(json: json, file: "fuzz/tokenizer.json")
        } catch {
            expectTyped(error, [TokenizerError.self], "Tokenizer(json:file:)")
            invariant("\(error)".contains("fuzz/tokenizer.json"), "the error does not name the file: \(error)")
            return 0
        }
        for t in probeTexts {
            _ = checkIds(tok, t, addSpecialTokens: true)
            _ = tok.decode(checkIds(tok, t, addSpecialTokens: false))
        }
    } else {
        let text = String(decoding: rest, as: UTF8.self)
        for tok in fixtureTokenizers {
            _ = checkIds(tok, text, addSpecialTokens: true)
            let ids = checkIds(tok, text, addSpecialTokens: false)
            let back = tok.decode(ids)
            invariant(back == text, "decode(encode(text)) != text with \(tok.source): \(text.debugDescription) -> \(back.debugDescription)")
        }
    }
    return 0
}

@_cdecl("FuzzTokenizer_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzTokenizer(data, size) }
}
