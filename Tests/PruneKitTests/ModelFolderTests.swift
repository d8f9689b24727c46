import Foundation
import XCTest
import PruneKit

/// Index rules and strict config/tensor checks of ``ModelFolder`` (formats.md §2, nemotron-h.md §2).
final class ModelFolderTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Fixtures.tempDir("mf") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static let tiny = NemotronHConfig(pattern: "M*-", hiddenSize: 16, ffnHiddenSize: 32, numAttentionHeads: 2, numKeyValueHeads: 1,
                                      headDim: 8, mambaNumHeads: 4, mambaHeadDim: 4, ssmStateSize: 4, nGroups: 2, vocabSize: 32)

    static func values(_ name: String, _ n: Int) -> [Float] {
        let seed = Float(name.utf8.reduce(0) { ($0 &* 31 &+ Int($1)) % 1000 })
        return (0..<n).map { Float($0 % 17) * 0.125 - 1 + seed * 0.001 }
    }

    /// A single-file folder holding `tensors` (name, shape) with the tiny config.
    func singleFolder(_ tensors: [(String, [Int])], config: NemotronHConfig = ModelFolderTests.tiny) throws -> String {
        try JSONWriter(indent: 2).string(config.updatedJSON()).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try writeSafetensors(path: dir + "/model.safetensors",
                             tensors: tensors.map { ($0.0, .F32, $0.1, Self.values($0.0, $0.1.reduce(1, *))) })
        return dir
    }

    /// A 3-shard F32 folder of the tiny config written by CheckpointWriter.
    func shardedFolder() throws -> String {
        let c = Self.tiny
        let entries = c.expectedTensors().map { SafetensorsStreamWriter.Entry(name: $0.name, dtype: .F32, shape: $0.shape) }
        let out = dir + "/sharded"
        let limit = try XCTUnwrap(CheckpointTestSupport.maxShardBytes(entries, shards: 3))
        let w = CheckpointWriter(outputDir: out, maxShardBytes: limit, dtype: nil)
        let plan = try w.write(config: c, tensors: entries) { Self.values($0.name, $0.elementCount) }
        XCTAssertEqual(plan.shards.count, 3)
        return out
    }

    func editIndex(_ folder: String, _ edit: (JSONValue) -> JSONValue) throws -> String {
        let p = folder + "/" + ModelFolder.indexName
        let j = try JSONParser().parse(try Data(contentsOf: URL(fileURLWithPath: p)))
        try JSONWriter(indent: 2).string(edit(j)).write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func weightMap(_ j: JSONValue, _ edit: ([(String, JSONValue)]) -> [(String, JSONValue)]) -> JSONValue {
        j.setting("weight_map", .object(edit(j["weight_map"]!.objectValue!)))
    }

    func expectIndexError(_ folder: String, _ index: String, contains: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ModelFolder(path: folder), file: file, line: line) { e in
            guard case let .index(f, m)? = e as? CheckpointError else { return XCTFail("not an index error: \(e)", file: file, line: line) }
            XCTAssertEqual(f, index, file: file, line: line)
            XCTAssertTrue(m.contains(contains), "message '\(m)' lacks '\(contains)'", file: file, line: line)
        }
    }

    // MARK: - Index rules

    func testShardedFolderOpens() throws {
        let f = try ModelFolder(path: try shardedFolder())
        XCTAssertTrue(f.isSharded)
        XCTAssertEqual(f.files.count, 3)
        XCTAssertEqual(f.tensorParameterCount, Self.tiny.parameterCount)
    }

    func testShardNameWithSlashRejected() throws {
        let folder = try shardedFolder()
        let idx = try editIndex(folder) { j in weightMap(j) { m in var m = m; m[0].1 = .string("sub/model-00001-of-00003.safetensors"); return m } }
        expectIndexError(folder, idx, contains: "not a bare file name")
    }

    func testShardNameDotDotRejected() throws {
        let folder = try shardedFolder()
        let idx = try editIndex(folder) { j in weightMap(j) { m in var m = m; m[0].1 = .string("../sharded/model-00001-of-00003.safetensors"); return m } }
        expectIndexError(folder, idx, contains: "not a bare file name")
        _ = try editIndex(folder) { j in weightMap(j) { m in var m = m; m[0].1 = .string(".."); return m } }
        expectIndexError(folder, idx, contains: "not a bare file name")
    }

    func testMissingShardFile() throws {
        let folder = try shardedFolder()
        try FileManager.default.removeItem(atPath: folder + "/model-00002-of-00003.safetensors")
        expectIndexError(folder, folder + "/" + ModelFolder.indexName, contains: "\"model-00002-of-00003.safetensors\" listed in weight_map does not exist")
    }

    func testTensorInIndexMissingFromShard() throws {
        let folder = try shardedFolder()
        let idx = try editIndex(folder) { j in weightMap(j) { $0 + [("backbone.extra.weight", .string("model-00001-of-00003.safetensors"))] } }
        expectIndexError(folder, idx, contains: "'backbone.extra.weight' is listed for shard \"model-00001-of-00003.safetensors\" but is missing")
    }

    func testTensorInShardButNotInIndex() throws {
        let folder = try shardedFolder()
        let idx = try editIndex(folder) { j in weightMap(j) { $0.filter { $0.0 != "backbone.norm_f.weight" } } }
        expectIndexError(folder, idx, contains: "'backbone.norm_f.weight' is in shard")
    }

    func testWeightMapNotAnObject() throws {
        let folder = try shardedFolder()
        let idx = try editIndex(folder) { $0.setting("weight_map", .array([])) }
        expectIndexError(folder, idx, contains: "\"weight_map\"")
    }

    func testIndexNotJSON() throws {
        let folder = try shardedFolder()
        let idx = folder + "/" + ModelFolder.indexName
        try "{ not json".write(toFile: idx, atomically: true, encoding: .utf8)
        expectIndexError(folder, idx, contains: "not valid JSON")
    }

    // MARK: - Config / tensor mismatches

    func expectMismatch(_ folder: String, tensor: String, contains: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ModelFolder(path: folder), file: file, line: line) { e in
            guard case let .mismatch(t, m)? = e as? CheckpointError else { return XCTFail("not a mismatch: \(e)", file: file, line: line) }
            XCTAssertEqual(t, tensor, file: file, line: line)
            for c in contains { XCTAssertTrue("\(e)".contains(c), "'\(e)' lacks '\(c)'", file: file, line: line) }
            _ = m
        }
    }

    func testCorrectSingleFolderOpens() throws {
        let f = try ModelFolder(path: try singleFolder(Self.tiny.expectedTensors().map { ($0.name, $0.shape) }))
        XCTAssertFalse(f.isSharded)
        XCTAssertEqual(f.tensorParameterCount, Self.tiny.parameterCount)
    }

    func testMissingTensor() throws {
        let t = Self.tiny.expectedTensors().filter { $0.name != "lm_head.weight" }
        expectMismatch(try singleFolder(t.map { ($0.name, $0.shape) }), tensor: "lm_head.weight", contains: ["lm_head.weight", "missing", "[32, 16]"])
    }

    func testUnexpectedTensor() throws {
        let t = Self.tiny.expectedTensors().map { ($0.name, $0.shape) } + [("backbone.layers.3.norm.weight", [16])]
        expectMismatch(try singleFolder(t), tensor: "backbone.layers.3.norm.weight", contains: ["backbone.layers.3.norm.weight", "unexpected"])
    }

    func testWrongShape() throws {
        let t = Self.tiny.expectedTensors().map { ($0.name, $0.name == "backbone.layers.0.mixer.conv1d.weight" ? [24, 4] : $0.shape) }
        // Cc = I + 2GN = 16 + 16 = 32 channels, K = 4.
        expectMismatch(try singleFolder(t), tensor: "backbone.layers.0.mixer.conv1d.weight",
                       contains: ["backbone.layers.0.mixer.conv1d.weight", "[24, 4]", "[32, 1, 4]"])
    }

    func testNonFloatDTypeRejected() throws {
        try JSONWriter(indent: 2).string(Self.tiny.updatedJSON()).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try writeSafetensors(path: dir + "/model.safetensors", tensors: Self.tiny.expectedTensors().map {
            ($0.name, $0.name == "backbone.norm_f.weight" ? .I32 : .F32, $0.shape, [Float](repeating: 1, count: $0.shape.reduce(1, *)))
        })
        expectMismatch(dir, tensor: "backbone.norm_f.weight", contains: ["I32"])
    }

    func testNoConfigOrWeights() throws {
        XCTAssertThrowsError(try ModelFolder(path: dir)) { XCTAssertTrue("\($0)".contains("config.json"), "\($0)") }
        try JSONWriter(indent: 2).string(Self.tiny.updatedJSON()).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ModelFolder(path: dir)) { XCTAssertTrue("\($0)".contains("no model.safetensors"), "\($0)") }
    }
}
