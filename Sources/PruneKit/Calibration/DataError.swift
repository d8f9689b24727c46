import Foundation

/// Errors from reading calibration / evaluation data (pruning.md §1). Each names the file and, for JSONL, the
/// 1-based line. CLI exit code 2 (bad input).
public enum DataError: Error, CustomStringConvertible, Equatable {
    case io(file: String, message: String)
    /// The file has no content (or only whitespace).
    case emptyFile(file: String)
    /// A JSONL line is not a JSON object of the expected shape.
    case malformedLine(file: String, line: Int, message: String)
    /// A `{"text": …}` line whose text is missing or not a string.
    case missingText(file: String, line: Int)
    /// A line's kind (`text` vs `input_ids`) differs from the first line's.
    case mixedFormats(file: String, line: Int)
    /// An `input_ids` entry is not an integer in [0, vocab size).
    case badTokenId(file: String, line: Int, message: String)
    /// `samples` (N) or `seqLen` (T) is ≤ 0.
    case invalidCount(option: String, value: Int)
    /// Text input yields fewer tokens than N × T.
    case tooFewTokens(file: String, available: Int, requested: Int, samples: Int, seqLen: Int)
    /// Fewer documents / id lines than N.
    case tooFewSamples(file: String, available: Int, requested: Int)
    /// Text input needs a tokenizer.
    case tokenizerRequired(file: String)


    public var description: String {
        switch self {
        case let .io(f, m): return "\(f): \(m)"
        case let .emptyFile(f): return "\(f): the file is empty (hint: calibration data is JSONL with {\"text\": …} or {\"input_ids\": […]} per line, or plain text)"
        case let .malformedLine(f, l, m): return "\(f):\(l): malformed JSONL line: \(m)"
        case let .missingText(f, l): return "\(f):\(l): missing \"text\" (a string) or \"input_ids\" (an array of token ids)"
        case let .mixedFormats(f, l): return "\(f):\(l): this line's kind (text / input_ids) differs from the first line's"
        case let .badTokenId(f, l, m): return "\(f):\(l): bad token id: \(m)"
        case let .invalidCount(o, v): return "\(o) must be > 0 (got \(v))"
        case let .tooFewTokens(f, a, r, n, t):
            return "\(f): the text has \(a) tokens but \(n) samples × \(t) tokens = \(r) were asked for (hint: ask for fewer samples or shorter sequences — `--samples`/`--seq-len`, or `samples`/`seq_len` in a recipe — or add text)"
        case let .tooFewSamples(f, a, r): return "\(f): \(a) samples available but \(r) were asked for"
        case let .tokenizerRequired(f): return "\(f): text input needs a tokenizer (a model folder with tokenizer.json)"
        }
    }
}
