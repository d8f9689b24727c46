import Foundation
import PruneKit
import XCTest

final class CalibrationTests: XCTestCase {
    func file(_ name: String, _ content: String) -> String {
        let dir = Fixtures.tempDir("calib")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let p = dir + "/" + name
        try! content.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func fileIds() throws -> [[Int32]] {
        let text = try String(contentsOfFile: Fixtures.nemoTiny + "/calib-ids.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONParser().parse(String($0))["input_ids"]!.arrayValue!.map { Int32($0.intValue!) } }
    }

    func testInputIdsFileGivesItsIds() throws {
        let want = try fileIds()
        let set = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib-ids.jsonl", tokenizer: nil)
        XCTAssertEqual(set.samples, want)
        XCTAssertEqual(set.samples.count, 16)
        XCTAssertEqual(set.tokenCount, 16 * 128)
        let cut = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib-ids.jsonl", tokenizer: Tokenizer.load(modelDir: Fixtures.nemoTiny), samples: 4, seqLen: 10)
        XCTAssertEqual(cut.samples, want.prefix(4).map { Array($0.prefix(10)) })
    }

    /// calib-ids.jsonl was made from calib.jsonl as BOS + ids + EOS per document, cut into 16 × 128.
    func testTextReproducesCalibIds() throws {
        let tok = try Tokenizer.load(modelDir: Fixtures.nemoTiny)
        let set = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib.jsonl", tokenizer: tok, samples: 16, seqLen: 128)
        XCTAssertEqual(set.samples, try fileIds())
    }

    func testFingerprintDeterministic() throws {
        let tok = try Tokenizer.load(modelDir: Fixtures.nemoTiny)
        let a = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib.jsonl", tokenizer: tok, samples: 8, seqLen: 64)
        let b = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib.jsonl", tokenizer: Tokenizer.load(modelDir: Fixtures.nemoTiny), samples: 8, seqLen: 64)
        XCTAssertEqual(a.fingerprint, b.fingerprint)
        XCTAssertEqual(a.samples, b.samples)
        XCTAssertEqual(a.fingerprint.count, 64)
        var c = a
        c.samples[3][5] += 1
        XCTAssertNotEqual(c.fingerprint, a.fingerprint)
        let d = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib.jsonl", tokenizer: tok, samples: 8, seqLen: 63)
        XCTAssertNotEqual(d.fingerprint, a.fingerprint)
    }

    func testMalformedLineNamesLine() {
        let p = file("bad.jsonl", "{\"text\": \"hello\"}\n{\"text\": \"world\"}\n{\"text\": oops}\n")
        XCTAssertThrowsError(try CalibrationSet.load(path: p, tokenizer: nil)) { e in
            XCTAssertEqual((e as? DataError).map { if case let .malformedLine(_, l, _) = $0 { return l } else { return -1 } }, 3, "\(e)")
            XCTAssertTrue("\(e)".contains("bad.jsonl:3"), "\(e)")
            XCTAssertEqual(ExitStatus.code(for: e), 2)
        }
        let q = file("missing.jsonl", "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n")
        XCTAssertThrowsError(try CalibrationSet.load(path: q, tokenizer: nil)) { e in
            XCTAssertEqual(e as? DataError, .missingText(file: q, line: 2))
        }
        let m = file("mixed.jsonl", "{\"text\": \"a\"}\n{\"input_ids\": [1, 2]}\n")
        XCTAssertThrowsError(try CalibrationSet.load(path: m, tokenizer: nil)) { e in
            XCTAssertEqual(e as? DataError, .mixedFormats(file: m, line: 2))
        }
    }

    func testEmptyFile() {
        for (name, content) in [("empty.jsonl", ""), ("blank.txt", "\n  \n")] {
            let p = file(name, content)
            XCTAssertThrowsError(try CalibrationSet.load(path: p, tokenizer: nil)) { e in
                XCTAssertEqual(e as? DataError, .emptyFile(file: p))
            }
        }
    }

    func testTooFewTokensSaysHowMany() throws {
        let tok = try Tokenizer.load(modelDir: Fixtures.nemoTiny)
        let p = file("short.jsonl", "{\"text\": \"Hello, world!\"}\n")
        let have = tok.encode("Hello, world!").count + 1  // + EOS
        XCTAssertThrowsError(try CalibrationSet.load(path: p, tokenizer: tok, samples: 2, seqLen: 16)) { e in
            XCTAssertEqual(e as? DataError, .tooFewTokens(file: p, available: have, requested: 32, samples: 2, seqLen: 16))
            XCTAssertTrue("\(e)".contains("\(have) tokens") && "\(e)".contains("32"), "\(e)")
        }
    }

    func testCountsMustBePositive() throws {
        let p = Fixtures.nemoTiny + "/calib-ids.jsonl"
        XCTAssertThrowsError(try CalibrationSet.load(path: p, tokenizer: nil, samples: 0, seqLen: 8)) { e in
            XCTAssertEqual(e as? DataError, .invalidCount(option: "samples", value: 0))
        }
        XCTAssertThrowsError(try CalibrationSet.load(path: p, tokenizer: nil, samples: 2, seqLen: -1)) { e in
            XCTAssertEqual(e as? DataError, .invalidCount(option: "seq-len", value: -1))
        }
        XCTAssertThrowsError(try CalibrationSet.load(path: p, tokenizer: nil, samples: 17)) { e in
            XCTAssertEqual(e as? DataError, .tooFewSamples(file: p, available: 16, requested: 17))
        }
    }

    func testPlainTextDocumentsAndPerDocumentMode() throws {
        let tok = try Tokenizer.load(modelDir: Fixtures.nemoTiny)
        let p = file("docs.txt", "First doc line one.\nline two.\n\n\n  \nSecond doc.\n")
        XCTAssertEqual(try CalibrationSet.readDocuments(path: p), .texts(["First doc line one.\nline two.", "Second doc."]))
        let set = try CalibrationSet.load(path: p, tokenizer: tok)
        XCTAssertEqual(set.samples, [tok.encode("First doc line one.\nline two."), tok.encode("Second doc.")])
        XCTAssertEqual(set.samples[0].first, 1)  // BOS
        XCTAssertThrowsError(try CalibrationSet.load(path: p, tokenizer: nil)) { e in
            XCTAssertEqual(e as? DataError, .tokenizerRequired(file: p))
        }
    }
}
