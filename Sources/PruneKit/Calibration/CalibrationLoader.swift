import Foundation

/// The contents of a calibration data file before tokenization.
public enum CalibrationDocuments: Equatable, Sendable {
    /// Text documents (JSONL `{"text": …}` lines, or plain-text documents).
    case texts([String])
    /// Pre-tokenized samples (JSONL `{"input_ids": […]}` lines).
    case ids([[Int32]])
}

extension CalibrationSet {
    /// Reads a calibration file without tokenizing it.
    ///
    /// Formats, by extension: `.jsonl` / `.json` / `.ndjson` are JSON Lines, each line an object with either a
    /// `"text"` string (an empty one is a document tokenized as BOS only, as Hugging Face does) or an `"input_ids"` integer array (every line of one kind; blank lines are
    /// skipped). Anything else is plain UTF-8 text whose documents are separated by one or more blank
    /// (whitespace-only) lines; a document is its lines joined by "\n".
    /// - Throws: ``DataError`` (`io`, `emptyFile`, `malformedLine` with the 1-based line number, `missingText`,
    ///   `mixedFormats`, `badTokenId`).
    public static func readDocuments(path: String) throws -> CalibrationDocuments { try readNumbered(path: path).documents }

    /// ``readDocuments(path:)`` plus the 1-based line of each document (JSONL; plain text: its first line).
    static func readNumbered(path: String) throws -> (documents: CalibrationDocuments, lines: [Int]) {
        try checkRegularFile(path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError.io(file: path, message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw DataError.io(file: path, message: "not valid UTF-8") }
        if text.allSatisfy({ $0.isWhitespace }) { throw DataError.emptyFile(file: path) }
        let ext = (path as NSString).pathExtension.lowercased()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard ["jsonl", "json", "ndjson"].contains(ext) else {
            var docs = [String](), current = [Substring](), starts = [Int]()
            for (k, line) in lines.enumerated() {
                if line.allSatisfy({ $0.isWhitespace }) {
                    if !current.isEmpty { docs.append(current.joined(separator: "\n")); current = [] }
                } else {
                    if current.isEmpty { starts.append(k + 1) }
                    current.append(line)
                }
            }
            if !current.isEmpty { docs.append(current.joined(separator: "\n")) }
            return (.texts(docs), starts)
        }
        var texts = [String](), ids = [[Int32]](), numbers = [Int]()
        var isText: Bool? = nil
        let parser = JSONParser(allowNonFinite: false, rejectDuplicateKeys: true)
        for (k, line) in lines.enumerated() {
            let lineNo = k + 1
            if line.allSatisfy({ $0.isWhitespace }) { continue }
            let v: JSONValue
            do { v = try parser.parse(String(line)) } catch { throw DataError.malformedLine(file: path, line: lineNo, message: "\(error)") }
            guard v.objectValue != nil else { throw DataError.malformedLine(file: path, line: lineNo, message: "not a JSON object") }
            let lineIsText: Bool
            if let ia = v["input_ids"] {
                guard let arr = ia.arrayValue else { throw DataError.malformedLine(file: path, line: lineNo, message: "\"input_ids\" is not an array") }
                var s = [Int32]()
                s.reserveCapacity(arr.count)
                for (j, x) in arr.enumerated() {
                    guard let i = x.intValue, i >= 0, i <= Int(Int32.max) else {
                        throw DataError.badTokenId(file: path, line: lineNo, message: "input_ids[\(j)] is \(JSONWriter(indent: nil).string(x)); expected a token id (an integer in 0...\(Int32.max))")
                    }
                    s.append(Int32(i))
                }
                if s.isEmpty { throw DataError.malformedLine(file: path, line: lineNo, message: "\"input_ids\" is empty") }
                ids.append(s)
                lineIsText = false
            } else {
                // An empty text is a document (wikitext-style files have empty records): the tokenizer encodes it
                // as BOS only, as Hugging Face `tokenizers` does.
                guard let t = v["text"]?.stringValue else { throw DataError.missingText(file: path, line: lineNo) }
                texts.append(t)
                lineIsText = true
            }
            if let first = isText, first != lineIsText { throw DataError.mixedFormats(file: path, line: lineNo) }
            isText = lineIsText
            numbers.append(lineNo)
        }
        guard let kind = isText else { throw DataError.emptyFile(file: path) }
        return (kind ? .texts(texts) : .ids(ids), numbers)
    }

    /// Throws ``DataError/io(file:message:)`` unless `path` is a regular file (not a directory, device, FIFO…).
    static func checkRegularFile(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw DataError.io(file: path, message: "cannot read the file: \(String(cString: strerror(errno)))") }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFDIR: throw DataError.io(file: path, message: "is a directory; give a data file (JSONL with {\"text\": …} or {\"input_ids\": […]} per line, or plain text)")
        default: throw DataError.io(file: path, message: "is not a regular file (a device, FIFO or socket); give a data file")
        }
    }

    /// Loads a calibration set (pruning.md §1) from a file read by ``readDocuments(path:)``. Deterministic:
    /// documents in file order, no shuffling.
    ///
    /// - Text with `seqLen` T: every document is encoded as the model's tokenizer does (the post-processor adds
    ///   BOS), followed by EOS when `appendEOS` and the tokenizer knows its EOS token (tokenizer_config.json);
    ///   the documents are concatenated and cut into `samples` N consecutive sequences of T tokens (N nil: as
    ///   many whole sequences as fit). This is how `Tests/Fixtures/nemo-tiny/calib-ids.jsonl` was made.
    /// - Text without T: one sample per document (its ids, with BOS, no EOS); N limits the count.
    /// - `input_ids`: one sample per line, truncated to T, used as-is; N limits the count. With a tokenizer,
    ///   ids ≥ its vocab size are an error.
    /// - Throws: ``DataError``: N or T ≤ 0 (`invalidCount`), too few tokens for N×T (`tooFewTokens`, giving
    ///   both numbers), fewer documents/lines than N (`tooFewSamples`), text without a tokenizer, and the
    ///   reading errors of ``readDocuments(path:)``.
    /// - Parameter vocabSize: the model's `vocab_size`: ids at or above it (or the tokenizer's size) are an error
    ///   naming the file, line and position.
    public static func load(path: String, tokenizer: Tokenizer?, samples: Int? = nil, seqLen: Int? = nil,
                            appendEOS: Bool = true, vocabSize: Int? = nil) throws -> CalibrationSet {
        if let n = samples, n <= 0 { throw DataError.invalidCount(option: "samples", value: n) }
        if let t = seqLen, t <= 0 { throw DataError.invalidCount(option: "seq-len", value: t) }
        let (documents, lineNumbers) = try readNumbered(path: path)
        switch documents {
        case let .ids(lines):
            if let n = samples, lines.count < n { throw DataError.tooFewSamples(file: path, available: lines.count, requested: n) }
            let limits = [(tokenizer?.vocabSize, "the tokenizer's vocab size"), (vocabSize, "the model's vocab_size")]
            for case let (v?, what) in limits {
                for (i, s) in lines.prefix(samples ?? lines.count).enumerated() {
                    if let j = s.prefix(seqLen ?? s.count).firstIndex(where: { Int($0) >= v }) {
                        throw DataError.badTokenId(file: path, line: lineNumbers[i], message: "input_ids[\(j)] is \(s[j]), not below \(what) \(v)")
                    }
                }
            }
            let chosen = lines.prefix(samples ?? lines.count).map { s in Array(s.prefix(seqLen ?? s.count)) }
            return CalibrationSet(samples: Array(chosen), source: path)
        case let .texts(docs):
            guard let tok = tokenizer else { throw DataError.tokenizerRequired(file: path) }
            guard let T = seqLen else {
                if let n = samples, docs.count < n { throw DataError.tooFewSamples(file: path, available: docs.count, requested: n) }
                return CalibrationSet(samples: docs.prefix(samples ?? docs.count).map { tok.encode($0) }, source: path)
            }
            let eos = appendEOS ? tok.eosTokenId : nil
            var stream = [Int32]()
            let needed = samples.map { $0 * T }
            for d in docs {
                stream += tok.encode(d)
                if let e = eos { stream.append(e) }
                if let need = needed, stream.count >= need { break }
            }
            let n = samples ?? stream.count / T
            if n == 0 || stream.count < n * T {
                // The loop stops early only when enough tokens were read, so `stream` holds the whole file here.
                throw DataError.tooFewTokens(file: path, available: stream.count, requested: max(n, 1) * T, samples: max(n, 1), seqLen: T)
            }
            return CalibrationSet(samples: (0..<n).map { Array(stream[($0 * T)..<(($0 + 1) * T)]) }, source: path)
        }
    }
}
