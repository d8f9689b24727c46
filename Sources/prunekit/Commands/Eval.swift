import ArgumentParser
import Foundation
import PruneKit

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mean next-token loss, perplexity and throughput of a model on a data set (CPU, fp32).",
        discussion: """
        Consecutive samples are stacked into batches (one matrix product per weight and batch, within the \
        --memory-gib activation budget); the loss equals running each sample alone. With {"input_ids"} JSONL the samples are used exactly as given. \
        --logits-out writes the logits [N, T, V] as F32 safetensors (tensor `logits`, plus `input_ids` [N, T] I32); \
        all samples must then have the same length.
        """
    )

    @Argument(help: "Model folder (Hugging Face layout).")
    var model: String

    @OptionGroup var dataOptions: DataOptions

    @OptionGroup var output: OutputOptions

    @Option(name: .customLong("logits-out"), help: "Write the logits to this .safetensors file (streamed, one sample at a time).")
    var logitsOut: String?

    @Option(help: "Reference model folder (e.g. the unpruned source): also report the KL divergence KL(reference ‖ model) and the logit MSE, per token.")
    var reference: String?

    @OptionGroup var engine: EngineOptions

    @Flag(help: "Replace an existing --logits-out file.")
    var force = false

    @Flag(name: .customLong("per-sample"), help: "Also print each sample's tokens, loss (and KL with --reference).")
    var perSample = false


    func run() throws {
        try runReportingErrors {
            let folder = try ModelFolder(path: model)
            let set = try dataOptions.load(modelDir: model, vocabSize: folder.config.vocabSize)
            let net = try engine.model(folder)
            var T = 0
            var writer: SafetensorsStreamWriter?
            let partial = logitsOut.map { path -> String in
                let dir = (path as NSString).deletingLastPathComponent, name = (path as NSString).lastPathComponent
                return (dir.isEmpty ? "" : dir + "/") + "." + name + ".partial"
            }
            if let logitsOut {
                try checkOutputFile(logitsOut, option: "--logits-out", inputs: [model, dataOptions.data] + (reference.map { [$0] } ?? []), force: force)
                T = set.samples.first?.count ?? 0
                guard set.samples.allSatisfy({ $0.count == T }) else {
                    let lengths = Set(set.samples.map(\.count)).sorted()
                    throw ModelError.emptyInput("--logits-out needs samples of one length, but they have \(lengths.count) different lengths (\(lengths.prefix(5).map(String.init).joined(separator: ", "))…); give --seq-len T to cut them to T tokens")
                }
                // Streamed to a temporary name, one sample's logits at a time, renamed when complete.
                let w = try SafetensorsStreamWriter(path: partial!, entries: [
                    .init(name: "input_ids", dtype: .I32, shape: [set.samples.count, T]),
                    .init(name: "logits", dtype: .F32, shape: [set.samples.count, T, folder.config.vocabSize]),
                ])
                try w.append("input_ids", set.samples.flatMap { $0.map { Float($0) } })
                writer = w
            }
            defer { if let writer { writer.abandon(); unlink(partial!) } }
            var refModel: NemotronHModel?
            var refNLL = 0.0
            if let reference {
                let rf = try ModelFolder(path: reference)
                guard rf.config.vocabSize == folder.config.vocabSize else {
                    throw ModelError.emptyInput("--reference \(reference) has vocab_size \(rf.config.vocabSize) but the model has \(folder.config.vocabSize)")
                }
                refModel = try engine.model(rf)
            }
            var kl = 0.0, mse = 0.0
            var sampleKL = [Double]()
            let V = folder.config.vocabSize
            // Logits are handed out only when written or compared; otherwise eval streams them in row chunks.
            let onLogits: ((Int, [Float]) throws -> Void)? = writer == nil && refModel == nil ? nil : { b, l in
                try writer?.appendPart("logits", l)
                if let refModel {
                    let ids = set.samples[b]
                    let r = try refModel.forward(ids, sample: b)
                    do { try refModel.checkFinite(r, ids: ids, sample: b) } catch let ModelError.nonFinite(m) {
                        throw ModelError.nonFinite("--reference \(reference ?? ""): \(m)")
                    }
                    let c = LogitComparison.of(reference: r, candidate: l, ids: ids, rows: ids.count, vocab: V)
                    refNLL += c.referenceNLL
                    kl += c.kl
                    sampleKL.append(c.kl / Double(max(ids.count, 1)))
                    mse += c.squared / Double(V)
                }
            }
            let m = try net.evaluate(set, progress: makeProgress(quiet: output.quiet), onLogits: onLogits)
            let refLoss = refNLL / Double(max(m.predictedTokens, 1))
            kl /= Double(max(m.tokens, 1)); mse /= Double(max(m.tokens, 1))
            if let logitsOut, let w = writer {
                try w.finish()
                writer = nil
                guard rename(partial!, logitsOut) == 0 else {
                    let err = String(cString: strerror(errno))
                    unlink(partial!)
                    throw CheckpointError.write(path: logitsOut, message: "cannot rename the finished logits file into place: \(err)")
                }
            }
            let peak = peakResidentBytes()
            switch output.format {
            case .json:
                var o = m.json.objectValue!
                o.insert(("model", .string(model)), at: 0)
                o.append(("samples", .int(set.samples.count)))
                o.append(("calibration_fingerprint", .string(set.fingerprint)))
                o.append(("dt_floor", .bool(engine.dtFloor)))
                o.append(("memory_budget_bytes", .int(net.batchBudgetBytes)))
                o.append(("peak_resident_bytes", .int(peak)))
                if let logitsOut { o.append(("logits_out", .string(logitsOut))) }
                if let reference {
                    o.append(("reference", .object([("model", .string(reference)), ("loss", .double(refLoss)),
                                                    ("kl", .double(kl)), ("kl_standard_error", standardError(sampleKL).map { .double($0) } ?? .null),
                                                    ("sample_kl", .array(sampleKL.map { .double($0) })), ("logit_mse", .double(mse))])))
                }
                try printJSON(.object(o))
            case .table:
                print("model        \(model)")
                print("samples      \(set.samples.count)   tokens \(grouped(m.tokens))   predicted \(grouped(m.predictedTokens))")
                print(String(format: "loss         %.4f nats/token   perplexity %.3f", m.loss, m.perplexity)
                      + (m.lossStandardError.map { String(format: "   per-sample mean %.4f ± %.4f (standard error, %d samples)", m.sampleLosses.reduce(0, +) / Double(m.sampleLosses.count), $0, m.sampleLosses.count) } ?? ""))
                print(String(format: "throughput   %.1f tokens/s (%.2f s)", m.tokensPerSecond, m.seconds))
                print(String(format: "peak memory  %.1f MiB resident (activation budget %@ per batch)", Double(peak) / 1_048_576, gib(net.batchBudgetBytes)))
                if let logitsOut { print("logits       \(logitsOut)") }
                if let reference {
                    print(String(format: "reference    %@: loss %.4f; KL(reference ‖ model) %.4f nats/token; logit MSE %.4f", reference, refLoss, kl, mse)
                          + (standardError(sampleKL).map { String(format: "; per-sample KL %.4f ± %.4f (standard error)", sampleKL.reduce(0, +) / Double(sampleKL.count), $0) } ?? ""))
                }
                if perSample {
                    print("")
                    let header = ["sample", "tokens", "loss"] + (reference != nil ? ["KL"] : [])
                    let rows = set.samples.indices.map { b in
                        ["\(b)", "\(set.samples[b].count)", String(format: "%.4f", m.sampleLosses[b])]
                            + (reference != nil ? [String(format: "%.5f", sampleKL[b])] : [])
                    }
                    print(renderTable(header: header, rows: rows))
                }
            }
        }
    }
}
