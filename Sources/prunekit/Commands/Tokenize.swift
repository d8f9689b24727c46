import ArgumentParser
import Foundation
import PruneKit

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize calibration data with a model's tokenizer.json and print the ids and fingerprint.",
        discussion: """
        DATA is JSONL ({"text": …} or {"input_ids": […]} per line) or plain text (documents separated by blank \
        lines). With --seq-len, text documents are encoded (BOS from the post-processor, EOS after each), \
        concatenated and cut into --samples sequences of --seq-len tokens. Without it, each document is \
        encoded on its own and printed one line each (for comparing with other tools).
        """
    )

    @Argument(help: "Model folder containing tokenizer.json.")
    var model: String

    @OptionGroup var dataOptions: DataOptions

    @OptionGroup var output: FormatOptions

    @Option(help: "Also write the sequences to this file as JSONL, one {\"input_ids\": […]} per line (usable as --data; written under a temporary name and renamed when complete).")
    var out: String?

    @Flag(help: "Replace an existing --out file.")
    var force = false

    func run() throws {
        try runReportingErrors {
            let tokenizer = try Tokenizer.load(modelDir: model)
            var set = try CalibrationSet.load(path: dataOptions.data, tokenizer: tokenizer, samples: dataOptions.samples.map { $0 + dataOptions.skip },
                                              seqLen: dataOptions.seqLen)
            if dataOptions.skip > 0 { set.samples.removeFirst(min(dataOptions.skip, set.samples.count)) }
            guard !set.samples.isEmpty else { throw DataError.invalidCount(option: "skip (no sequence left after skipping)", value: dataOptions.skip) }
            if let out { try writeIDs(set, to: out) }
            switch output.format {
            case .json:
                try printJSON(.object([
                    ("samples", .array(set.samples.map { .array($0.map { JSONValue.int($0) }) })),
                    ("fingerprint", .string(set.fingerprint)),
                    ("tokens", .int(set.tokenCount)),
                ]))
            case .table:
                for s in set.samples { print(s.map(String.init).joined(separator: " ")) }
                print("samples: \(set.samples.count)  tokens: \(grouped(set.tokenCount))  fingerprint: \(set.fingerprint)")
            }
        }
    }

    /// Writes `{"input_ids": […]}` lines to `path` via a hidden temporary file renamed when complete.
    private func writeIDs(_ set: CalibrationSet, to path: String) throws {
        try checkOutputFile(path, option: "--out", inputs: [model, dataOptions.data], force: force)
        var text = ""
        for s in set.samples { text += "{\"input_ids\": [" + s.map(String.init).joined(separator: ", ") + "]}\n" }
        let dir = (path as NSString).deletingLastPathComponent, name = (path as NSString).lastPathComponent
        let tmp = (dir.isEmpty ? "" : dir + "/") + "." + name + ".partial"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: tmp))
        } catch {
            unlink(tmp)
            throw DataError.io(file: path, message: "cannot write: \(error.localizedDescription)")
        }
        guard rename(tmp, path) == 0 else {
            let e = String(cString: strerror(errno))
            unlink(tmp)
            throw DataError.io(file: path, message: "cannot rename the finished file into place: \(e)")
        }
    }
}

/// The resolved real path of an existing file, or nil.
func realpathString(_ p: String) -> String? {
    guard let r = realpath(p, nil) else { return nil }
    defer { free(r) }
    return String(cString: r)
}
