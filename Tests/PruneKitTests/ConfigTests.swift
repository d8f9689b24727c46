import Foundation
import XCTest
import PruneKit

final class ConfigTests: XCTestCase {
    func parse(_ s: String, file: String = "test-config.json") throws -> NemotronHConfig {
        try NemotronHConfig(json: try JSONParser().parse(s), file: file)
    }

    /// A small valid config body (no pattern key), for variations.
    static let body = """
      "model_type": "nemotron_h", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
      "num_key_value_heads": 2, "head_dim": 16, "mamba_num_heads": 4, "mamba_head_dim": 8, "ssm_state_size": 8,
      "n_groups": 2, "conv_kernel": 4, "vocab_size": 100
    """

    func testParameterCounts() throws {
        XCTAssertEqual(try NemotronHConfig.load(path: Fixtures.config12B).parameterCount, 12_310_001_152)
        XCTAssertEqual(try NemotronHConfig.load(path: Fixtures.config9B).parameterCount, 8_888_227_328)
    }

    func testInspectFixtureFormulaEqualsTensors() throws {
        let r = try InspectReport.make(path: Fixtures.nemoTiny)
        XCTAssertEqual(r.formulaParameters, 1_314_872)
        XCTAssertEqual(r.tensorParameters, 1_314_872)
        XCTAssertEqual(r.shardCount, 1)
    }

    func testInspectTablePadsKinds() throws {
        let table = try InspectReport.make(path: Fixtures.nemoTiny).table
        let kindLines = table.split(separator: "\n").filter { $0.hasPrefix("  ") && $0.hasSuffix("%)") }
        XCTAssertEqual(kindLines.count, 4, table)
        for l in kindLines {
            // "  mamba      123,456 (12.3 %)": the name column is 10 wide, so the number starts at column 13.
            let chars = Array(l)
            XCTAssertEqual(chars[12], " ", "per-kind line not padded: \(l)")
            XCTAssertNotEqual(chars[13], " ", "per-kind line not padded: \(l)")
        }
        XCTAssertTrue(table.contains("  mamba      "), table)
        XCTAssertTrue(table.contains("  global     "), table)
    }

    func testBareInfinity() throws {
        let c = try NemotronHConfig.load(path: Fixtures.nemoTiny + "/config.json")
        XCTAssertEqual(c.patternString, "M-M*-M-M*-M-")
        XCTAssertEqual(c.raw["time_step_limit"], .array([.number("0.0"), .number("Infinity")]))
        XCTAssertEqual(c.raw["time_step_limit"]?.arrayValue?[1].doubleValue, .infinity)
        // A strict parser (as used for safetensors headers) rejects it.
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.nemoTiny + "/config.json"))
        XCTAssertThrowsError(try JSONParser(allowNonFinite: false).parse(data))
    }

    func testTransformers5Style() throws {
        let s = """
        {\(Self.body), "layers_block_type": ["linear_attention", "mlp", "full_attention", "mlp"],
         "time_step_limit": [0.0, {"__float__": "Infinity"}], "dtype": "bfloat16"}
        """
        let c = try parse(s)
        XCTAssertEqual(c.patternString, "M-*-")
        XCTAssertTrue(c.usesLayersBlockType)
        XCTAssertEqual(c.torchDtype, "bfloat16")
        XCTAssertEqual(c.raw["time_step_limit"]?.arrayValue?[1].doubleValue, .infinity)
        // Written back in the source's style: the list, the __float__ object, no pattern string.
        var c2 = c
        c2.pattern = [.mamba, .attention]
        let out = c2.updatedJSON()
        XCTAssertNil(out["hybrid_override_pattern"])
        XCTAssertEqual(out["layers_block_type"], .array([.string("linear_attention"), .string("full_attention")]))
        XCTAssertEqual(out["time_step_limit"], c.raw["time_step_limit"])
        XCTAssertEqual(try NemotronHConfig(json: out).patternString, "M*")
    }

    func testOldKeyNames() throws {
        let s = """
        {"model_type": "nemotron_h", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
         "num_key_value_heads": 2, "attention_head_dim": 24, "mamba_num_heads": 4, "mamba_head_dim": 8, "ssm_state_size": 8,
         "mamba_n_groups": 2, "mamba_d_conv": 3, "vocab_size": 100, "hybrid_override_pattern": "M*-"}
        """
        let c = try parse(s)
        XCTAssertEqual(c.headDim, 24)
        XCTAssertEqual(c.nGroups, 2)
        XCTAssertEqual(c.convKernel, 3)
        let out = c.updatedJSON()
        XCTAssertEqual(out["attention_head_dim"], .int(24))
        XCTAssertEqual(out["mamba_n_groups"], .int(2))
        XCTAssertEqual(out["mamba_d_conv"], .int(3))
        XCTAssertNil(out["n_groups"]); XCTAssertNil(out["conv_kernel"]); XCTAssertNil(out["head_dim"])
        XCTAssertEqual(out["mamba_num_heads"], .int(4), "mamba_num_heads is always written (nemotron-h.md §6.5)")
    }

    func testNumHiddenLayersMustAgree() {
        XCTAssertThrowsError(try parse("{\(Self.body), \"hybrid_override_pattern\": \"M*-\", \"num_hidden_layers\": 4}", file: "cfg-a.json")) { e in
            guard case let .badValue(f, key, _)? = e as? ConfigError else { return XCTFail("\(e)") }
            XCTAssertEqual(f, "cfg-a.json"); XCTAssertEqual(key, "num_hidden_layers")
            XCTAssertTrue("\(e)".contains("3 layers"), "\(e)")
        }
        XCTAssertNoThrow(try parse("{\(Self.body), \"hybrid_override_pattern\": \"M*-\", \"num_hidden_layers\": 3}"))
    }

    func testMoERejected() {
        XCTAssertThrowsError(try parse("{\(Self.body), \"hybrid_override_pattern\": \"M*E-\"}", file: "moe.json")) { e in
            guard case let .unsupported(f, m)? = e as? ConfigError else { return XCTFail("\(e)") }
            XCTAssertEqual(f, "moe.json"); XCTAssertTrue(m.contains("'E'"), m)
        }
        XCTAssertThrowsError(try parse("{\(Self.body), \"layers_block_type\": [\"linear_attention\", \"moe\"]}")) { e in
            guard case .unsupported? = e as? ConfigError else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try parse("{\(Self.body), \"hybrid_override_pattern\": \"M*X\"}")) { e in
            guard case .badValue(_, "hybrid_override_pattern", _)? = e as? ConfigError else { return XCTFail("\(e)") }
        }
    }

    func testMissingKeyNamed() {
        XCTAssertThrowsError(try parse(#"{"model_type": "nemotron_h", "hybrid_override_pattern": "M"}"#, file: "m.json")) { e in
            XCTAssertEqual(e as? ConfigError, .missingKey(file: "m.json", key: "hidden_size"))
        }
    }

    /// Writing updatedJSON and reading it back keeps every key, in order, and `Infinity` bare.
    func testRoundTripKeepsEveryKeyAndBareInfinity() throws {
        for path in [Fixtures.config12B, Fixtures.config9B, Fixtures.nemoTiny + "/config.json"] {
            let c = try NemotronHConfig.load(path: path)
            let text = JSONWriter(indent: 2).string(c.updatedJSON())
            XCTAssertTrue(text.contains("Infinity"))
            XCTAssertFalse(text.contains("\"Infinity\""), "Infinity must stay bare")
            let back = try JSONParser().parse(text)
            let orig = c.raw.objectValue!, new = back.objectValue!
            XCTAssertEqual(orig.map(\.0), Array(new.map(\.0).prefix(orig.count)), "key order kept")
            for (k, v) in orig { XCTAssertEqual(back[k], v, "\(path): key \(k) changed") }
            XCTAssertEqual(try NemotronHConfig(json: back), c)
            try pythonAgrees(original: path, written: text)
        }
    }

    /// When python3 is on the machine, Python's json.load must read the same values from both files.
    func pythonAgrees(original: String, written: String) throws {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
        let py = dirs.map { $0 + "/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let py else { return }
        let dir = Fixtures.tempDir("cfg-py"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/config.json"
        try written.write(toFile: out, atomically: true, encoding: .utf8)
        let r = try TestBinaries.run(py, ["-c", """
        import json, sys
        a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
        bad = [k for k in a if k not in b or a[k] != b[k]]
        sys.exit(1 if bad else 0)
        """, original, out])
        XCTAssertEqual(r.status, 0, "Python's json.load disagrees on \(original)")
    }
}
