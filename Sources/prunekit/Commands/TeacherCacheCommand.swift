import ArgumentParser
import Foundation
import PruneKit

/// `f16` or `f32`.
enum LogprobDType: String, ExpressibleByArgument, CaseIterable {
    case f16, f32
    var dtype: DType { self == .f16 ? .F16 : .F32 }
}

struct TeacherCacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teacher-cache",
        abstract: "Write a teacher's top-K next-token log-probabilities for offline distillation (safetensors shards + cache.json).",
        discussion: """
        For every sample b and position j: target_token_ids[b, j] and target_logprobs[b, j] are the teacher's K most \
        likely tokens for input_ids[b, j+1] and their log softmax(logits / τ) over the full vocabulary (log-sum-exp \
        in vocabulary chunks, before the top K; ties broken by the lower id); target_mask[b, j] is 1 for j < T−1 and \
        0 at the last position (nothing follows it; its ids and log-probs are 0). This is the alignment of Axolotl's \
        KD plugin (Scripts/kd/cache_to_parquet.py writes its columns). Tensors per shard: input_ids [n, T] I32, \
        target_token_ids [n, T, K] I32, target_logprobs [n, T, K] F16|F32, target_mask [n, T] I32. Shards are \
        written under temporary names and renamed when complete; rerunning the same command after a kill keeps \
        the complete shards and redoes the rest (byte-identical to an uninterrupted run). A folder holding a cache \
        of other inputs is refused unless --force. Source: arXiv 2508.14444 §4 (forward KL on the teacher's logits).
        """
    )

    @Argument(help: "Teacher model folder (Hugging Face layout).")
    var teacher: String

    @OptionGroup var dataOptions: DataOptions

    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Tokens kept per position (K).")
    var topK: Int

    @Option(parsing: .unconditional, help: "Softmax temperature τ of the stored log-probs.")
    var temperature: Double = 1

    @Option(name: .customLong("logprob-dtype"), help: "dtype of target_logprobs: f16 or f32.")
    var logprobDType: LogprobDType = .f16

    @Option(name: .customLong("samples-per-shard"), parsing: .unconditional, help: "Samples per shard (default: shards of about 256 MiB).")
    var samplesPerShard: Int?

    @Option(help: "Output folder.")
    var out: String

    @Flag(help: "Replace a cache of other inputs in --out, or write into a non-empty folder.")
    var force = false

    @OptionGroup var engine: EngineOptions

    @OptionGroup var output: OutputOptions


    func validate() throws {
        if topK <= 0 { throw ValidationError("--top-k must be > 0, got \(topK)") }
        if !(temperature.isFinite && temperature > 0) { throw ValidationError("--temperature must be a finite number > 0, got \(temperature)") }
        if let s = samplesPerShard, s <= 0 { throw ValidationError("--samples-per-shard must be > 0, got \(s)") }
    }

    func run() throws {
        try runReportingErrors {
            let abs = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.path }
            let outParent = (out as NSString).deletingLastPathComponent
            let resolvedOut = realpathString(out) ?? realpathString(outParent.isEmpty ? "." : outParent).map { $0 + "/" + (out as NSString).lastPathComponent }
            if let o = resolvedOut, let t = realpathString(teacher), o == t || o.hasPrefix(t + "/") {
                throw ValidationError("--out \(out) is the teacher's model folder or inside it; write the cache outside the model folder")
            }
            let folder = try ModelFolder(path: abs(teacher))
            let set = try dataOptions.load(modelDir: teacher)
            let identity = try TeacherCache.Identity.of(teacher: folder, dataPath: abs(dataOptions.data), set: set)
            let net = try engine.model(folder)
            let options = TeacherCacheOptions(topK: topK, temperature: temperature, logprobDType: logprobDType.dtype, samplesPerShard: samplesPerShard)
            let report = makeProgress(quiet: output.quiet)?.callback(unit: "samples")
            let s = try TeacherCache.write(model: net, identity: identity, set: set, options: options, outDir: out, force: force) { done, total in
                report?("teacher-cache", done, total)
            }
            let peak = peakResidentBytes()
            let fullLogitBytes = 4 * folder.config.vocabSize
            switch output.format {
            case .json:
                try printJSON(.object([("out", .string(out)), ("teacher", .string(teacher)), ("teacher_fingerprint", .string(identity.teacherFingerprint)),
                                   ("samples", .int(s.samples)), ("seq_len", .int(set.samples[0].count)), ("tokens", .int(s.tokens)),
                                   ("top_k", .int(topK)), ("temperature", .double(temperature)), ("logprob_dtype", .string(options.logprobDType.rawValue)),
                                   ("shards", .int(s.shards)), ("kept_shards", .int(s.keptShards)), ("written_shards", .int(s.writtenShards)),
                                   ("bytes", .int(s.bytes)), ("bytes_per_token", .double(s.bytesPerToken)),
                                   ("full_logits_bytes_per_token", .int(fullLogitBytes)),
                                   ("computed_tokens", .int(s.computedTokens)), ("seconds", .double(s.seconds)),
                                   ("tokens_per_second", .double(s.tokensPerSecond)), ("peak_resident_bytes", .int(peak))]))
            case .table:
                print("teacher cache  \(out)  (\(TeacherCache.manifestName) + \(s.shards) shard\(s.shards == 1 ? "" : "s"); kept \(s.keptShards), written \(s.writtenShards))")
                print("samples        \(s.samples) × \(set.samples[0].count) tokens = \(grouped(s.tokens)) tokens; top-K \(topK), τ \(temperature), log-probs \(options.logprobDType.rawValue)")
                print(String(format: "size           %@ (%.1f bytes/token; full F32 logits: %@/token, %.0f× more)", humanBytes(s.bytes), s.bytesPerToken,
                             humanBytes(fullLogitBytes), s.bytesPerToken > 0 ? Double(fullLogitBytes) / s.bytesPerToken : 0))
                print(String(format: "throughput     %.1f tokens/s (%.2f s for %@ computed tokens)", s.tokensPerSecond, s.seconds, grouped(s.computedTokens)))
                print(String(format: "peak memory    %.1f MiB resident", Double(peak) / 1_048_576))
            }
        }
    }
}
