import Foundation
import XCTest
import PruneKit
#if canImport(Glibc)
import Glibc
#endif

/// ``CheckpointWriter``: sharding, bf16 re-save of the fixture, refusals and faults (formats.md §2).
final class CheckpointWriterTests: XCTestCase {
    typealias Entry = SafetensorsStreamWriter.Entry
    var dir = ""
    override func setUp() { dir = Fixtures.tempDir("cw") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static var bf16ShardedFixture: String { Fixtures.root.appendingPathComponent("nemo-tiny-bf16-sharded").path }

    /// The fixture's tensors in canonical order, with their on-disk dtype.
    func sourceEntries(_ src: ModelFolder) throws -> [Entry] {
        try src.config.expectedTensors().map { Entry(name: $0.name, dtype: try src.info($0.name).dtype, shape: $0.shape) }
    }

    /// Re-saves nemo-tiny as 3 BF16 shards into `out`.
    @discardableResult
    func writeBF16Sharded(to out: String, force: Bool = false) throws -> ShardPlan {
        let src = try ModelFolder(path: Fixtures.nemoTiny)
        let entries = try sourceEntries(src)
        let limit = try XCTUnwrap(CheckpointTestSupport.maxShardBytes(entries.map { Entry(name: $0.name, dtype: .BF16, shape: $0.shape) }, shards: 3))
        let w = CheckpointWriter(outputDir: out, sourceDir: Fixtures.nemoTiny, force: force, maxShardBytes: limit, dtype: .BF16)
        return try w.write(config: src.config, tensors: entries, extraFiles: CheckpointWriter.existingExtraFiles(in: Fixtures.nemoTiny)) {
            try src.floats($0.name)
        }
    }

    func contents(_ folder: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() }

    func expectWriteError(_ body: () throws -> Void, contains: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            guard case .write? = e as? CheckpointError else { return XCTFail("not a write error: \(e)", file: file, line: line) }
            for c in contains { XCTAssertTrue("\(e)".contains(c), "'\(e)' lacks '\(c)'", file: file, line: line) }
        }
    }

    // MARK: - Round trip

    func testShardedBF16ResaveInspectsAndLoads() throws {
        let out = dir + "/bf16"
        let plan = try writeBF16Sharded(to: out)
        XCTAssertEqual(plan.shards.map(\.fileName), (1...3).map { ShardPlan.shardName($0, of: 3) })
        XCTAssertEqual(plan.shards[0].fileName, "model-00001-of-00003.safetensors")
        XCTAssertEqual(contents(out), ["config.json", "generation_config.json", "model-00001-of-00003.safetensors",
                                       "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
                                       "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json"])

        let report = try InspectReport.make(path: out)
        XCTAssertEqual(report.tensorParameters, 1_314_872)
        XCTAssertEqual(report.formulaParameters, 1_314_872)
        XCTAssertEqual(report.shardCount, 3)
        XCTAssertEqual(report.bytesPerDType?.map(\.0), ["BF16"])

        let src = try ModelFolder(path: Fixtures.nemoTiny)
        let dst = try ModelFolder(path: out)
        XCTAssertTrue(dst.isSharded)
        var maxDiff: Float = 0
        for (name, shape) in src.config.expectedTensors() {
            XCTAssertEqual(try dst.info(name).shape, shape)
            XCTAssertEqual(try dst.info(name).dtype, .BF16)
            let a = try src.floats(name), b = try dst.floats(name)
            XCTAssertEqual(b.map(\.bitPattern), a.map { bf16ToFloat(bf16Bits($0)).bitPattern }, "\(name) is not the bf16-rounded source")
            for (x, y) in zip(a, b) { maxDiff = max(maxDiff, abs(x - y) / max(abs(x), 1e-30)) }
        }
        XCTAssertLessThanOrEqual(maxDiff, 1.0 / 256, "relative bf16 rounding error")

        // The index: total_size is the sum of tensor bytes; every tensor mapped to the shard holding it.
        let index = try JSONParser().parse(try Data(contentsOf: URL(fileURLWithPath: out + "/" + ModelFolder.indexName)))
        XCTAssertEqual(index["metadata"]?["total_size"]?.intValue, 2 * 1_314_872)
        XCTAssertEqual(index["weight_map"]?.objectValue?.count, src.config.expectedTensors().count)

        // config.json: every key of the source kept, Infinity bare, torch_dtype now bfloat16.
        let text = try String(contentsOfFile: out + "/config.json", encoding: .utf8)
        XCTAssertTrue(text.contains("    Infinity\n"), "Infinity must stay bare")
        let cfg = try JSONParser().parse(text)
        for (k, v) in src.config.raw.objectValue! where k != "torch_dtype" { XCTAssertEqual(cfg[k], v, "config key \(k) changed") }
        XCTAssertEqual(cfg["torch_dtype"], .string("bfloat16"))
        XCTAssertEqual(cfg.objectValue?.count, src.config.raw.objectValue?.count)
        // Extra files copied unchanged.
        XCTAssertEqual(FileManager.default.contents(atPath: out + "/tokenizer.json"), FileManager.default.contents(atPath: Fixtures.nemoTiny + "/tokenizer.json"))
    }

    /// The committed Tests/Fixtures/nemo-tiny-bf16-sharded must be exactly what the writer produces today.
    /// Regenerate with `PRUNEKIT_REGEN_FIXTURES=1 swift test -c release --filter testCommittedBF16ShardedFixture`.
    func testCommittedBF16ShardedFixtureMatchesFreshWrite() throws {
        let fixture = Self.bf16ShardedFixture
        if ProcessInfo.processInfo.environment["PRUNEKIT_REGEN_FIXTURES"] == "1" {
            try writeBF16Sharded(to: fixture, force: true)
        }
        let fresh = dir + "/fresh"
        try writeBF16Sharded(to: fresh)
        XCTAssertEqual(contents(fixture), contents(fresh), "committed fixture folder is missing or has other files")
        for name in contents(fresh) {
            XCTAssertEqual(FileManager.default.contents(atPath: fixture + "/" + name), FileManager.default.contents(atPath: fresh + "/" + name),
                           "\(name) differs from a fresh write")
        }
        XCTAssertEqual(try ModelFolder(path: fixture).tensorParameterCount, 1_314_872)
    }

    func testSingleShardF32KeepsBitsAndWritesNoIndex() throws {
        let src = try ModelFolder(path: Fixtures.nemoTiny)
        let out = dir + "/f32"
        let w = CheckpointWriter(outputDir: out, sourceDir: Fixtures.nemoTiny, dtype: nil)
        let plan = try w.write(config: src.config, tensors: try sourceEntries(src), extraJSON: [("prunekit_recipe.json", JSONValue.object([("seed", .int(7))]))]) {
            try src.floats($0.name)
        }
        XCTAssertEqual(plan.shards.map { $0.fileName }, ["model.safetensors"])
        XCTAssertEqual(contents(out), ["config.json", "model.safetensors", "prunekit_recipe.json"])
        let dst = try ModelFolder(path: out)
        XCTAssertFalse(dst.isSharded)
        for (name, _) in src.config.expectedTensors() {
            XCTAssertEqual(try dst.floats(name).map(\.bitPattern), try src.floats(name).map(\.bitPattern), name)
        }
        let cfg = try JSONParser().parse(try Data(contentsOf: URL(fileURLWithPath: out + "/config.json")))
        XCTAssertEqual(cfg, src.config.raw, "config.json unchanged when dtype and architecture are unchanged")
        XCTAssertEqual(try JSONParser().parse(try Data(contentsOf: URL(fileURLWithPath: out + "/prunekit_recipe.json")))["seed"], .int(7))
    }

    func testPrunedConfigWritesSmallerModel() throws {
        // What `prune` will do: a target config with fewer layers/channels, tensors sliced in the closure.
        let src = try ModelFolder(path: Fixtures.nemoTiny)
        var target = src.config
        target.ffnHiddenSize = 256
        target.pattern = Array(target.pattern.prefix(4))
        let entries = target.expectedTensors().map { Entry(name: $0.name, dtype: .BF16, shape: $0.shape) }
        let out = dir + "/pruned"
        try CheckpointWriter(outputDir: out, sourceDir: Fixtures.nemoTiny).write(config: target, tensors: entries) { e in
            [Float](repeating: 0.5, count: e.elementCount)
        }
        let dst = try ModelFolder(path: out)
        XCTAssertEqual(dst.config.patternString, "M-M*")
        XCTAssertEqual(dst.config.ffnHiddenSize, 256)
        XCTAssertEqual(dst.tensorParameterCount, target.parameterCount)
        let raw = try JSONParser().parse(try Data(contentsOf: URL(fileURLWithPath: out + "/config.json")))
        XCTAssertEqual(raw["num_hidden_layers"], .int(4))
        XCTAssertEqual(raw["intermediate_size"], .int(256))
    }

    func testDryRunPlanWritesNothing() throws {
        let src = try ModelFolder(path: Fixtures.nemoTiny)
        let out = dir + "/never"
        let entries = try sourceEntries(src)
        let w = CheckpointWriter(outputDir: out, sourceDir: Fixtures.nemoTiny, maxShardBytes: 1_000_000, dtype: .BF16)
        let plan = w.dryRunPlan(tensors: entries)
        XCTAssertEqual(plan.totalBytes, 2 * 1_314_872)
        XCTAssertEqual(plan.shards.count, 3)
        XCTAssertTrue(plan.shards.allSatisfy { $0.dataBytes <= 1_000_000 })
        XCTAssertEqual(plan.shards.flatMap { $0.entries.map(\.name) }, entries.map(\.name), "canonical order kept")
        XCTAssertEqual(plan.summary.shards.count, 3)
        XCTAssertTrue(plan.table.contains("model-00003-of-00003.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        // A tensor bigger than the limit gets its own shard.
        let big = ShardPlan(tensors: [Entry(name: "a", dtype: .F32, shape: [10]), Entry(name: "b", dtype: .F32, shape: [100]), Entry(name: "c", dtype: .F32, shape: [1])], maxShardBytes: 100)
        XCTAssertEqual(big.shards.map { $0.entries.map(\.name) }, [["a"], ["b"], ["c"]])
    }

    // MARK: - Refusals

    func testRefusesSourceFolder() throws {
        let before = try CheckpointTestSupport.snapshot(Fixtures.nemoTiny)
        let src = try ModelFolder(path: Fixtures.nemoTiny)
        let entries = try sourceEntries(src)
        let link = dir + "/link-to-source"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: Fixtures.nemoTiny)
        for out in [Fixtures.nemoTiny, Fixtures.nemoTiny + "/../nemo-tiny/", link] {
            expectWriteError({
                try CheckpointWriter(outputDir: out, sourceDir: Fixtures.nemoTiny, force: true).write(config: src.config, tensors: entries) { try src.floats($0.name) }
            }, contains: ["refusing to write into the source folder"])
        }
        // A new folder below the source (directly or through the link) is inside it too.
        for out in [Fixtures.nemoTiny + "/pruned", link + "/a/b"] {
            expectWriteError({
                try CheckpointWriter(outputDir: out, sourceDir: Fixtures.nemoTiny, force: true).write(config: src.config, tensors: entries) { try src.floats($0.name) }
            }, contains: ["refusing to write inside the source folder"])
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(out) was created")
        }
        XCTAssertEqual(try CheckpointTestSupport.snapshot(Fixtures.nemoTiny), before, "the source folder changed")
    }

    func testSourceUnchangedByWrite() throws {
        let before = try CheckpointTestSupport.snapshot(Fixtures.nemoTiny)
        try writeBF16Sharded(to: dir + "/out")
        XCTAssertEqual(try CheckpointTestSupport.snapshot(Fixtures.nemoTiny), before, "the source folder changed")
    }

    func testRefusesNonEmptyOutputUnlessForced() throws {
        let out = dir + "/busy"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "keep".write(toFile: out + "/notes.txt", atomically: true, encoding: .utf8)
        expectWriteError({ try self.writeBF16Sharded(to: out) }, contains: [out, "not empty", "--force"])
        XCTAssertEqual(contents(out), ["notes.txt"])

        // Forced over stale weights of another layout: the stale index and shards go, other files stay.
        try "stale".write(toFile: out + "/model-00001-of-00007.safetensors", atomically: true, encoding: .utf8)
        try "{}".write(toFile: out + "/" + ModelFolder.indexName, atomically: true, encoding: .utf8)
        let src = try ModelFolder(path: Fixtures.nemoTiny)
        try CheckpointWriter(outputDir: out, sourceDir: Fixtures.nemoTiny, force: true).write(config: src.config, tensors: try sourceEntries(src)) {
            try src.floats($0.name)
        }
        XCTAssertEqual(contents(out), ["config.json", "model.safetensors", "notes.txt"])
        XCTAssertEqual(try ModelFolder(path: out).tensorParameterCount, 1_314_872)
    }

    func testTensorListMustMatchConfig() throws {
        let src = try ModelFolder(path: Fixtures.nemoTiny)
        let out = dir + "/bad"
        var entries = try sourceEntries(src)
        entries.removeAll { $0.name == "backbone.layers.3.mixer.q_proj.weight" }
        XCTAssertThrowsError(try CheckpointWriter(outputDir: out).write(config: src.config, tensors: entries) { try src.floats($0.name) }) { e in
            XCTAssertEqual((e as? CheckpointError).map { if case .mismatch("backbone.layers.3.mixer.q_proj.weight", _) = $0 { return true }; return false }, true, "\(e)")
            XCTAssertTrue("\(e)".contains("[128, 128]"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing may be created before the checks pass")
    }

    // MARK: - Faults

    func testProducerErrorRemovesEverything() throws {
        struct Boom: Error {}
        let src = try ModelFolder(path: Fixtures.nemoTiny)
        let out = dir + "/boom"
        let entries = try sourceEntries(src)
        var calls = 0
        let w = CheckpointWriter(outputDir: out, sourceDir: Fixtures.nemoTiny, maxShardBytes: 1_000_000)
        XCTAssertThrowsError(try w.write(config: src.config, tensors: entries, extraFiles: ["tokenizer.json"]) { e in
            calls += 1
            if calls == entries.count - 2 { throw Boom() }
            return try src.floats(e.name)
        }) { XCTAssertTrue($0 is Boom, "\($0)") }
        XCTAssertEqual(contents(out), [], "temporary files left behind")
    }

    func testReadOnlyDestination() throws {
        let out = dir + "/ro"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // Root ignores permission bits, so as root the folder is made immutable (chattr +i) instead.
        var undo: () -> Void = {}
        if getuid() != 0 {
            chmod(out, 0o555); undo = { chmod(out, 0o755) }
        } else {
            guard Self.chattr("+i", out) else { throw XCTSkip("running as root and chattr +i is unavailable: no way to make a read-only folder") }
            undo = { _ = Self.chattr("-i", out) }
        }
        defer { undo() }
        if FileManager.default.createFile(atPath: out + "/probe", contents: Data()) {
            unlink(out + "/probe"); throw XCTSkip("could not make a read-only folder on this machine")
        }
        expectWriteError({ try self.writeBF16Sharded(to: out) }, contains: [out, "not writable"])
        undo(); undo = {}
        XCTAssertEqual(contents(out), [])
    }

    func testOutputUnderARegularFile() throws {
        let file = dir + "/plain"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        expectWriteError({ try self.writeBF16Sharded(to: file + "/out") }, contains: ["cannot create the output folder", "Not a directory"])
        expectWriteError({ try self.writeBF16Sharded(to: file) }, contains: ["not a directory"])
    }

    /// A full destination, simulated with a file-size limit (EFBIG, as ENOSPC cannot be provoked without a
    /// small file system): a clear write error, and no file of the folder is left.
    func testFullDestinationCleansUp() throws {
        let out = dir + "/full"
        var old = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
        guard getrlimit(resource, &old) == 0 else { throw XCTSkip("getrlimit failed") }
        let oldHandler = signal(SIGXFSZ, SIG_IGN)
        var limit = old
        limit.rlim_cur = 400_000
        guard setrlimit(resource, &limit) == 0 else { throw XCTSkip("setrlimit failed") }
        defer { var o = old; setrlimit(resource, &o); signal(SIGXFSZ, oldHandler) }
        expectWriteError({ try self.writeBF16Sharded(to: out) }, contains: ["model-0000", "write failed", "size limit"])
        var o = old; setrlimit(resource, &o)
        XCTAssertEqual(contents(out), [], "partial files left behind")
    }

    static func chattr(_ flag: String, _ path: String) -> Bool {
        guard let exe = ["/usr/bin/chattr", "/bin/chattr"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return false }
        return (try? TestBinaries.run(exe, [flag, path]))?.status == 0
    }
}
