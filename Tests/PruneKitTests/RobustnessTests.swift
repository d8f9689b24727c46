import XCTest
import PruneKit
#if canImport(Glibc)
import Glibc
#endif

/// Bad inputs a new user hit: absurd config sizes, a directory or device as data, malformed token ids, empty text
/// records, extreme cost options — each a clear error (or a documented behaviour), never a trap.
final class RobustnessTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Fixtures.tempDir("prunekit-robust") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func file(_ name: String, _ text: String) -> String {
        let p = dir + "/" + name
        FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    /// config.json of the 12B with `key` replaced by the literal `value` (as text, e.g. `1e15`).
    func mutated12B(_ key: String, _ value: String, _ more: [(String, String)] = []) throws -> String {
        var text = try String(contentsOfFile: Fixtures.config12B, encoding: .utf8)
        for (k, v) in [(key, value)] + more {
            let re = try NSRegularExpression(pattern: "\"\(k)\": [^,\n}]+")
            let r = NSRange(text.startIndex..., in: text)
            XCTAssertEqual(re.numberOfMatches(in: text, range: r), 1, k)
            text = re.stringByReplacingMatches(in: text, range: r, withTemplate: "\"\(k)\": \(v)")
        }
        return file("\(key)-\(more.count).json", text)
    }

    func expectConfigError(_ path: String, key: String, _ contains: String, line: UInt = #line) {
        XCTAssertThrowsError(try NemotronHConfig.load(path: path), line: line) { e in
            guard case let .badValue(f, k, _)? = e as? ConfigError else { return XCTFail("\(e)", line: line) }
            XCTAssertEqual(f, path, line: line); XCTAssertEqual(k, key, line: line)
            XCTAssertTrue("\(e)".contains(contains), "\(e)", line: line)
        }
    }

    // MARK: - Config sizes (used to trap on arithmetic overflow in inspect / cost / search --dry-run)

    func testAbsurdConfigSizesAreErrorsNamingTheKey() throws {
        expectConfigError(try mutated12B("hidden_size", "1e15"), key: "hidden_size", "1e15")
        expectConfigError(try mutated12B("vocab_size", "4611686018427387904"), key: "vocab_size", "beyond the largest supported size")
        expectConfigError(try mutated12B("intermediate_size", "16777216", [("hidden_size", "16777216")]), key: "hidden_size", "parameters, beyond the supported")
        expectConfigError(try mutated12B("ssm_state_size", "16777216", [("mamba_head_dim", "1048576"), ("hidden_size", "16")]), key: "ssm_state_size", "cache")
        expectConfigError(try mutated12B("layer_norm_epsilon", "-1e-05"), key: "layer_norm_epsilon", "must be a small positive number")
        expectConfigError(try mutated12B("time_step_min", "-0.5"), key: "time_step_min", "≥ 0")
        // Each single size at the limit of what is accepted still loads and counts exactly.
        let ok = try NemotronHConfig.load(path: try mutated12B("vocab_size", "\(NemotronHConfig.maxDimension)"))
        XCTAssertEqual(ok.globalParameterCount, NemotronHConfig.maxDimension * 5120 * 2 + 5120)
    }

    /// A candidate space with absurd widths costs nothing that could overflow: such candidates are rejected.
    func testSearchSpaceWithHugeWidthsIsRejectedNotTrapped() throws {
        let recipe = file("huge.yaml", """
        model: \(Fixtures.config12B)
        hardware: a10g
        search_space:
          num_layers: [62]
          hidden_size: [16777216]
          num_attention_heads: [16777216]
        snap: {hidden_size: 1}
        """)
        let r = try Recipe.load(path: recipe)
        XCTAssertThrowsError(try ArchitectureSearch.dryRun(recipe: r)) { e in
            XCTAssertTrue("\(e)".contains("structure rule"), "\(e)")
        }
        let bad = file("huger.yaml", "model: \(Fixtures.config12B)\nhardware: a10g\nsearch_space:\n  hidden_size: [4611686018427387904]\n")
        XCTAssertThrowsError(try Recipe.load(path: bad)) { e in
            XCTAssertTrue("\(e)".contains("search_space.hidden_size: 4611686018427387904 is beyond the largest supported size"), "\(e)")
        }
        let range = file("range.yaml", "model: \(Fixtures.config12B)\nhardware: a10g\nsearch_space:\n  num_layers: {min: 1, max: 16000000, step: 1}\n")
        XCTAssertThrowsError(try Recipe.load(path: range)) { e in XCTAssertTrue("\(e)".contains("more than 100000 values"), "\(e)") }
    }

    func testCostOfExtremeContextAndBatchSaturatesInsteadOfTrapping() throws {
        let c = try NemotronHConfig.load(path: Fixtures.config12B)
        let model = try CostModel(hardware: try HardwareProfiles.named("a10g"))
        try CostModel.validate(context: CostModel.maxTokens, batch: CostModel.maxBatch)
        let r = model.evaluate(c, context: CostModel.maxTokens, batch: CostModel.maxBatch)
        XCTAssertEqual(r.memoryBytes, Int.max)
        XCTAssertEqual(r.kvBytes, Int.max)
        XCTAssertFalse(r.fits)
        XCTAssertTrue(r.table.contains("more than 8 EiB"), r.table)
        XCTAssertTrue(try PruneKitJSON.string(r.output).contains("\(Int.max)"))
        XCTAssertThrowsError(try CostModel.requireFits(r))
    }

    func testRecipeBudgetAndHardwareErrorsNameFileAndKeyOnce() throws {
        let reserved = file("reserved.yaml", "model: \(Fixtures.config12B)\nhardware: a10g\nbudget: {reserved_gib: 100}\nsearch_space:\n  hidden_size: [4096]\n")
        XCTAssertThrowsError(try ArchitectureSearch.dryRun(recipe: try Recipe.load(path: reserved))) { e in
            let m = "\(e)"
            XCTAssertTrue(m.hasPrefix(reserved + ": "), m)
            XCTAssertTrue(m.contains("reserved_gib 100"), m)
        }
        let zero = file("zero-tflops.yaml", """
        model: \(Fixtures.config12B)
        hardware: {name: x, memory_gib: 24, memory_bandwidth_gbps: 600, bf16_dense_tflops: 0}
        search_space:
          hidden_size: [4096]
        """)
        XCTAssertThrowsError(try Recipe.load(path: zero)) { e in
            let m = "\(e)"
            XCTAssertEqual(m.components(separatedBy: "zero-tflops.yaml").count, 2, "the file is named once: \(m)")
            XCTAssertEqual(m.components(separatedBy: "hardware:").count, 2, "the key is named once: \(m)")
            XCTAssertTrue(m.contains("bf16_dense_tflops"), m)
        }
        XCTAssertThrowsError(try HardwareProfile(json: try JSONParser().parse(
            #"{"name": "big", "memory_bytes": 1e30, "memory_bandwidth_gbps": 1, "bf16_dense_tflops": 1}"#), file: "hw.json")) { e in
            XCTAssertTrue("\(e)".contains("\"memory_bytes\" is beyond"), "\(e)")
        }
        XCTAssertEqual(GiB.toBytes(1e300), Int(GiB.maxGiB) * GiB.bytes)
    }

    func testUnknownCostDTypeListsTheHelpsNames() {
        XCTAssertThrowsError(try CostDType.parse("int4")) { e in
            XCTAssertTrue("\(e)".contains("expected bf16, fp16, fp32 or fp8"), "\(e)")
        }
    }

    func testSmallSizesPrintInAdaptiveUnits() {
        XCTAssertEqual(byteString(2_629_744), "2.51 MiB")
        XCTAssertEqual(byteString(512), "512 B")
        XCTAssertEqual(byteString(-3 * 1024), "-3.00 KiB")
        XCTAssertEqual(byteString(20 << 30), "20.00 GiB")
        XCTAssertEqual("\(CostError.weightsExceedBudget(weightBytes: 2_000_000, budgetBytes: 1_000_000))".contains("by 976.56 KiB"), true)
    }

    // MARK: - Data files

    func testDirectoryOrDeviceAsDataIsAnError() throws {
        for path in [dir, "/", "/dev/null", "/proc/self/mem"] {
            XCTAssertThrowsError(try CalibrationSet.load(path: path, tokenizer: nil), path) { e in
                guard case let .io(f, m)? = e as? DataError else { return XCTFail("\(path): \(e)") }
                XCTAssertEqual(f, path)
                XCTAssertFalse(m.isEmpty)
            }
        }
        XCTAssertThrowsError(try CalibrationSet.load(path: dir, tokenizer: nil)) { XCTAssertTrue("\($0)".contains("is a directory"), "\($0)") }
        XCTAssertThrowsError(try CalibrationSet.load(path: "/dev/null", tokenizer: nil)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
    }

    func testBadTokenIdsNameFileLineAndPositionWithoutInternalNames() throws {
        let nested = file("nested.jsonl", "{\"input_ids\": [1, 2]}\n{\"input_ids\": [[1, 2], 3]}\n")
        XCTAssertThrowsError(try CalibrationSet.load(path: nested, tokenizer: nil)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.hasPrefix(nested + ":2: bad token id: input_ids[0] is [1,2]"), m)
            XCTAssertFalse(m.contains("JSONValue"), m)
        }
        // Beyond the model's vocab_size (no tokenizer needed for ids): file and line (blank lines counted).
        let big = file("big.jsonl", "{\"input_ids\": [1, 2]}\n\n{\"input_ids\": [5, 1024, 7]}\n")
        XCTAssertThrowsError(try CalibrationSet.load(path: big, tokenizer: nil, vocabSize: 1024)) { e in
            XCTAssertEqual("\(e)", big + ":3: bad token id: input_ids[1] is 1024, not below the model's vocab_size 1024")
        }
        XCTAssertNoThrow(try CalibrationSet.load(path: big, tokenizer: nil, vocabSize: 1025))
    }

    /// `{"text": ""}` records are documents (encoded as BOS only, as Hugging Face tokenizers does); an empty file
    /// stays an error.
    func testEmptyTextRecordIsADocument() throws {
        let tok = try Tokenizer.load(modelDir: Fixtures.nemoTiny)
        let bos = try XCTUnwrap(tok.bosTokenId)
        XCTAssertEqual(tok.encode(""), [bos])
        let p = file("wiki.jsonl", "{\"text\": \"\"}\n{\"text\": \"Hello world\"}\n{\"text\": \"\"}\n")
        let set = try CalibrationSet.load(path: p, tokenizer: tok)
        XCTAssertEqual(set.samples.count, 3)
        XCTAssertEqual(set.samples[0], [bos])
        XCTAssertEqual(set.samples[1], tok.encode("Hello world"))
        XCTAssertThrowsError(try CalibrationSet.load(path: file("empty.jsonl", ""), tokenizer: tok)) { e in
            XCTAssertEqual(e as? DataError, .emptyFile(file: dir + "/empty.jsonl"))
        }
    }

    func testTokenizerWithAbsurdIdIsAnError() throws {
        let json = try JSONParser().parse(#"{"type": "BPE", "vocab": {"a": 0, "b": 2147483646}, "merges": []}"#)
        XCTAssertThrowsError(try BPEModel(json: json, file: "tokenizer.json")) { e in
            XCTAssertTrue("\(e)".contains("id of 'b' is 2147483646"), "\(e)")
        }
    }

    // MARK: - Evaluation spread

    func testEvaluationGivesPerSampleLossesAndStandardError() throws {
        let model = try NemotronHModel(source: try ModelFolder(path: Fixtures.nemoTiny))
        let set = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib-ids.jsonl", tokenizer: nil, samples: 3, seqLen: 16)
        let m = try model.evaluate(set)
        XCTAssertEqual(m.sampleLosses.count, 3)
        // Equal lengths: the token-weighted loss is the mean of the per-sample losses.
        XCTAssertEqual(m.loss, m.sampleLosses.reduce(0, +) / 3, accuracy: 1e-12)
        let mean = m.sampleLosses.reduce(0, +) / 3
        let sd = (m.sampleLosses.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 2).squareRoot()
        XCTAssertEqual(try XCTUnwrap(m.lossStandardError), sd / 3.0.squareRoot(), accuracy: 1e-12)
        XCTAssertGreaterThan(try XCTUnwrap(m.lossStandardError), 0)
        XCTAssertNil(standardError([1.0]))
        XCTAssertEqual(try XCTUnwrap(standardError([1, 2, 3, 4])), (5.0 / 3 / 4).squareRoot(), accuracy: 1e-12)
    }
}
