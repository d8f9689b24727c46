import ArgumentParser
import Foundation
import PruneKit

/// Output format shared by the subcommands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Distinct, documented exit codes (see the root command's discussion).
enum ExitCodes {
    static let failure: Int32 = 1
    static let badInput: Int32 = 2
    static let database: Int32 = 3
    static let infeasible: Int32 = 4
}

/// Runs a subcommand body, printing errors as `error: …` on stderr with a distinct exit code.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch {
        let code: Int32
        switch error {
        case is CheckpointError, is ConfigError, is JSONParseError: code = ExitCodes.badInput
        default: code = PruneKitErrors.exitCode(for: error) ?? ExitCodes.failure
        }
        FileHandle.standardError.write(Data("error: \(String(describing: error))\n".utf8))
        throw ExitCode(code)
    }
}

func printJSON(_ v: JSONValue) {
    print(JSONWriter(indent: 2).string(v))
}

/// "1,314,872"
func grouped(_ n: Int) -> String {
    let s = String(n.magnitude)
    var out = ""
    for (i, c) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

func gib(_ bytes: Int) -> String { String(format: "%.2f GiB", Double(bytes) / 1_073_741_824) }

/// `--data/--samples/--seq-len`: a calibration or evaluation set (pruning.md §1).
struct DataOptions: ParsableArguments {
    @Option(help: "Data file: JSONL with {\"text\": …} or {\"input_ids\": […]} per line, or plain text.")
    var data: String

    @Option(help: "Number of sequences N (text: required with --seq-len; ids: at most this many lines).")
    var samples: Int?

    @Option(name: .customLong("seq-len"), help: "Tokens per sequence T.")
    var seqLen: Int?

    func validate() throws {
        if let n = samples, n <= 0 { throw ValidationError("--samples must be > 0, got \(n)") }
        if let t = seqLen, t <= 0 { throw ValidationError("--seq-len must be > 0, got \(t)") }
    }

    /// Loads the set, tokenizing text with MODEL_DIR/tokenizer.json when the file is not pre-tokenized.
    func load(modelDir: String) throws -> CalibrationSet {
        let tokPath = (modelDir as NSString).appendingPathComponent("tokenizer.json")
        let tokenizer = FileManager.default.fileExists(atPath: tokPath) ? try Tokenizer.load(modelDir: modelDir) : nil
        return try CalibrationSet.load(path: data, tokenizer: tokenizer, samples: samples, seqLen: seqLen)
    }
}

/// Peak resident memory of this process in bytes (VmHWM from /proc/self/status).
func peakResidentBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kb * 1024
    }
    return 0
}

/// Prints to stderr.
func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
