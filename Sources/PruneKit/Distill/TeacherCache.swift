import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Errors of the teacher cache (exit code 2): bad options, an output folder holding something else, or a cache
/// that does not match the current inputs.
public enum TeacherCacheError: Error, CustomStringConvertible {
    case badOption(String)
    case output(path: String, message: String)
    case mismatch(path: String, key: String, stored: String, current: String)

    public var description: String {
        switch self {
        case let .badOption(m): return m
        case let .output(p, m): return "\(p): \(m)"
        case let .mismatch(p, k, s, c):
            return "\(p): the folder holds a teacher cache made with different inputs (\(k): stored \(s), now \(c)); use another --out, or --force to replace it"
        }
    }
}

/// Settings of a teacher cache.
public struct TeacherCacheOptions: Sendable, Equatable {
    /// Tokens kept per position (K).
    public var topK: Int
    /// Softmax temperature τ of the stored log-probs: log softmax(logits / τ).
    public var temperature: Double
    /// dtype of `target_logprobs`: F16 (Megatron-LM's offline-logits choice) or F32.
    public var logprobDType: DType
    /// Samples per shard; nil chooses shards of about ``defaultShardBytes``.
    public var samplesPerShard: Int?

    public static let defaultShardBytes = 256 << 20

    public init(topK: Int, temperature: Double = 1, logprobDType: DType = .F16, samplesPerShard: Int? = nil) {
        self.topK = topK; self.temperature = temperature; self.logprobDType = logprobDType; self.samplesPerShard = samplesPerShard
    }
}

/// What a teacher-cache run did.
public struct TeacherCacheSummary: Sendable {
    public var shards: Int
    /// Shards found complete and kept (a resumed run), and shards computed by this run.
    public var keptShards: Int
    public var writtenShards: Int
    public var samples: Int
    public var tokens: Int
    /// Tokens this run pushed through the teacher (0 when everything was kept).
    public var computedTokens: Int
    /// Bytes of all shard files (headers included).
    public var bytes: Int
    public var seconds: Double
    /// Shard bytes per input token.
    public var bytesPerToken: Double { tokens > 0 ? Double(bytes) / Double(tokens) : 0 }
    /// Teacher tokens per second of this run (forward + top-K + writing).
    public var tokensPerSecond: Double { seconds > 0 ? Double(computedTokens) / seconds : 0 }
}

/// An offline distillation cache of a teacher's top-K next-token log-probabilities (formats.md, "teacher cache"):
/// shards `teacher-topk-XXXXX-of-YYYYY.safetensors` with, for the n samples of the shard,
///
/// - `input_ids` [n, T] I32 — the tokens;
/// - `target_token_ids` [n, T, K] I32 — at position j, the teacher's K most likely tokens for position j + 1
///   (it has seen input_ids[..j]), most likely first, ties broken by the lower id;
/// - `target_logprobs` [n, T, K] F16|F32 — their log softmax(logits / τ) over the full vocabulary, nats;
/// - `target_mask` [n, T] I32 — 1 where input_ids[j + 1] exists (j < T − 1), 0 at the last position, whose
///   ids and log-probs are written as 0 (nothing follows it in the sample; Axolotl's KD plugin also pads it).
///
/// The alignment is Axolotl's (`target_*[j]` → distribution over `input_ids[j + 1]`): a trainer compares
/// the student's logits at j with row j, exactly where its next-token loss compares them with input_ids[j + 1].
/// `cache.json` records the teacher path and fingerprint, the tokenizer and data fingerprints, K, τ, the dtype,
/// the shard list and counts, and whether the cache is complete.
///
/// Shards are written one at a time under a temporary name (`.NAME.partial`) that is renamed when complete
/// (after fsync), so a killed run leaves only whole shards; a rerun with the same inputs keeps them (their size
/// and header are checked) and recomputes the rest. The forward pass is deterministic, so a killed and resumed
/// run writes the same bytes as an uninterrupted one.
public enum TeacherCache {
    public static let manifestName = "cache.json"
    public static let formatName = "prunekit-teacher-topk"

    public static func shardName(_ i: Int, of n: Int) -> String {
        String(format: "teacher-topk-%05d-of-%05d.safetensors", i + 1, n)
    }

    static func partialName(_ name: String) -> String { "." + name + ".partial" }

    /// The tensors of a shard of `n` samples.
    public static func entries(samples n: Int, seqLen T: Int, k K: Int, logprobDType: DType) -> [SafetensorsStreamWriter.Entry] {
        [.init(name: "input_ids", dtype: .I32, shape: [n, T]),
         .init(name: "target_token_ids", dtype: .I32, shape: [n, T, K]),
         .init(name: "target_logprobs", dtype: logprobDType, shape: [n, T, K]),
         .init(name: "target_mask", dtype: .I32, shape: [n, T])]
    }

    /// File bytes of a shard (8-byte prefix, header, data).
    public static func shardBytes(samples n: Int, seqLen T: Int, k K: Int, logprobDType: DType) -> Int {
        let e = entries(samples: n, seqLen: T, k: K, logprobDType: logprobDType)
        return 8 + SafetensorsStreamWriter.header(entries: e).count + e.reduce(0) { $0 + $1.byteCount }
    }

    /// Data bytes per token: 4 (input id) + 4 (mask) + K × (4 + dtype bytes).
    public static func dataBytesPerToken(k: Int, logprobDType: DType) -> Int { 8 + k * (4 + logprobDType.byteSize) }

    /// Inputs that identify a cache: a rerun resumes only when all of them are equal.
    public struct Identity: Sendable {
        public var teacherPath: String
        public var teacherFingerprint: String
        public var vocabSize: Int
        /// Hex SHA-256 of tokenizer.json, or nil when the teacher folder has none.
        public var tokenizerSHA256: String?
        public var dataPath: String
        /// Hex SHA-256 of the data file's bytes.
        public var dataFileSHA256: String
        /// ``CalibrationSet/fingerprint`` of the token ids.
        public var idsFingerprint: String

        public init(teacherPath: String, teacherFingerprint: String, vocabSize: Int, tokenizerSHA256: String?, dataPath: String,
                    dataFileSHA256: String, idsFingerprint: String) {
            self.teacherPath = teacherPath; self.teacherFingerprint = teacherFingerprint; self.vocabSize = vocabSize
            self.tokenizerSHA256 = tokenizerSHA256; self.dataPath = dataPath; self.dataFileSHA256 = dataFileSHA256
            self.idsFingerprint = idsFingerprint
        }

        /// Reads the fingerprints of a teacher folder and a data file.
        /// - Throws: ``TeacherCacheError/output(path:message:)`` when the data file cannot be read.
        public static func of(teacher folder: ModelFolder, dataPath: String, set: CalibrationSet) throws -> Identity {
            let tok = (folder.path as NSString).appendingPathComponent("tokenizer.json")
            let tokSHA = FileManager.default.contents(atPath: tok).map(sha256Hex)
            guard let data = FileManager.default.contents(atPath: dataPath) else {
                throw TeacherCacheError.output(path: dataPath, message: "cannot read the data file")
            }
            return Identity(teacherPath: folder.path, teacherFingerprint: folder.fingerprint, vocabSize: folder.config.vocabSize,
                            tokenizerSHA256: tokSHA, dataPath: dataPath, dataFileSHA256: sha256Hex(data), idsFingerprint: set.fingerprint)
        }
    }

    /// The shard layout: (first sample, samples) per shard.
    public static func layout(samples N: Int, seqLen T: Int, options o: TeacherCacheOptions) -> [(first: Int, count: Int)] {
        let perSample = T * dataBytesPerToken(k: o.topK, logprobDType: o.logprobDType)
        let per = max(1, min(N, o.samplesPerShard ?? max(1, TeacherCacheOptions.defaultShardBytes / max(perSample, 1))))
        return stride(from: 0, to: N, by: per).map { ($0, min(per, N - $0)) }
    }

    /// The part of cache.json a rerun must match to resume (everything but the run's times and completeness).
    static func plan(_ id: Identity, samples N: Int, seqLen T: Int, options o: TeacherCacheOptions) -> JSONValue {
        let shards = layout(samples: N, seqLen: T, options: o)
        return .object([
            ("teacher", .object([("path", .string(id.teacherPath)), ("fingerprint", .string(id.teacherFingerprint)),
                                 ("vocab_size", .int(id.vocabSize))])),
            ("tokenizer_sha256", id.tokenizerSHA256.map { .string($0) } ?? .null),
            ("data", .object([("path", .string(id.dataPath)), ("file_sha256", .string(id.dataFileSHA256)),
                              ("ids_fingerprint", .string(id.idsFingerprint))])),
            ("samples", .int(N)), ("seq_len", .int(T)), ("top_k", .int(o.topK)), ("temperature", .double(o.temperature)),
            ("logprob_dtype", .string(o.logprobDType.rawValue)),
            ("shards", .array(shards.enumerated().map { i, s in
                .object([("file", .string(shardName(i, of: shards.count))), ("first_sample", .int(s.first)), ("samples", .int(s.count)),
                         ("bytes", .int(shardBytes(samples: s.count, seqLen: T, k: o.topK, logprobDType: o.logprobDType)))])
            })),
        ])
    }

    static func manifest(plan: JSONValue, complete: Bool, summary: TeacherCacheSummary?) -> JSONValue {
        var o: [(String, JSONValue)] = [("format", .string(formatName)), ("format_version", .int(1)), ("tool", .string("prunekit")),
                                        ("tool_version", .string(PruneKitVersion.string)), ("complete", .bool(complete))]
        o += plan.objectValue!
        o.append(("alignment", .string("target_token_ids/target_logprobs[b, j] are the teacher's top-K log softmax(logits/temperature) for the token after input_ids[b, j] (input_ids[b, j+1]); ties broken by the lower id; target_mask[b, j] = 1 for j < seq_len - 1, 0 at the last position (its ids and log-probs are 0)")))
        if let s = summary {
            o.append(("counts", .object([("samples", .int(s.samples)), ("tokens", .int(s.tokens)),
                                         ("target_positions", .int(s.samples > 0 ? s.tokens - s.samples : 0)),
                                         ("bytes", .int(s.bytes)), ("bytes_per_token", .double(s.bytesPerToken))])))
            o.append(("completed_at", .string(timestampNow())))
        }
        return .object(o)
    }

    static func writeAtomically(_ text: String, to path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw TeacherCacheError.output(path: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Names in `dir` that a teacher cache owns (shards, partials, manifest).
    static func ownedFiles(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
            $0 == manifestName || ($0.hasPrefix("teacher-topk-") && $0.hasSuffix(".safetensors")) || ($0.hasPrefix(".teacher-topk-") && $0.hasSuffix(".partial"))
        }
    }

    /// Writes (or resumes) a teacher cache of `set` in `outDir`.
    ///
    /// - Parameters:
    ///   - model: the teacher's forward pass (one sample at a time; logits [T, V] fp32).
    ///   - identity: the teacher and data fingerprints (``Identity/of(teacher:dataPath:set:)``).
    ///   - set: N samples of exactly T tokens each (T ≥ 2).
    ///   - force: replace a cache made with other inputs, or write into a non-empty folder that holds no cache.
    ///   - progress: called with (samples done, N) after every sample, kept shards included; it may throw to stop.
    /// - Returns: counts, bytes and timing of the run.
    /// - Throws: ``TeacherCacheError`` (options, a different cache in `outDir`, unequal sample lengths),
    ///   ``CheckpointError/write(path:message:)`` (disk full, …), ``ModelError`` (non-finite logits, bad ids).
    public static func write(model: NemotronHModel, identity: Identity, set: CalibrationSet, options o: TeacherCacheOptions,
                             outDir: String, force: Bool = false, progress: ((Int, Int) throws -> Void)? = nil) throws -> TeacherCacheSummary {
        let V = model.config.vocabSize
        guard o.topK >= 1 && o.topK <= V else { throw TeacherCacheError.badOption("--top-k must be in 1...\(V) (the vocabulary size), got \(o.topK)") }
        guard o.temperature.isFinite && o.temperature > 0 else { throw TeacherCacheError.badOption("--temperature must be a finite number > 0, got \(o.temperature)") }
        guard o.logprobDType == .F16 || o.logprobDType == .F32 else {
            throw TeacherCacheError.badOption("--logprob-dtype must be f16 or f32, got \(o.logprobDType.rawValue.lowercased())")
        }
        if let s = o.samplesPerShard, s <= 0 { throw TeacherCacheError.badOption("--samples-per-shard must be > 0, got \(s)") }
        let N = set.samples.count
        guard N > 0 else { throw TeacherCacheError.badOption("the data set has no samples") }
        let T = set.samples[0].count
        guard set.samples.allSatisfy({ $0.count == T }) else {
            let lengths = Set(set.samples.map(\.count)).sorted().prefix(5).map(String.init).joined(separator: ", ")
            throw TeacherCacheError.badOption("\(set.source): a teacher cache needs samples of one length, but they have lengths \(lengths)…; give --seq-len T to cut the data into sequences of T tokens")
        }
        guard T >= 2 else { throw TeacherCacheError.badOption("--seq-len must be ≥ 2 (position j targets token j + 1), got \(T)") }
        guard Int32(exactly: V) != nil, V <= 1 << 24 else { throw TeacherCacheError.badOption("vocab_size \(V) does not fit the I32 id tensors") }

        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: outDir, isDirectory: &isDir) {
            guard isDir.boolValue else { throw TeacherCacheError.output(path: outDir, message: "exists and is not a folder") }
        } else {
            do { try fm.createDirectory(atPath: outDir, withIntermediateDirectories: true) } catch {
                throw TeacherCacheError.output(path: outDir, message: "cannot create the folder: \(error.localizedDescription)")
            }
        }
        let plan = Self.plan(identity, samples: N, seqLen: T, options: o)
        let manifestPath = (outDir as NSString).appendingPathComponent(manifestName)
        if let data = fm.contents(atPath: manifestPath) {
            let stored = try? JSONParser().parse(data)
            let keys = plan.objectValue!.map(\.0)
            let differing = keys.first { stored?[$0] != plan[$0] }
            if stored?["format"]?.stringValue != formatName || differing != nil {
                guard force else {
                    let k = differing ?? "format"
                    func show(_ v: JSONValue?) -> String {
                        guard let v else { return "(missing)" }
                        let s = JSONWriter(indent: nil).string(v)
                        return s.count > 120 ? String(s.prefix(117)) + "…" : s
                    }
                    throw TeacherCacheError.mismatch(path: manifestPath, key: k, stored: show(stored?[k]), current: show(plan[k]))
                }
                for f in ownedFiles(outDir) { try? fm.removeItem(atPath: (outDir as NSString).appendingPathComponent(f)) }
            }
        } else {
            let others = ((try? fm.contentsOfDirectory(atPath: outDir)) ?? []).filter { !ownedFiles(outDir).contains($0) }
            if !others.isEmpty && !force {
                throw TeacherCacheError.output(path: outDir, message: "the folder is not empty and holds no \(manifestName) (\(others.count) other file\(others.count == 1 ? "" : "s"), e.g. \(others.sorted()[0])); use an empty folder, or --force")
            }
            for f in ownedFiles(outDir) { try? fm.removeItem(atPath: (outDir as NSString).appendingPathComponent(f)) }
        }
        try writeAtomically(JSONWriter(indent: 2).string(manifest(plan: plan, complete: false, summary: nil)) + "\n", to: manifestPath)

        let start = Date()
        let shards = layout(samples: N, seqLen: T, options: o)
        let K = o.topK
        var summary = TeacherCacheSummary(shards: shards.count, keptShards: 0, writtenShards: 0, samples: N, tokens: N * T,
                                          computedTokens: 0, bytes: 0, seconds: 0)
        var done = 0
        for (i, s) in shards.enumerated() {
            let name = shardName(i, of: shards.count)
            let path = (outDir as NSString).appendingPathComponent(name)
            let partial = (outDir as NSString).appendingPathComponent(partialName(name))
            let entries = Self.entries(samples: s.count, seqLen: T, k: K, logprobDType: o.logprobDType)
            let expectedBytes = shardBytes(samples: s.count, seqLen: T, k: K, logprobDType: o.logprobDType)
            if isCompleteShard(path: path, entries: entries, bytes: expectedBytes) {
                summary.keptShards += 1; summary.bytes += expectedBytes
                done += s.count
                try progress?(done, N)
                continue
            }
            unlink(partial); unlink(path)
            // The shard's tensors in memory (≈ the shard's size), then streamed to the temporary file.
            let rowsK = s.count * T * K
            var ids = [Float](repeating: 0, count: rowsK), lps = [Float](repeating: 0, count: rowsK)
            var mask = [Float](repeating: 0, count: s.count * T)
            let sub = CalibrationSet(samples: Array(set.samples[s.first..<(s.first + s.count)]), source: set.source)
            _ = try model.evaluate(sub) { b, logits in
                let top = logits.withUnsafeBufferPointer { topKLogProbs($0, rows: T - 1, vocab: V, k: K, temperature: o.temperature) }
                let base = b * T * K
                for r in 0..<((T - 1) * K) { ids[base + r] = Float(top.ids[r]); lps[base + r] = top.logprobs[r] }
                for j in 0..<(T - 1) { mask[b * T + j] = 1 }
                done += 1
                try progress?(done, N)
            }
            let w = try SafetensorsStreamWriter(path: partial, entries: entries)
            do {
                try w.append("input_ids", sub.samples.flatMap { $0.map { Float($0) } })
                try w.append("target_token_ids", ids)
                try w.append("target_logprobs", lps)
                try w.append("target_mask", mask)
                try w.finish()
            } catch { w.abandon(); unlink(partial); throw error }
            guard rename(partial, path) == 0 else {
                let err = String(cString: strerror(errno))
                unlink(partial)
                throw CheckpointError.write(path: path, message: "cannot rename the finished shard into place: \(err)")
            }
            summary.writtenShards += 1; summary.bytes += expectedBytes; summary.computedTokens += s.count * T
        }
        summary.seconds = Date().timeIntervalSince(start)
        try writeAtomically(JSONWriter(indent: 2).string(manifest(plan: plan, complete: true, summary: summary)) + "\n", to: manifestPath)
        return summary
    }

    /// Whether `path` is a finished shard of this plan: its size and header are the expected ones (a shard is
    /// renamed into place only after it was written completely and fsynced).
    static func isCompleteShard(path: String, entries: [SafetensorsStreamWriter.Entry], bytes: Int) -> Bool {
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path), (attrs[.size] as? Int) == bytes,
              let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let header = SafetensorsStreamWriter.header(entries: entries)
        guard let data = try? h.read(upToCount: 8 + header.count), data.count == 8 + header.count else { return false }
        return Array(data.dropFirst(8)) == header
    }
}
