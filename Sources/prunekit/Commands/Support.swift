import ArgumentParser
import Foundation
import PruneKit

/// Output format shared by the subcommands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// `--format table|json`, for commands that print a result and show no progress.
struct FormatOptions: ParsableArguments {
    @Option(help: "Output format: table or json (json: snake_case keys, non-finite numbers as null; formats.md §7).")
    var format: OutputFormat = .table
}

/// `--format table|json|csv`, for commands that list rows (studies, leaderboards).
struct TableFormatOptions: ParsableArguments {
    @Option(help: "Output format: table, json or csv (json: snake_case keys, non-finite numbers as null; formats.md §7).")
    var format: TableFormat = .table
}

/// `--format table|json` and `--quiet`, for commands that show progress on stderr while they work.
struct OutputOptions: ParsableArguments {
    @OptionGroup var formatOptions: FormatOptions
    @Flag(help: "No progress or log lines on stderr (progress: a bar on a terminal, otherwise a line every PRUNEKIT_PROGRESS_INTERVAL seconds, default 10).")
    var quiet = false
    var format: OutputFormat { formatOptions.format }
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
        let code = error is ValidationError ? ExitStatus.badInput : ExitStatus.code(for: error)
        FileHandle.standardError.write(Data("error: \(String(describing: error))\n".utf8))
        throw ExitCode(code)
    }
}

/// The store `--db` names (or `PRUNEKIT_DB`, or prunekit.sqlite).
func storeLocation(_ db: String?) -> StoreLocation { StoreLocation.resolve(option: db) }

/// Opens the store `--db` names: read-only for reading commands (never created, migrated or written).
func openStore(db: String?, mode: StoreMode) throws -> any StudyStore { try openStore(storeLocation(db), mode: mode) }

/// Opens for writing a store that must already exist (e.g. `annotate`: the study is there or nothing is).
func openExistingStore(db: String?) throws -> any StudyStore {
    let loc = storeLocation(db)
    if case let .sqlite(path) = loc, !FileManager.default.fileExists(atPath: path) { throw StoreError.missing(location: path) }
    return try openStore(loc, mode: .readWrite)
}

/// `--dtype` of an export: bf16, f16, f32 or same.
extension ExportDType: ExpressibleByArgument {
    public init?(argument: String) { guard let d = try? ExportDType.parse(argument) else { return nil }; self = d }
    public static var allValueStrings: [String] { ["bf16", "f16", "f32", "same"] }
}

/// A byte size argument such as `5GB` (10⁹), `500MB`, `2GiB` (2³⁰) or a plain count (``parseByteSize(_:)``).
struct ByteSize: ExpressibleByArgument, Equatable {
    var bytes: Int
    init(bytes: Int) { self.bytes = bytes }
    init?(argument: String) { guard let b = try? parseByteSize(argument) else { return nil }; bytes = b }
    var defaultValueDescription: String { byteString(bytes) }
}

/// A comma-separated list of layer numbers (0-based source numbering), e.g. `3,8`.
struct LayerList: ExpressibleByArgument, Equatable {
    var layers: [Int]
    init?(argument: String) {
        let items = argument.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !items.isEmpty, items.allSatisfy({ $0 != nil }) else { return nil }
        layers = items.map { $0! }
    }
}

/// Prints `v` as `--format json` output: ``PruneKitJSON`` (sorted keys, indented, non-finite numbers as null).
/// - Throws: `EncodingError` for a non-finite number a type did not mark ``FiniteOrNull``.
func printJSON<T: Encodable>(_ v: T) throws {
    print(try PruneKitJSON.string(v, pretty: true))
}

/// Bytes in GiB, MiB, KiB or B (``byteString(_:)``).
func humanBytes(_ bytes: Int) -> String { byteString(bytes) }

func gib(_ bytes: Int) -> String { byteString(bytes) }

/// `--data/--samples/--seq-len`: a calibration or evaluation set (pruning.md §1).
struct DataOptions: ParsableArguments {
    @Option(help: "Data file: JSONL with {\"text\": …} or {\"input_ids\": […]} per line, or plain text.")
    var data: String

    // `.unconditional`: a negative value such as `--seq-len -5` reaches validate() instead of "Missing value".
    @Option(parsing: .unconditional, help: "Number of sequences N (text: required with --seq-len; ids: at most this many lines).")
    var samples: Int?

    @Option(name: .customLong("seq-len"), parsing: .unconditional, help: "Tokens per sequence T.")
    var seqLen: Int?

    @Option(parsing: .unconditional, help: "Skip the first K sequences (e.g. to evaluate on text a search did not see).")
    var skip: Int = 0

    /// Upper bounds that keep N × T and the memory it implies far from overflow.
    static let maxSamples = 1 << 24, maxSeqLen = 1 << 24

    func validate() throws {
        if let n = samples, n <= 0 || n > Self.maxSamples { throw ValidationError("--samples must be in 1...\(Self.maxSamples), got \(n)") }
        if let t = seqLen, t <= 0 || t > Self.maxSeqLen { throw ValidationError("--seq-len must be in 1...\(Self.maxSeqLen), got \(t)") }
        if skip < 0 || skip > Self.maxSamples { throw ValidationError("--skip must be in 0...\(Self.maxSamples), got \(skip)") }
    }

    /// Loads the set, tokenizing text with MODEL_DIR/tokenizer.json when the file is not pre-tokenized.
    /// `vocabSize`: the model's vocab_size; larger ids are an error naming the file and line.
    func load(modelDir: String, vocabSize: Int? = nil) throws -> CalibrationSet {
        let tokPath = (modelDir as NSString).appendingPathComponent("tokenizer.json")
        // Pre-tokenized ids need no tokenizer (an unsupported tokenizer.json must not block them).
        let tokenizer = FileManager.default.fileExists(atPath: tokPath) && !isIDsFile(data) ? try Tokenizer.load(modelDir: modelDir) : nil
        var set = try CalibrationSet.load(path: data, tokenizer: tokenizer, samples: samples.map { $0 + skip }, seqLen: seqLen, vocabSize: vocabSize)
        if skip > 0 { set.samples.removeFirst(min(skip, set.samples.count)) }
        guard !set.samples.isEmpty else { throw DataError.invalidCount(option: "skip (no sequence left after skipping)", value: skip) }
        return set
    }
}

/// Throws unless `path` is missing or a regular file: an output option must never replace a directory, a device
/// (`/dev/null`), a FIFO or a socket by renaming a finished file over it.
func checkReplaceable(_ path: String, option: String) throws {
    var st = stat()
    guard stat(path, &st) == 0 else { return }
    let kind = st.st_mode & S_IFMT
    guard kind == S_IFREG else {
        throw ValidationError("\(option) \(path) exists and is not a regular file (a \(kind == S_IFDIR ? "directory" : "device, FIFO or socket")); give a file path")
    }
}

/// Throws unless `path` may be written as a new output file: a regular file or missing (``checkReplaceable``),
/// not one of `inputs` nor inside one of them (an input model folder, the data file), and not an existing file
/// unless `force`. Paths are compared after resolving symbolic links.
func checkOutputFile(_ path: String, option: String, inputs: [String], force: Bool) throws {
    try checkReplaceable(path, option: option)
    let exists = FileManager.default.fileExists(atPath: path)
    let dir = (path as NSString).deletingLastPathComponent, name = (path as NSString).lastPathComponent
    let resolved = realpathString(path) ?? realpathString(dir.isEmpty ? "." : dir).map { $0 + "/" + name }
    if let target = resolved {
        for input in inputs {
            guard let r = realpathString(input) else { continue }
            if target == r { throw ValidationError("\(option) \(path) is the input \(input); choose another file") }
            if target.hasPrefix(r.hasSuffix("/") ? r : r + "/") {
                throw ValidationError("\(option) \(path) is inside the input folder \(input); write it outside the model folder")
            }
        }
    }
    if exists && !force { throw ValidationError("\(option) \(path) already exists; pass --force to replace it") }
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
func note(_ s: String) {
    if let p = StreamProgress.current { p.interject(s) } else { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}

/// Whether a JSONL file's first non-empty line is an `{"input_ids": …}` record.
/// False for anything unreadable or not a regular file (directories, devices): loading then reports the error.
func isIDsFile(_ path: String) -> Bool {
    var st = stat()
    guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, let h = FileHandle(forReadingAtPath: path) else { return false }
    defer { try? h.close() }
    guard let bytes = try? h.read(upToCount: 4096) else { return false }
    let head = String(decoding: bytes, as: UTF8.self)
    guard let first = head.split(separator: "\n").first(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else { return false }
    return first.contains("\"input_ids\"") && !first.contains("\"text\"")
}

/// ``printJSON(_:)`` for a ``JSONValue`` tree (object keys sorted by the shared encoder).
func printJSON(_ v: JSONValue) throws {
    print(try PruneKitJSON.string(v, pretty: true))
}
