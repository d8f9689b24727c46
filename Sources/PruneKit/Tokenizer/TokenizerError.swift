import Foundation

/// Errors from reading a Hugging Face `tokenizer.json` (formats.md §3). Each names the file and the component
/// or key at fault. An unsupported component is always an error, never a silent mis-tokenization.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file does not exist or cannot be read.
    case io(file: String, message: String)
    /// The file is not valid JSON.
    case invalidJSON(file: String, message: String)
    /// A required key is missing or has the wrong JSON type.
    case invalidField(file: String, key: String, message: String)
    /// A component (`normalizer`, `pre_tokenizer`, `model`, `post_processor`, `decoder`) names a `type` (or an
    /// option) that this implementation does not support.
    case unsupported(file: String, component: String, type: String)


    public var description: String {
        switch self {
        case let .io(f, m): return "\(f): \(m)"
        case let .invalidJSON(f, m): return "\(f): not a valid tokenizer.json: \(m)"
        case let .invalidField(f, k, m): return "\(f): tokenizer.json key '\(k)': \(m)"
        case let .unsupported(f, c, t):
            return "\(f): unsupported \(c) type '\(t)' (supported: BPE model; ByteLevel, Split, Sequence pre-tokenizers; "
                + "TemplateProcessing, ByteLevel, Sequence post-processors; ByteLevel decoder; null normalizer)"
        }
    }
}
