import Foundation
import PruneKit
import XCTest

/// The teacher top-K cache: against transformers' log_softmax + topk (golden from
/// Scripts/reference/make_teacher_topk.py), against its naive twin, resume after an interruption and after
/// kill -9 (byte-identical shards), and bad inputs.
final class TeacherCacheTests: XCTestCase {
    static var golden: String { Fixtures.root.appendingPathComponent("goldens/nemo-tiny-teacher-topk.safetensors").path }
    static var idsFile: String { Fixtures.nemoTiny + "/calib-ids.jsonl" }

    /// An I32 tensor's values (the reader widens only float dtypes).
    func int32s(_ f: SafetensorsFile, _ name: String) throws -> [Int32] {
        XCTAssertEqual(try f.info(name).dtype, .I32)
        let raw = try f.rawBytes(name)
        return (0..<(raw.count / 4)).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
    }

    func model() throws -> (ModelFolder, NemotronHModel) {
        let f = try ModelFolder(path: Fixtures.nemoTiny)
        return (f, try NemotronHModel(source: f))
    }

    func identity(_ folder: ModelFolder, _ set: CalibrationSet, data: String = TeacherCacheTests.idsFile) throws -> TeacherCache.Identity {
        try TeacherCache.Identity.of(teacher: folder, dataPath: data, set: set)
    }

    /// Samples of T tokens from the calibration text (deterministic).
    func textSet(samples n: Int, seqLen T: Int) throws -> CalibrationSet {
        try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib.jsonl", tokenizer: try Tokenizer.load(modelDir: Fixtures.nemoTiny), samples: n, seqLen: T)
    }

    // MARK: - Against transformers

    func testTopKMatchesTransformersLogSoftmaxTopK() throws {
        let g = try SafetensorsFile(path: Self.golden)
        let ids = try int32s(g, "input_ids")
        let shape = try g.info("input_ids").shape
        let (N, T) = (shape[0], shape[1])
        let (folder, net) = try model()
        let V = folder.config.vocabSize
        var worst = 0.0
        for tau in [(1.0, "1"), (2.0, "2")] {
            let gIDs = try int32s(g, "target_token_ids_tau\(tau.1)")
            let gLP = try g.floats("target_logprobs_tau\(tau.1)")
            let K = try g.info("target_token_ids_tau\(tau.1)").shape[2]
            for b in 0..<N {
                let sample = Array(ids[(b * T)..<((b + 1) * T)])
                let logits = try net.forward(sample)
                let top = logits.withUnsafeBufferPointer { topKLogProbs($0, rows: T, vocab: V, k: K, temperature: tau.0) }
                for r in 0..<(T * K) {
                    XCTAssertEqual(top.ids[r], gIDs[b * T * K + r], "τ \(tau.0) sample \(b) position \(r / K) rank \(r % K)")
                    worst = max(worst, Double(abs(top.logprobs[r] - gLP[b * T * K + r])))
                }
            }
        }
        print(String(format: "teacher top-K vs transformers log_softmax+topk (K 16, τ 1 and 2): ids equal, max |Δ log-prob| %.2e", worst))
        XCTAssertLessThan(worst, 1e-5)

        // The same through the cache (F32), with the alignment and mask of the last position.
        let dir = Fixtures.tempDir("tc-golden"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let set = CalibrationSet(samples: (0..<N).map { Array(ids[($0 * T)..<(($0 + 1) * T)]) }, source: Self.idsFile)
        let K = 16
        let s = try TeacherCache.write(model: net, identity: identity(folder, set), set: set,
                                       options: .init(topK: K, logprobDType: .F32), outDir: dir)
        XCTAssertEqual(s.shards, 1)
        let shard = try SafetensorsFile(path: dir + "/" + TeacherCache.shardName(0, of: 1))
        XCTAssertEqual(try shard.info("target_token_ids").shape, [N, T, K])
        XCTAssertEqual(try shard.info("target_logprobs").dtype, .F32)
        XCTAssertEqual(try shard.info("target_mask").dtype, .I32)
        XCTAssertEqual(try int32s(shard, "input_ids"), ids)
        let cIDs = try int32s(shard, "target_token_ids"), cLP = try shard.floats("target_logprobs"), mask = try int32s(shard, "target_mask")
        let gIDs = try int32s(g, "target_token_ids_tau1"), gLP = try g.floats("target_logprobs_tau1")
        for b in 0..<N {
            for j in 0..<T {
                XCTAssertEqual(mask[b * T + j], j < T - 1 ? 1 : 0)
                for r in 0..<K {
                    let i = (b * T + j) * K + r
                    if j < T - 1 {
                        XCTAssertEqual(cIDs[i], gIDs[i]); XCTAssertEqual(cLP[i], gLP[i], accuracy: 1e-5)
                    } else {
                        XCTAssertEqual(cIDs[i], 0); XCTAssertEqual(cLP[i], 0)
                    }
                }
            }
        }
        let manifest = try JSONParser().parse(try Data(contentsOf: URL(fileURLWithPath: dir + "/cache.json")))
        XCTAssertEqual(manifest["complete"]?.boolValue, true)
        XCTAssertEqual(manifest["teacher"]?["fingerprint"]?.stringValue, folder.fingerprint)
        XCTAssertEqual(manifest["data"]?["ids_fingerprint"]?.stringValue, set.fingerprint)
        XCTAssertEqual(manifest["top_k"]?.intValue, K)
        XCTAssertEqual(manifest["counts"]?["target_positions"]?.intValue, N * (T - 1))
    }

    // MARK: - Naive twin

    func testTopKMatchesNaiveTwinWithTiesAndLargeLogits() throws {
        var state: UInt64 = 0x9E3779B97F4A7C15
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int((state >> 33) % 41) - 20) / 4   // few distinct values: many ties
        }
        for (rows, V, K, tau, offset) in [(3, 20000, 64, 1.0, Float(0)), (5, 1000, 1, 0.7, Float(3000)), (2, 8193, 8193, 2.0, Float(-500)), (4, 300, 17, 1.0, Float(80))] {
            let logits = (0..<(rows * V)).map { _ in next() + offset }
            let fast = logits.withUnsafeBufferPointer { topKLogProbs($0, rows: rows, vocab: V, k: K, temperature: tau) }
            let slow = naiveTopKLogProbs(logits, rows: rows, vocab: V, k: K, temperature: tau)
            XCTAssertEqual(fast.ids, slow.ids, "V \(V) K \(K)")
            for i in 0..<fast.logprobs.count { XCTAssertEqual(fast.logprobs[i], slow.logprobs[i], accuracy: 2e-6) }
            XCTAssertTrue(fast.logprobs.allSatisfy { $0.isFinite && $0 <= 0 })
            if K == V {
                // The full distribution sums to 1.
                for r in 0..<rows {
                    let s = (0..<K).reduce(0.0) { $0 + exp(Double(fast.logprobs[r * K + $1])) }
                    XCTAssertEqual(s, 1, accuracy: 1e-5)
                }
            }
        }
    }

    // MARK: - Resume

    func testInterruptedRunResumesByteIdentical() throws {
        let (folder, net) = try model()
        let set = try textSet(samples: 7, seqLen: 48)
        let data = Fixtures.nemoTiny + "/calib.jsonl"
        let o = TeacherCacheOptions(topK: 8, samplesPerShard: 3)
        let a = Fixtures.tempDir("tc-a"), b = Fixtures.tempDir("tc-b")
        defer { try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b) }
        let full = try TeacherCache.write(model: net, identity: identity(folder, set, data: data), set: set, options: o, outDir: a)
        XCTAssertEqual(full.shards, 3)
        struct Stop: Error {}
        XCTAssertThrowsError(try TeacherCache.write(model: net, identity: identity(folder, set, data: data), set: set, options: o, outDir: b) { done, _ in
            if done == 5 { throw Stop() }
        })
        // Shard 1 complete, shard 2 interrupted mid-way: no file of it, the manifest says incomplete.
        let names = try FileManager.default.contentsOfDirectory(atPath: b).sorted()
        XCTAssertEqual(names, ["cache.json", TeacherCache.shardName(0, of: 3)])
        let m = try JSONParser().parse(try Data(contentsOf: URL(fileURLWithPath: b + "/cache.json")))
        XCTAssertEqual(m["complete"]?.boolValue, false)
        // A stale temporary file from a killed writer is replaced.
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: b + "/." + TeacherCache.shardName(1, of: 3) + ".partial"))
        let resumed = try TeacherCache.write(model: net, identity: identity(folder, set, data: data), set: set, options: o, outDir: b)
        XCTAssertEqual(resumed.keptShards, 1)
        XCTAssertEqual(resumed.writtenShards, 2)
        for i in 0..<3 {
            let n = TeacherCache.shardName(i, of: 3)
            XCTAssertEqual(FileManager.default.contents(atPath: a + "/" + n), FileManager.default.contents(atPath: b + "/" + n), n)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: b + "/." + TeacherCache.shardName(1, of: 3) + ".partial"))
        // A truncated "complete" shard is detected and rewritten.
        let s3 = b + "/" + TeacherCache.shardName(2, of: 3)
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: s3)); try h.truncate(atOffset: 100); try h.close()
        let again = try TeacherCache.write(model: net, identity: identity(folder, set, data: data), set: set, options: o, outDir: b)
        XCTAssertEqual(again.keptShards, 2)
        XCTAssertEqual(FileManager.default.contents(atPath: s3), FileManager.default.contents(atPath: a + "/" + TeacherCache.shardName(2, of: 3)))
    }

    /// The CLI killed with SIGKILL after its first shard, then rerun: byte-identical to an uninterrupted run.
    func testKilledCommandResumesByteIdentical() throws {
        let root = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
        let bins = ["release", "debug"].map { root.appendingPathComponent(".build/\($0)/prunekit").path }
        guard let bin = bins.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("prunekit not built; run `swift build` first")
        }
        let dir = Fixtures.tempDir("tc-kill"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = ["teacher-cache", Fixtures.nemoTiny, "--data", Fixtures.nemoTiny + "/calib.jsonl", "--samples", "48", "--seq-len", "128",
                    "--top-k", "32", "--samples-per-shard", "4", "--quiet"]
        func run(_ out: String, killAfterFirstShard: Bool) throws -> Bool {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: bin)
            p.arguments = args + ["--out", out]
            p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
            try p.run()
            var killed = false
            if killAfterFirstShard {
                let first = out + "/" + TeacherCache.shardName(0, of: 12)
                while p.isRunning {
                    if FileManager.default.fileExists(atPath: first) { kill(p.processIdentifier, SIGKILL); killed = true; break }
                    usleep(500)
                }
            }
            p.waitUntilExit()
            if !killed { XCTAssertEqual(p.terminationStatus, 0) }
            return killed
        }
        _ = try run(dir + "/whole", killAfterFirstShard: false)
        let killed = try run(dir + "/killed", killAfterFirstShard: true)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/killed").filter { $0.hasPrefix("teacher-topk-") }.count
        print("teacher-cache killed with SIGKILL: \(killed) (\(left) of 12 shards complete at the kill)")
        XCTAssertTrue(killed, "the run finished before it could be killed")
        XCTAssertLessThan(left, 12)
        _ = try run(dir + "/killed", killAfterFirstShard: false)
        for i in 0..<12 {
            let n = TeacherCache.shardName(i, of: 12)
            let x = FileManager.default.contents(atPath: dir + "/whole/" + n), y = FileManager.default.contents(atPath: dir + "/killed/" + n)
            XCTAssertNotNil(x); XCTAssertEqual(x, y, n)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/killed").filter { $0.hasSuffix(".partial") }, [])
    }

    // MARK: - Bad inputs

    func testBadInputsAreClearErrors() throws {
        let (folder, net) = try model()
        let set = try textSet(samples: 2, seqLen: 16)
        let data = Fixtures.nemoTiny + "/calib.jsonl"
        let id = try identity(folder, set, data: data)
        let dir = Fixtures.tempDir("tc-bad"); defer { try? FileManager.default.removeItem(atPath: dir) }
        func expect(_ o: TeacherCacheOptions, set s: CalibrationSet? = nil, out: String? = nil, _ needle: String, line: UInt = #line) {
            XCTAssertThrowsError(try TeacherCache.write(model: net, identity: id, set: s ?? set, options: o, outDir: out ?? dir + "/x")) { e in
                XCTAssertTrue("\(e)".contains(needle), "\(e)", line: line)
                XCTAssertEqual(ExitStatus.code(for: e), 2, line: line)
            }
        }
        expect(.init(topK: 1025), "--top-k must be in 1...1024")
        expect(.init(topK: 0), "--top-k")
        expect(.init(topK: 4, temperature: 0), "--temperature")
        expect(.init(topK: 4, temperature: .nan), "--temperature")
        expect(.init(topK: 4, logprobDType: .BF16), "--logprob-dtype must be f16 or f32")
        expect(.init(topK: 4, samplesPerShard: 0), "--samples-per-shard")
        expect(.init(topK: 4), set: CalibrationSet(samples: [[1, 2, 3], [1, 2]], source: "ragged.jsonl"), "ragged.jsonl: a teacher cache needs samples of one length")
        expect(.init(topK: 4), set: CalibrationSet(samples: [[1]], source: "one.jsonl"), "--seq-len must be ≥ 2")
        // A non-empty folder without a cache, and a file in place of the folder.
        let busy = dir + "/busy"
        try FileManager.default.createDirectory(atPath: busy, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: busy + "/notes.txt"))
        expect(.init(topK: 4), out: busy, "holds no cache.json")
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/file"))
        expect(.init(topK: 4), out: dir + "/file", "exists and is not a folder")
        // A cache of other inputs: refused, naming the key; --force replaces it.
        _ = try TeacherCache.write(model: net, identity: id, set: set, options: .init(topK: 4), outDir: dir + "/c")
        expect(.init(topK: 4, temperature: 2), out: dir + "/c", "(temperature: stored 1.0, now 2.0)")
        var other = id; other.teacherFingerprint = "0000"
        XCTAssertThrowsError(try TeacherCache.write(model: net, identity: other, set: set, options: .init(topK: 4), outDir: dir + "/c")) { e in
            XCTAssertTrue("\(e)".contains("teacher"), "\(e)")
        }
        let forced = try TeacherCache.write(model: net, identity: id, set: set, options: .init(topK: 4, temperature: 2), outDir: dir + "/c", force: true)
        XCTAssertEqual(forced.writtenShards, 1)
        // Rerunning a complete cache recomputes nothing.
        let again = try TeacherCache.write(model: net, identity: id, set: set, options: .init(topK: 4, temperature: 2), outDir: dir + "/c")
        XCTAssertEqual(again.keptShards, 1); XCTAssertEqual(again.computedTokens, 0)
    }

    /// Bytes per token at K = 64 with F16 log-probs, against the full F32 logits of the 12B vocabulary.
    func testCacheBytesPerTokenAtK64() throws {
        let perToken = TeacherCache.dataBytesPerToken(k: 64, logprobDType: .F16)
        XCTAssertEqual(perToken, 392)  // 4 id + 4 mask + 64 × (4 + 2)
        let (n, T) = (16, 4096)
        let file = TeacherCache.shardBytes(samples: n, seqLen: T, k: 64, logprobDType: .F16)
        let full = 131_072 * 4
        print(String(format: "teacher cache K 64 F16: %.2f bytes/token (shard of %d × %d) vs full F32 logits %d bytes/token: %.0f× smaller",
                     Double(file) / Double(n * T), n, T, full, Double(full) * Double(n * T) / Double(file)))
        XCTAssertLessThan(Double(file) / Double(n * T), 392.1)
    }
}
