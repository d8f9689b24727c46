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

    @Option(help: "Output format: table or json.")
    var format: OutputFormat = .table

    func run() throws {
        try runReportingErrors {
            let tokenizer = try Tokenizer.load(modelDir: model)
            let set = try CalibrationSet.load(path: dataOptions.data, tokenizer: tokenizer, samples: dataOptions.samples, seqLen: dataOptions.seqLen)
            switch format {
            case .json:
                printJSON(.object([
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
}
