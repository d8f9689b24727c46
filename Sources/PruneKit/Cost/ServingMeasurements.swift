import Crypto
import Foundation

/// Errors reading measured serving runs; every one names the file and line (exit code 2).
public struct MeasurementError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    /// 1-based line (the CSV header is line 1); 0 for a whole file (a vLLM JSON).
    public var line: Int
    public var message: String
    public init(file: String, line: Int, message: String) { self.file = file; self.line = line; self.message = message }
    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}
extension MeasurementError: LocalizedError { public var errorDescription: String? { description } }

/// One measured serving run (a `vllm bench throughput` run or equivalent): the model, the workload and what was measured.
public struct ServingRun: Sendable {
    /// Where it was read: file and 1-based line (0 for a whole vLLM JSON file).
    public var file: String
    public var line: Int
    /// The model as written, and its config.
    public var model: String
    public var config: NemotronHConfig
    /// ISL and OSL, tokens.
    public var inputLength: Int
    public var outputLength: Int
    /// `--num-prompts`; nil for a steady-state measurement at `maxNumSeqs` (e.g. `vllm bench serve --max-concurrency`).
    public var numPrompts: Int?
    /// `--max-num-seqs` / `--max-concurrency` of the run (nil: vLLM's default).
    public var maxNumSeqs: Int?
    /// Concurrency the run reached, if known (vLLM logs "Maximum concurrency for N tokens per request"); replaces the
    /// memory model's figure.
    public var concurrency: Int?
    public var weightDType: CostDType
    public var kvCacheDType: CostDType
    /// `--gpu-memory-utilization` of the run (nil: the calibration's default).
    public var gpuMemoryUtilization: Double?
    /// Measured output tokens/s (the fitted quantity), and optionally total tokens/s, mean TTFT and TPOT (ms).
    public var outputTokensPerSecond: Double
    public var totalTokensPerSecond: Double?
    public var ttftMs: Double?
    public var tpotMs: Double?

    /// "file:line" (or the file for a whole-file run).
    public var location: String { line > 0 ? "\((file as NSString).lastPathComponent):\(line)" : (file as NSString).lastPathComponent }
    /// What makes two runs the same experiment.
    var key: String {
        "\(model)|\(inputLength)|\(outputLength)|\(numPrompts.map(String.init) ?? "-")|\(maxNumSeqs.map(String.init) ?? "-")|\(concurrency.map(String.init) ?? "-")|\(weightDType)|\(kvCacheDType)|\(gpuMemoryUtilization.map { "\($0)" } ?? "-")"
    }
}

/// Reads measured serving runs from CSV, JSONL, or the JSON `vllm bench throughput --output-json` writes.
///
/// **CSV / JSONL columns** (CSV: a header line; JSONL: one object per line; unknown columns are errors):
/// `model` (folder or config.json, relative to the measurements file), `isl`, `osl`, `num_prompts` and/or
/// `max_concurrency` (vLLM `--max-num-seqs`), optional `concurrency` (observed), `dtype` (weights, default bf16),
/// optional `kv_cache_dtype` (default: `dtype`; `auto` = `dtype`), optional `gpu_memory_utilization`,
/// `output_tokens_per_second` — or `total_tokens_per_second`, or `vllm_json` (a `--output-json` file, relative to
/// the measurements file) — and optional `ttft_ms`, `tpot_ms`.
///
/// **vLLM JSON** (vllm/benchmarks/throughput.py): reads `elapsed_time` (s), `num_requests`, `total_num_tokens`
/// (prompt + output tokens) and `tokens_per_second`; the file names no model or lengths, so they come from the
/// row (`vllm_json` column) or from ``Defaults`` (`--model`, `--isl`, `--osl` of the calibrate command).
/// Output tokens/s = `num_requests × OSL / elapsed_time`; a warning when `total_num_tokens` is not
/// `num_requests × (ISL + OSL)` within 1 % (e.g. `--random-range-ratio` ≠ 0).
public struct ServingMeasurements: Sendable {
    /// The runs, in file order.
    public var runs: [ServingRun]
    /// Warnings naming file and line (duplicates, inconsistent totals, a run needing more memory than modelled…).
    public var warnings: [String]
    /// SHA-256 (hex) of the bytes of every file read (measurement files, then each vLLM JSON), in order.
    public var sha256: String
    /// Every file read (measurement files, each referenced vLLM JSON and model config.json), as given or
    /// resolved, in order: none of them may be an output.
    public var files: [String]

    /// What a whole vLLM JSON file given on its own does not say; also what a CSV or JSONL row without these
    /// columns ran (its own columns win). Give `model` as an absolute path (a relative one is read relative to
    /// the measurements file, like a row's).
    public struct Defaults: Sendable {
        public var model: String?
        public var inputLength: Int?
        public var outputLength: Int?
        public var dtype: String
        public init(model: String? = nil, inputLength: Int? = nil, outputLength: Int? = nil, dtype: String = "bf16") {
            self.model = model; self.inputLength = inputLength; self.outputLength = outputLength; self.dtype = dtype
        }
    }

    static let columns = ["model", "isl", "osl", "num_prompts", "max_concurrency", "concurrency", "dtype", "kv_cache_dtype",
                          "gpu_memory_utilization", "output_tokens_per_second", "total_tokens_per_second", "ttft_ms", "tpot_ms", "vllm_json"]

    /// Reads `paths` (`.csv`, `.jsonl`, or a vLLM `.json`).
    /// - Throws: ``MeasurementError`` naming file and line: unreadable file, unknown column, unknown model, missing,
    ///   non-positive or non-finite number, exact duplicate run.
    public static func load(paths: [String], defaults: Defaults = Defaults()) throws -> ServingMeasurements {
        var reader = Reader(defaults: defaults)
        for p in paths { try reader.read(path: p) }
        try reader.checkDuplicates()
        return ServingMeasurements(runs: reader.runs, warnings: reader.warnings,
                                   sha256: reader.hash.finalize().map { String(format: "%02x", $0) }.joined(), files: reader.files)
    }

    struct Reader {
        var defaults: Defaults
        var runs: [ServingRun] = []
        var warnings: [String] = []
        var hash = SHA256()
        var files: [String] = []
        var configs: [String: NemotronHConfig] = [:]

        init(defaults: Defaults) { self.defaults = defaults }

        mutating func bytes(_ path: String, file: String, line: Int) throws -> Data {
            do {
                let d = try readRegularFile(path)
                hash.update(data: d)
                files.append(path)
                return d
            } catch let e as FileAccessError { throw MeasurementError(file: file, line: line, message: "cannot read \(path): \(e.message)") }
        }

        mutating func read(path: String) throws {
            let data = try bytes(path, file: path, line: 0)
            guard let text = String(data: data, encoding: .utf8) else { throw MeasurementError(file: path, line: 0, message: "not UTF-8 text") }
            let ext = (path as NSString).pathExtension.lowercased()
            switch ext {
            case "csv":
                let rows = try CSV.parse(text, file: path)
                guard let header = rows.first else { throw MeasurementError(file: path, line: 0, message: "empty file (expected a header line: \(ServingMeasurements.columns.joined(separator: ",")))") }
                let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                for (i, n) in names.enumerated() {
                    guard ServingMeasurements.columns.contains(n) else {
                        throw MeasurementError(file: path, line: header.line, message: "unknown column \"\(n)\" (column \(i + 1)); allowed: \(ServingMeasurements.columns.joined(separator: ", "))")
                    }
                    if let first = names.firstIndex(of: n), first < i {
                        throw MeasurementError(file: path, line: header.line, message: "column \"\(n)\" appears twice (columns \(first + 1) and \(i + 1))")
                    }
                }
                for row in rows.dropFirst() {
                    if row.fields.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { continue }
                    guard row.fields.count == names.count else {
                        throw MeasurementError(file: path, line: row.line, message: "\(row.fields.count) fields, the header has \(names.count)")
                    }
                    var fields = [String: String]()
                    for (n, v) in zip(names, row.fields) { let t = v.trimmingCharacters(in: .whitespaces); if !t.isEmpty { fields[n] = t } }
                    try add(withDefaults(fields), file: path, line: row.line)
                }
            case "jsonl":
                for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let lineText = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                    if lineText.isEmpty { continue }
                    let json: JSONValue
                    do { json = try JSONParser(allowNonFinite: true).parse(lineText) } catch {
                        throw MeasurementError(file: path, line: i + 1, message: "not valid JSON: \(error)")
                    }
                    guard let obj = json.objectValue else { throw MeasurementError(file: path, line: i + 1, message: "expected a JSON object") }
                    var fields = [String: String]()
                    for (k, v) in obj {
                        guard ServingMeasurements.columns.contains(k) else {
                            throw MeasurementError(file: path, line: i + 1, message: "unknown key \"\(k)\"; allowed: \(ServingMeasurements.columns.joined(separator: ", "))")
                        }
                        if v.isNull { continue }
                        fields[k] = v.stringValue ?? JSONWriter(indent: nil).string(v)
                    }
                    try add(withDefaults(fields), file: path, line: i + 1)
                }
            case "json":
                let json: JSONValue
                do { json = try JSONParser().parse(data) } catch { throw MeasurementError(file: path, line: 0, message: "not valid JSON: \(error)") }
                var fields = [String: String]()
                if let m = defaults.model { fields["model"] = m }
                if let i = defaults.inputLength { fields["isl"] = "\(i)" }
                if let o = defaults.outputLength { fields["osl"] = "\(o)" }
                fields["dtype"] = defaults.dtype
                try add(fields, file: path, line: 0, vllm: (json, path))
            default:
                throw MeasurementError(file: path, line: 0, message: "unknown measurement file type \".\(ext)\"; expected .csv, .jsonl, or the .json of `vllm bench throughput --output-json`")
            }
        }

        /// A CSV or JSONL row with `model`, `isl` or `osl` missing takes them from ``Defaults`` (the command's
        /// `--model`, `--isl`, `--osl`); a row's own value wins.
        func withDefaults(_ row: [String: String]) -> [String: String] {
            var f = row
            if f["model"] == nil, let m = defaults.model { f["model"] = m }
            if f["isl"] == nil, let i = defaults.inputLength { f["isl"] = "\(i)" }
            if f["osl"] == nil, let o = defaults.outputLength { f["osl"] = "\(o)" }
            return f
        }

        func baseDir(_ file: String) -> String {
            let d = (file as NSString).deletingLastPathComponent
            return d.isEmpty ? "." : d
        }
        func resolve(_ p: String, against file: String) -> String {
            p.hasPrefix("/") ? p : ((baseDir(file) as NSString).appendingPathComponent(p) as NSString).standardizingPath
        }

        mutating func config(_ model: String, file: String, line: Int) throws -> NemotronHConfig {
            let path = resolve(model, against: file)
            if let c = configs[path] { return c }
            var isDir: ObjCBool = false
            let configPath: String
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                configPath = (path as NSString).appendingPathComponent("config.json")
            } else { configPath = path }
            guard FileManager.default.fileExists(atPath: configPath) else {
                throw MeasurementError(file: file, line: line, message: "unknown model \"\(model)\": no \(isDir.boolValue ? "config.json in the folder " + path : "folder or config.json at " + path) (paths are relative to the measurements file)")
            }
            do {
                let c = try NemotronHConfig.load(path: configPath)
                configs[path] = c
                files.append(configPath)
                return c
            } catch { throw MeasurementError(file: file, line: line, message: "model \"\(model)\": \(error)") }
        }

        mutating func add(_ f: [String: String], file: String, line: Int, vllm: (JSONValue, String)? = nil) throws {
            func err(_ m: String) -> MeasurementError { MeasurementError(file: file, line: line, message: m) }
            func positiveInt(_ k: String, required: Bool = false) throws -> Int? {
                guard let s = f[k] else {
                    if required { throw err("missing \"\(k)\"" + (vllm != nil && line == 0 ? " (a vLLM JSON does not record it: give --\(k == "model" ? "model" : k) to the calibrate command)" : "")) }
                    return nil
                }
                guard let v = Int(s) ?? Double(s).flatMap({ $0.isFinite && $0 == $0.rounded() ? Int(exactly: $0) : nil }) else { throw err("\"\(k)\" must be a whole number, got \"\(s)\"") }
                guard v > 0 else { throw err("\"\(k)\" must be positive, got \(v)") }
                return v
            }
            func positiveDouble(_ k: String) throws -> Double? {
                guard let s = f[k] else { return nil }
                guard let v = Double(s) else { throw err("\"\(k)\" must be a number, got \"\(s)\"") }
                guard v.isFinite, v > 0 else { throw err("\"\(k)\" must be a positive finite number, got \(s)") }
                return v
            }
            func dtype(_ k: String, _ def: CostDType) throws -> CostDType {
                guard let s = f[k], s.lowercased() != "auto" else { return def }
                guard let d = CostDType(name: s) else { throw err("\"\(k)\": unknown dtype \"\(s)\"; expected one of \(CostDType.allCases.map(\.rawValue).joined(separator: ", "))") }
                return d
            }
            guard let model = f["model"] else { throw err("missing \"model\"" + (line == 0 ? " (a vLLM JSON does not name it: give --model to the calibrate command)" : "")) }
            let isl = try positiveInt("isl", required: true)!, osl = try positiveInt("osl", required: true)!
            for (k, v) in [("isl", isl), ("osl", osl)] where v > CostModel.maxTokens { throw err("\"\(k)\" \(v) is beyond the supported \(CostModel.maxTokens) tokens") }
            var numPrompts = try positiveInt("num_prompts")
            let maxSeqs = try positiveInt("max_concurrency"), conc = try positiveInt("concurrency")
            for (k, v) in [("num_prompts", numPrompts), ("max_concurrency", maxSeqs), ("concurrency", conc)] where (v ?? 0) > CostModel.maxBatch {
                throw err("\"\(k)\" \(v!) is beyond the supported \(CostModel.maxBatch)")
            }
            let w = try dtype("dtype", .bfloat16)
            let kv = try dtype("kv_cache_dtype", w)
            let util = try positiveDouble("gpu_memory_utilization")
            if let u = util, u > 1 { throw err("\"gpu_memory_utilization\" must be in (0, 1], got \(u)") }
            var out = try positiveDouble("output_tokens_per_second")
            var total = try positiveDouble("total_tokens_per_second")
            let ttft = try positiveDouble("ttft_ms"), tpot = try positiveDouble("tpot_ms")

            var vllmJSON = vllm
            if let rel = f["vllm_json"] {
                let p = resolve(rel, against: file)
                let d = try bytes(p, file: file, line: line)
                do { vllmJSON = (try JSONParser().parse(d), p) } catch { throw err("vllm_json \(rel): not valid JSON: \(error)") }
            }
            if let (j, jpath) = vllmJSON {
                let name = (jpath as NSString).lastPathComponent
                func num(_ k: String) throws -> Double {
                    guard let v = j[k]?.doubleValue else { throw err("\(name): missing \"\(k)\" (expected the JSON of `vllm bench throughput --output-json`)") }
                    guard v.isFinite, v > 0 else { throw err("\(name): \"\(k)\" must be a positive finite number, got \(v)") }
                    return v
                }
                let elapsed = try num("elapsed_time"), requests = try num("num_requests"), tokens = try num("total_num_tokens")
                guard requests == requests.rounded() else { throw err("\(name): \"num_requests\" must be a whole number, got \(requests)") }
                let n = Int(requests)
                if let given = numPrompts, given != n { throw err("num_prompts \(given) but \(name) has num_requests \(n)") }
                numPrompts = n
                if out != nil || total != nil { throw err("give either vllm_json or measured tokens/s, not both") }
                out = Double(n * osl) / elapsed
                total = tokens / elapsed
                let expected = Double(n * (isl + osl))
                if abs(tokens / expected - 1) > 0.01 {
                    warnings.append("\(file)\(line > 0 ? ":\(line)" : ""): \(name) has total_num_tokens \(Int(tokens)), but \(n) requests × (ISL \(isl) + OSL \(osl)) = \(Int(expected)); were the lengths random (--random-range-ratio) or different from the ones given?")
                }
            }
            if out == nil, let t = total { out = t * Double(osl) / Double(isl + osl) }
            guard let measured = out else { throw err("no measurement: give output_tokens_per_second, total_tokens_per_second or vllm_json") }
            if let t = total, vllmJSON == nil, f["output_tokens_per_second"] != nil {
                let implied = t * Double(osl) / Double(isl + osl)
                if abs(implied / measured - 1) > 0.02 {
                    warnings.append("\(file):\(line): total_tokens_per_second \(t) implies \(String(format: "%.2f", implied)) output tokens/s at ISL \(isl) / OSL \(osl), but output_tokens_per_second is \(measured); fitting the output figure")
                }
            }
            guard numPrompts != nil || maxSeqs != nil || conc != nil else {
                throw err("give num_prompts (vLLM --num-prompts) or max_concurrency (--max-num-seqs / --max-concurrency)")
            }
            let config = try self.config(model, file: file, line: line)
            runs.append(ServingRun(file: file, line: line, model: model, config: config, inputLength: isl, outputLength: osl,
                                   numPrompts: numPrompts, maxNumSeqs: maxSeqs, concurrency: conc, weightDType: w, kvCacheDType: kv,
                                   gpuMemoryUtilization: util, outputTokensPerSecond: measured, totalTokensPerSecond: total,
                                   ttftMs: ttft, tpotMs: tpot))
        }

        /// Same experiment and same figure twice is a copy: error. Same experiment, different figures: repeated
        /// measurements, kept (the fit averages them), with a warning.
        mutating func checkDuplicates() throws {
            var seen = [String: ServingRun]()
            for r in runs {
                if let first = seen[r.key] {
                    if first.outputTokensPerSecond == r.outputTokensPerSecond {
                        throw MeasurementError(file: r.file, line: r.line, message: "duplicate run: same model, ISL, OSL, prompts, concurrency, dtypes and result as \(first.location); remove one")
                    }
                    warnings.append("\(r.file):\(r.line): repeats the experiment of \(first.location) (\(String(format: "%.2f", r.outputTokensPerSecond)) vs \(String(format: "%.2f", first.outputTokensPerSecond)) output tokens/s); both kept as repeated measurements")
                } else { seen[r.key] = r }
            }
        }
    }
}

/// A small RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF; lines starting with `#` are comments), keeping
/// each record's starting line number.
enum CSV {
    struct Row { var line: Int; var fields: [String] }

    static func parse(_ text: String, file: String) throws -> [Row] {
        // Unicode scalars, not Characters: "\r\n" is one Character.
        var rows = [Row](), fields = [String](), field = String.UnicodeScalarView(), inQuotes = false, line = 1, rowLine = 1, quotedField = false
        var it = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? { if let p = pending { pending = nil; return p }; return it.next() }
        func take() { fields.append(String(field)); field = String.UnicodeScalarView() }
        while let c = next() {
            if inQuotes {
                if c == "\"" {
                    if let n = next() { if n == "\"" { field.append("\"") } else { inQuotes = false; pending = n } } else { inQuotes = false }
                } else { if c == "\n" { line += 1 }; field.append(c) }
                continue
            }
            if c == "#" && fields.isEmpty && field.isEmpty && !quotedField {   // a comment line
                while let n = next(), n != "\n" {}
                line += 1; rowLine = line
                continue
            }
            switch c {
            case "\"":
                guard field.isEmpty, !quotedField else { throw MeasurementError(file: file, line: line, message: "a quote inside an unquoted field") }
                inQuotes = true; quotedField = true
            case ",": take(); quotedField = false
            case "\r": break
            case "\n":
                take(); rows.append(Row(line: rowLine, fields: fields))
                fields = []; quotedField = false; line += 1; rowLine = line
            default: field.append(c)
            }
        }
        if inQuotes { throw MeasurementError(file: file, line: rowLine, message: "unterminated quoted field") }
        if !field.isEmpty || !fields.isEmpty { take(); rows.append(Row(line: rowLine, fields: fields)) }
        return rows.filter { !($0.fields.count == 1 && $0.fields[0].trimmingCharacters(in: .whitespaces).isEmpty) }
    }
}
