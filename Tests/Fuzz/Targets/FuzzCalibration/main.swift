import Foundation
import FuzzSupport
import PruneKit

// The calibration data loader (Calibration/CalibrationLoader.swift). First input byte: bit 0 picks the format
// by extension (.jsonl or .txt), bits 1–4 the sequence length T (1…16); the rest is the file. Invariants:
// reading either throws DataError naming the file, or yields documents (texts, non-empty in plain text; non-empty
// id lists of non-negative 32-bit ids); loading with the nemo-tiny tokenizer either throws DataError or gives
// samples of exactly T ids, all below the vocab size (text), or the file's lines cut to T (ids).

let tokenizer = try! Tokenizer.load(modelDir: (fixturesDir as NSString).appendingPathComponent("nemo-tiny"))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCalibration(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let ext = data[0] & 1 == 0 ? "jsonl" : "txt"
    let seqLen = Int((data[0] >> 1) & 15) + 1
    let path = scratchFile("calib.\(ext)", UnsafeRawBufferPointer(start: data + 1, count: size - 1))
    let docs: CalibrationDocuments
    do { docs = try CalibrationSet.readDocuments(path: path) } catch {
        expectTyped(error, [DataError.self], "readDocuments")
        invariant("\(error)".contains(path), "the error does not name the file: \(error)")
        return 0
    }
    switch docs {
    case let .texts(t):
        invariant(!t.isEmpty, "no documents but no error")
        // JSONL may hold empty texts (wikitext-style records; tokenized as BOS only, as Hugging Face does).
        if ext == "txt" { invariant(t.allSatisfy { !$0.isEmpty }, "an empty plain-text document") }
        if ext == "txt" { invariant(t.allSatisfy { !$0.allSatisfy(\.isWhitespace) }, "a blank plain-text document") }
    case let .ids(s):
        invariant(ext == "jsonl", "ids from a plain-text file")
        invariant(!s.isEmpty && s.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0 >= 0 } }, "empty or negative ids")
    }
    do {
        let set = try CalibrationSet.load(path: path, tokenizer: tokenizer, samples: nil, seqLen: seqLen)
        invariant(!set.samples.isEmpty, "a calibration set with no samples")
        switch docs {
        case .texts:
            invariant(set.samples.allSatisfy { $0.count == seqLen }, "a text sample is not \(seqLen) tokens long")
            invariant(set.samples.allSatisfy { $0.allSatisfy { Int($0) < tokenizer.vocabSize } }, "a token id ≥ vocab size")
        case let .ids(lines):
            invariant(set.samples == lines.map { Array($0.prefix(seqLen)) }, "id samples are not the lines cut to T")
            invariant(set.samples.allSatisfy { $0.allSatisfy { Int($0) < tokenizer.vocabSize } }, "an id ≥ vocab size was accepted")
        }
    } catch {
        expectTyped(error, [DataError.self], "CalibrationSet.load")
    }
    return 0
}

@_cdecl("FuzzCalibration_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzCalibration(data, size) }
}
