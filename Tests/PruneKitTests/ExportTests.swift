import XCTest
import PruneKit

/// `Exporter`: the written folder against the in-memory pruned model, config.json and pruning.json contents,
/// and the refusals and failure cleanup of formats.md §2.
final class ExportTests: XCTestCase {
    var folder: ModelFolder!
    var config: NemotronHConfig { folder.config }
    var cleanup = [String]()

    override func setUpWithError() throws { folder = try ModelFolder(path: Fixtures.nemoTiny) }
    override func tearDown() { for p in cleanup { try? FileManager.default.removeItem(atPath: p) } }

    func temp() -> String { let p = Fixtures.tempDir("prunekit-export"); cleanup.append(p); return p }

    /// Everything pruned: depth, hidden, FFN, attention heads, Mamba heads and head-dim (random keep-sets).
    func fullPlan() throws -> PruningPlan {
        try PruningPlan.random(source: config, target: TargetArchitecture(dropLayers: [1, 3], hiddenSize: 96, ffnHiddenSize: 256,
                                                                           mambaNumHeads: 4, mambaHeadDim: 8, numAttentionHeads: 2), seed: 11)
    }

    let ids: [Int32] = (0..<48).map { Int32(($0 * 131 + 17) % 1024) }

    func maxAbs(_ a: [Float]) -> Float { a.reduce(0) { max($0, abs($1)) } }

    func testExportedF32ForwardEqualsInMemoryPrunedModel() throws {
        let plan = try fullPlan()
        let out = temp() + "/pruned"
        try Exporter.export(folder: folder, plan: plan, to: out, options: .init(dtype: .fixed(.F32)))
        let exported = try ModelFolder(path: out, strict: true)
        XCTAssertEqual(exported.config, plan.target)
        XCTAssertEqual(exported.tensorParameterCount, plan.target.parameterCount)
        for (name, shape) in plan.target.expectedTensors() { XCTAssertEqual(try exported.info(name).shape, shape, name) }
        let a = try NemotronHModel(source: SlicedWeights(base: folder, plan: plan)).forward(ids)
        let b = try NemotronHModel(source: exported).forward(ids)
        XCTAssertEqual(a.count, ids.count * config.vocabSize)
        XCTAssertEqual(a, b, "f32 export must be bit-identical to the in-memory pruned model")
        // And the pruning changed the function (a no-op "pruning" would pass everything above).
        let full = try NemotronHModel(source: folder).forward(ids)
        XCTAssertGreaterThan(zip(full, a).map { abs($0 - $1) }.max()!, 1e-3)
    }

    func testExportedBF16ForwardEqualsBF16RoundedInMemoryModel() throws {
        let plan = try fullPlan()
        let out = temp() + "/pruned-bf16"
        try Exporter.export(folder: folder, plan: plan, to: out, options: .init(dtype: .fixed(.BF16), maxShardBytes: 200_000))
        let exported = try ModelFolder(path: out, strict: true)
        XCTAssertTrue(exported.isSharded)
        XCTAssertEqual(exported.bytesPerDType.keys.map(\.rawValue), ["BF16"])
        let sliced = SlicedWeights(base: folder, plan: plan)
        var rounded = [String: (shape: [Int], values: [Float])]()
        for (name, shape) in plan.target.expectedTensors() {
            rounded[name] = (shape, try sliced.floats(name).map { bf16ToFloat(bf16Bits($0)) })
        }
        let a = try NemotronHModel(source: InMemoryWeights(config: plan.target, tensors: rounded)).forward(ids)
        let b = try NemotronHModel(source: exported).forward(ids)
        XCTAssertEqual(a, b, "bf16 export = in-memory model with weights rounded to bf16")
        let f32 = try NemotronHModel(source: sliced).forward(ids)
        let diff = zip(f32, b).map { abs($0 - $1) }.max()!
        print(String(format: "bf16 export vs f32 pruned model: max |logit diff| %.3g (max |logit| %.3g)", diff, maxAbs(f32)))
        XCTAssertLessThan(diff, 0.05 * maxAbs(f32))
    }

    func testConfigAndPruningJSON() throws {
        let plan = try fullPlan()
        let out = temp() + "/pruned"
        let recipe = PruningManifest.Recipe(keepSets: "random", seed: 11)
        try Exporter.export(folder: folder, plan: plan, to: out, options: .init(calibrationFingerprint: "abc123", recipe: recipe))
        let srcText = try String(contentsOfFile: Fixtures.nemoTiny + "/config.json", encoding: .utf8)
        let outText = try String(contentsOfFile: out + "/config.json", encoding: .utf8)
        XCTAssertTrue(outText.contains("Infinity") && !outText.contains("\"Infinity\""), "bare Infinity kept")
        let src = try JSONParser().parse(srcText), dst = try JSONParser().parse(outText)
        let changed: [String: JSONValue] = [
            "hidden_size": .int(96), "intermediate_size": .int(256), "num_attention_heads": .int(2), "mamba_num_heads": .int(4),
            "mamba_head_dim": .int(8), "hybrid_override_pattern": .string("MM-M-M*-M-"), "num_hidden_layers": .int(10),
        ]
        for (k, v) in changed { XCTAssertEqual(dst[k], v, k) }
        for (k, v) in src.objectValue! where changed[k] == nil {
            XCTAssertEqual(dst[k], v, "key \(k) must be unchanged")
            XCTAssertEqual(dst[k].map { JSONWriter(indent: nil).string($0) }, JSONWriter(indent: nil).string(v), "key \(k) text")
        }
        XCTAssertEqual(Set(dst.objectValue!.map(\.0)), Set(src.objectValue!.map(\.0)), "no keys added or lost")
        // Copied files are byte-identical.
        for f in ["tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            XCTAssertEqual(FileManager.default.contents(atPath: out + "/" + f), FileManager.default.contents(atPath: Fixtures.nemoTiny + "/" + f), f)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/golden.safetensors"), "source goldens describe the unpruned model")
        // pruning.json
        let p = try JSONParser().parse(Data(contentsOf: URL(fileURLWithPath: out + "/pruning.json")))
        XCTAssertEqual(p["tool"], .string("prunekit"))
        XCTAssertEqual(p["version"], .string(PruneKitVersion.string))
        XCTAssertEqual(p["source"]?["fingerprint"], .string(folder.fingerprint))
        XCTAssertEqual(p["source"]?["path"]?.stringValue.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
                       URL(fileURLWithPath: Fixtures.nemoTiny).resolvingSymlinksInPath().standardizedFileURL.path)
        XCTAssertEqual(p["source"]?["config"]?["hidden_size"], .int(128))
        XCTAssertEqual(p["calibration_fingerprint"], .string("abc123"))
        XCTAssertEqual(p["recipe"], .object([("keep_sets", .string("random")), ("seed", .int(11))]))
        XCTAssertEqual(p["target"]?["hidden_size"], .int(96))
        XCTAssertEqual(p["target"]?["hybrid_override_pattern"], .string("MM-M-M*-M-"))
        XCTAssertEqual(p["parameters"]?["source"], .int(config.parameterCount))
        XCTAssertEqual(p["parameters"]?["target"], .int(plan.target.parameterCount))
        // The file is the manifest's one serialized form: it decodes back to the same values.
        let manifest = try PruneKitJSON.decode(PruningManifest.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/pruning.json")))
        XCTAssertEqual(manifest, PruningManifest(folder: folder, plan: plan, calibrationFingerprint: "abc123", recipe: recipe))
        XCTAssertEqual(manifest.kept, PruningManifest.Kept(plan))
        XCTAssertEqual(Set(p.objectValue!.map(\.0)), ["tool", "version", "source", "calibration_fingerprint", "recipe", "architecture", "target", "parameters", "kept"])
        XCTAssertEqual(Set(p["kept"]!.objectValue!.map(\.0)), ["layers", "hidden_channels", "ffn_neurons", "attention_heads", "mamba_heads", "mamba_head_dim"])
        XCTAssertEqual(p["kept"]?["layers"], .array([0, 2, 4, 5, 6, 7, 8, 9, 10, 11].map { .int($0) }), "source numbering")
        XCTAssertEqual(p["kept"]?["mamba_heads"]?["10"]?.arrayValue?.count, 4)
        XCTAssertEqual(p["architecture"]?["drop_layers"], .array([.int(1), .int(3)]))
    }

    // MARK: - Faults

    func testRefusesSourceFolderAndNonEmptyOutput() throws {
        let plan = try fullPlan()
        let before = try CheckpointTestSupport.snapshot(Fixtures.nemoTiny)
        XCTAssertThrowsError(try Exporter.export(folder: folder, plan: plan, to: Fixtures.nemoTiny, options: .init(force: true))) { e in
            XCTAssertTrue(String(describing: e).contains("source folder"), "\(e)")
        }
        // The same folder through a symlink.
        let dir = temp()
        let link = dir + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: Fixtures.nemoTiny)
        XCTAssertThrowsError(try Exporter.export(folder: folder, plan: plan, to: link, options: .init(force: true)))
        let busy = temp()
        try Data("x".utf8).write(to: URL(fileURLWithPath: busy + "/notes.txt"))
        XCTAssertThrowsError(try Exporter.export(folder: folder, plan: plan, to: busy, options: .init())) { e in
            XCTAssertTrue(String(describing: e).contains("not empty"), "\(e)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: busy), ["notes.txt"])
        try Exporter.export(folder: folder, plan: plan, to: busy, options: .init(force: true))
        XCTAssertNoThrow(try ModelFolder(path: busy, strict: true))
        // A successful export also leaves the source untouched.
        try Exporter.export(folder: folder, plan: plan, to: temp() + "/ok", options: .init())
        XCTAssertEqual(try CheckpointTestSupport.snapshot(Fixtures.nemoTiny), before, "source folder modified")
    }

    /// A weight source that fails after `limit` tensor reads (a read error midway through an export).
    final class FailingSource: WeightSource, @unchecked Sendable {
        let base: WeightSource
        let limit: Int
        var reads = Set<String>()
        init(_ base: WeightSource, failAfter limit: Int) { self.base = base; self.limit = limit }
        var config: NemotronHConfig { base.config }
        func shape(of name: String) throws -> [Int] { try base.shape(of: name) }
        func read(_ name: String, into out: UnsafeMutablePointer<Float>, from: Int, count: Int) throws {
            reads.insert(name)
            if reads.count > limit { throw CheckpointError.io(file: "(test)", message: "injected failure reading \(name)") }
            try base.read(name, into: out, from: from, count: count)
        }
    }

    func testFailureMidwayLeavesNothingThatLooksComplete() throws {
        let plan = try fullPlan()
        let before = try CheckpointTestSupport.snapshot(Fixtures.nemoTiny)
        let n = plan.target.expectedTensors().count
        for failAfter in [0, n / 2, n - 1] {
            let out = temp() + "/pruned"
            XCTAssertThrowsError(try Exporter.export(folder: folder, plan: plan, to: out, options: .init(maxShardBytes: 300_000),
                                                     weights: FailingSource(folder, failAfter: failAfter))) { e in
                XCTAssertTrue(String(describing: e).contains("injected failure"), "\(e)")
            }
            let left = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
            XCTAssertFalse(left.contains("config.json"), "failAfter \(failAfter): \(left)")
            XCTAssertFalse(left.contains(ModelFolder.indexName), "failAfter \(failAfter): \(left)")
            XCTAssertFalse(left.contains { $0.hasSuffix(".safetensors") }, "failAfter \(failAfter): \(left)")
            XCTAssertThrowsError(try ModelFolder(path: out))
        }
        XCTAssertEqual(try CheckpointTestSupport.snapshot(Fixtures.nemoTiny), before)
    }

    func testDryRunPlanWritesNothing() throws {
        let plan = try fullPlan()
        let out = temp() + "/never"
        let p = try Exporter.plan(folder: folder, plan: plan, options: .init(dtype: .fixed(.BF16), maxShardBytes: 1_000_000))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertEqual(p.targetParameters, plan.target.parameterCount)
        XCTAssertEqual(p.tensors.reduce(0) { $0 + $1.targetShape.reduce(1, *) }, plan.target.parameterCount)
        XCTAssertEqual(p.shards.totalBytes, 2 * plan.target.parameterCount)
        let inProj = p.tensors.first { $0.name == "backbone.layers.1.mixer.in_proj.weight" }!
        XCTAssertEqual(inProj.sourceName, "backbone.layers.2.mixer.in_proj.weight")
        XCTAssertEqual(inProj.sourceShape, [2 * 128 + 2 * 32 + 8, 128])
        XCTAssertEqual(inProj.targetShape, [2 * 32 + 2 * 32 + 4, 96])
    }

    func testByteSizesAndDTypes() throws {
        XCTAssertEqual(try parseByteSize("5GB"), 5_000_000_000)
        XCTAssertEqual(try parseByteSize("500MB"), 500_000_000)
        XCTAssertEqual(try parseByteSize("2GiB"), 2 << 30)
        XCTAssertEqual(try parseByteSize("64kib"), 65536)
        XCTAssertEqual(try parseByteSize("1.5GB"), 1_500_000_000)
        XCTAssertEqual(try parseByteSize("123"), 123)
        for bad in ["", "GB", "5XB", "-1GB", "0"] {
            XCTAssertThrowsError(try parseByteSize(bad), bad) { e in XCTAssertTrue(String(describing: e).contains("size"), "\(e)") }
        }
        XCTAssertEqual(try ExportDType.parse("bf16"), .fixed(.BF16))
        XCTAssertEqual(try ExportDType.parse("same"), .same)
        XCTAssertThrowsError(try ExportDType.parse("int8"))
    }

    /// Interop fixtures for Scripts/check_transformers.py: set PRUNEKIT_INTEROP_DIR to a folder outside git.
    /// Exports three variants of nemo-tiny (f32) and writes the Swift logits of each on calibration ids.
    func testWriteInteropVariants() throws {
        guard let dir = ProcessInfo.processInfo.environment["PRUNEKIT_INTEROP_DIR"] else {
            throw XCTSkip("set PRUNEKIT_INTEROP_DIR to write the interop variants")
        }
        let variants: [(String, TargetArchitecture)] = [
            ("depth", TargetArchitecture(dropLayers: [1, 3, 6])),
            ("width", TargetArchitecture(hiddenSize: 96, ffnHiddenSize: 320, numAttentionHeads: 2)),
            ("all", TargetArchitecture(dropLayers: [3, 4], hiddenSize: 80, ffnHiddenSize: 256, mambaNumHeads: 4, mambaHeadDim: 12, numAttentionHeads: 2)),
        ]
        // Three calibration samples, first 64 tokens.
        let lines = try String(contentsOfFile: Fixtures.nemoTiny + "/calib-ids.jsonl", encoding: .utf8).split(separator: "\n").prefix(3)
        let samples: [[Int32]] = try lines.map { l in
            try JSONParser().parse(String(l))["input_ids"]!.arrayValue!.prefix(64).map { Int32($0.intValue!) }
        }
        let T = 64
        for (name, arch) in variants {
            let plan = try PruningPlan.random(source: config, target: arch, seed: 1234)
            let out = dir + "/" + name
            try Exporter.export(folder: folder, plan: plan, to: out, options: .init(dtype: .fixed(.F32), force: true))
            let model = try NemotronHModel(source: ModelFolder(path: out))
            var logits = [Float]()
            for s in samples { logits += try model.forward(s) }
            try writeSafetensors(path: dir + "/\(name)-logits.safetensors", tensors: [
                ("logits", .F32, [samples.count, T, plan.target.vocabSize], logits),
                ("input_ids", .I32, [samples.count, T], samples.flatMap { $0.map(Float.init) }),
            ])
            print("interop \(name): \(plan.target.patternString) H \(plan.target.hiddenSize) params \(plan.target.parameterCount) → \(out)")
        }
    }
}
