import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which tensors go into which weight file, and how many bytes each holds (formats.md §2).
/// Printed by `--dry-run`; ``CheckpointWriter`` writes exactly this plan.
public struct ShardPlan: Sendable, Equatable {
    public struct Shard: Sendable, Equatable {
        /// `model.safetensors` or `model-0000k-of-0000n.safetensors` (1-based, 5 digits).
        public let fileName: String
        public let entries: [SafetensorsStreamWriter.Entry]
        /// Bytes of tensor data (headers excluded), as in the index's `total_size`.
        public var dataBytes: Int { entries.reduce(0) { $0 + $1.byteCount } }
    }

    public let shards: [Shard]
    /// Whether an index file is written (more than one shard).
    public var isSharded: Bool { shards.count > 1 }
    /// Sum of tensor bytes over all shards.
    public var totalBytes: Int { shards.reduce(0) { $0 + $1.dataBytes } }

    /// Greedy, in the given order (like transformers and mergekit): a new shard starts when adding the
    /// next tensor would exceed `maxShardBytes`; a tensor bigger than the limit gets a shard of its own.
    public init(tensors: [SafetensorsStreamWriter.Entry], maxShardBytes: Int) {
        var groups = [[SafetensorsStreamWriter.Entry]]()
        var current = [SafetensorsStreamWriter.Entry](), bytes = 0
        for t in tensors {
            if !current.isEmpty && bytes + t.byteCount > maxShardBytes {
                groups.append(current); current = []; bytes = 0
            }
            current.append(t); bytes += t.byteCount
        }
        if !current.isEmpty || groups.isEmpty { groups.append(current) }
        let n = groups.count
        shards = groups.enumerated().map { k, g in
            Shard(fileName: n == 1 ? ModelFolder.singleName : Self.shardName(k + 1, of: n), entries: g)
        }
    }

    /// `model-00002-of-00005.safetensors`
    public static func shardName(_ k: Int, of n: Int) -> String {
        func five(_ v: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, 5 - s.count)) + s }
        return "model-\(five(k))-of-\(five(n)).safetensors"
    }

    /// The `model.safetensors.index.json` content (only meaningful when sharded).
    public var indexJSON: JSONValue {
        var map = [(String, JSONValue)]()
        for s in shards { for e in s.entries { map.append((e.name, .string(s.fileName))) } }
        return .object([("metadata", .object([("total_size", .int(totalBytes))])), ("weight_map", .object(map))])
    }

    /// Machine-readable plan for `--dry-run --format json`.
    public var json: JSONValue {
        .object([("total_bytes", .int(totalBytes)), ("index", .bool(isSharded)),
                 ("shards", .array(shards.map { s in
                     .object([("file", .string(s.fileName)), ("bytes", .int(s.dataBytes)), ("tensors", .array(s.entries.map { .string($0.name) }))])
                 }))])
    }

    /// One line per shard, for `--dry-run`.
    public var table: String {
        var lines = shards.map { s in
            "\(s.fileName)  \(s.entries.count) tensors  \(s.dataBytes) bytes (\(String(format: "%.3f", Double(s.dataBytes) / 1_073_741_824)) GiB)"
        }
        if isSharded { lines.append("\(ModelFolder.indexName)  total_size \(totalBytes)") }
        return lines.joined(separator: "\n")
    }
}

/// Writes a Hugging Face model folder tensor by tensor (formats.md §2; mergekit's writer is the model).
///
/// Only one tensor's Float32 values are held at a time: the caller's `produce` closure makes each tensor
/// (for `prune`, by slicing the source). Shards are written under hidden temporary names
/// (`.model-00001-of-00003.safetensors.partial`), renamed only when all are written, and the index is
/// written last, so an interrupted or failed write never leaves a folder that looks complete. On any
/// error every file this writer created is removed. The result is re-opened strictly with ``ModelFolder``.
///
/// Refuses to write into the source folder (compared by resolved real paths) and, unless `force`,
/// into a non-empty folder.
public final class CheckpointWriter {
    public typealias Entry = SafetensorsStreamWriter.Entry

    /// 5 GB, transformers' default `max_shard_size`.
    public static let defaultMaxShardBytes = 5_000_000_000
    /// Files copied unchanged from a source folder when present (formats.md §2).
    public static let standardExtraFiles = ["generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                            "special_tokens_map.json", "chat_template.jinja", "configuration_nemotron_h.py",
                                            "modeling_nemotron_h.py", "README.md"]

    public let outputDir: String
    public let sourceDir: String?
    public let force: Bool
    public let maxShardBytes: Int
    /// When set, every tensor is written in this dtype (and config.json's `torch_dtype` / `dtype` says so);
    /// when nil each entry keeps its own dtype.
    public let dtype: DType?

    /// Files created so far (temporary and final), removed on failure.
    private var created = [String]()

    /// - Parameters:
    ///   - outputDir: the folder to write; created when missing.
    ///   - sourceDir: the folder extra files are copied from; never written to.
    ///   - force: allow a non-empty `outputDir` (stale weight files and index in it are replaced).
    ///   - maxShardBytes: tensor bytes per shard (the header is not counted, as in transformers).
    ///   - dtype: output dtype for every tensor, or nil to keep each entry's.
    public init(outputDir: String, sourceDir: String? = nil, force: Bool = false,
                maxShardBytes: Int = CheckpointWriter.defaultMaxShardBytes, dtype: DType? = .BF16) {
        self.outputDir = outputDir
        self.sourceDir = sourceDir
        self.force = force
        self.maxShardBytes = maxShardBytes
        self.dtype = dtype
    }

    /// The extra files of ``standardExtraFiles`` that exist in `folder`.
    public static func existingExtraFiles(in folder: String) -> [String] {
        standardExtraFiles.filter { FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent($0)) }
    }

    /// Entries with the writer's dtype applied.
    public func outputEntries(_ tensors: [Entry]) -> [Entry] {
        guard let dtype else { return tensors }
        return tensors.map { Entry(name: $0.name, dtype: dtype, shape: $0.shape) }
    }

    /// The shard plan ``write(config:tensors:extraFiles:extraJSON:produce:)`` would follow. Writes nothing.
    public func dryRunPlan(tensors: [Entry]) -> ShardPlan {
        ShardPlan(tensors: outputEntries(tensors), maxShardBytes: maxShardBytes)
    }

    // MARK: - Writing

    /// Writes config.json, the weights (sharded when bigger than `maxShardBytes`), the index (last),
    /// `extraFiles` copied from `sourceDir` and `extraJSON` files (name, value), then verifies the folder.
    ///
    /// - Parameters:
    ///   - config: the architecture of the output; must imply exactly `tensors` (names and shapes).
    ///   - tensors: every tensor, in file order.
    ///   - extraFiles: bare file names in `sourceDir` to copy unchanged (e.g. tokenizer.json).
    ///   - extraJSON: bare file names and JSON values to write (e.g. a record of how the folder was made).
    ///   - produce: returns one tensor's values (row-major, `elementCount` floats); called once per tensor, in order.
    /// - Returns: the plan that was written.
    /// - Throws: ``CheckpointError/write(path:message:)`` for refused destinations and I/O failures
    ///   (read-only, disk full), ``CheckpointError/mismatch(tensor:message:)`` when `tensors` do not match
    ///   `config`; any error `produce` throws. On error, every file this call created is removed.
    @discardableResult
    public func write(config: NemotronHConfig, tensors: [Entry], extraFiles: [String] = [],
                      extraJSON: [(String, JSONValue)] = [], produce: (Entry) throws -> [Float]) throws -> ShardPlan {
        try write(config: config, tensors: tensors, extraFiles: extraFiles, extraJSON: extraJSON) { e, w, tmp in
            let values = try produce(e)
            guard values.count == e.elementCount else {
                throw CheckpointError.write(path: tmp, message: "producer gave \(values.count) values for '\(e.name)', expected \(e.elementCount) (shape \(e.shape))")
            }
            try w.append(e.name, values)
        }
    }

    /// Like ``write(config:tensors:extraFiles:extraJSON:produce:)``, but each tensor is produced in parts of at
    /// most `chunkElements` values: `read(entry, from, count, out)` fills elements [from, from + count) of the
    /// tensor (row-major) into `out`. Peak memory is one chunk (`chunkElements × 4` bytes) instead of one
    /// whole fp32 tensor.
    @discardableResult
    public func write(config: NemotronHConfig, tensors: [Entry], extraFiles: [String] = [], extraJSON: [(String, JSONValue)] = [],
                      chunkElements: Int, read: (Entry, Int, Int, UnsafeMutablePointer<Float>) throws -> Void) throws -> ShardPlan {
        precondition(chunkElements > 0, "chunkElements must be positive")
        return try write(config: config, tensors: tensors, extraFiles: extraFiles, extraJSON: extraJSON) { e, w, _ in
            var buffer = [Float](repeating: 0, count: min(chunkElements, max(e.elementCount, 1)))
            var from = 0
            while from < e.elementCount {
                let n = min(buffer.count, e.elementCount - from)
                try buffer.withUnsafeMutableBufferPointer { b in
                    try read(e, from, n, b.baseAddress!)
                    try w.appendPart(e.name, UnsafeBufferPointer(start: b.baseAddress!, count: n))
                }
                from += n
            }
            if e.elementCount == 0 { try w.append(e.name, []) }
        }
    }

    private func write(config: NemotronHConfig, tensors: [Entry], extraFiles: [String], extraJSON: [(String, JSONValue)],
                       emit: (Entry, SafetensorsStreamWriter, String) throws -> Void) throws -> ShardPlan {
        created = []
        try checkDestination()
        try checkTensors(config: config, tensors)
        let plan = dryRunPlan(tensors: tensors)
        let reserved: Set<String> = Set(plan.shards.map(\.fileName) + ["config.json", ModelFolder.indexName])
        for name in extraFiles + extraJSON.map(\.0) {
            guard ModelFolder.isBareFileName(name), !reserved.contains(name) else {
                throw CheckpointError.write(path: outputDir, message: "extra file name \"\(name)\" must be a bare file name other than config.json and the weight files")
            }
        }
        if !extraFiles.isEmpty {
            guard let sourceDir else { throw CheckpointError.write(path: outputDir, message: "extra files \(extraFiles) given without a source folder") }
            for name in extraFiles where !FileManager.default.fileExists(atPath: (sourceDir as NSString).appendingPathComponent(name)) {
                throw CheckpointError.write(path: sourceDir, message: "extra file \"\(name)\" to copy does not exist in the source folder")
            }
        }
        removeLeftoverTemporaries()
        try checkFreeSpace(plan.totalBytes)
        do {
            try createOutputDir()
            try writeAndCommit(plan: plan, config: config, extraFiles: extraFiles, extraJSON: extraJSON, emit: emit)
            try verify(config: config)
        } catch {
            removeCreated()
            throw error
        }
        created = []
        return plan
    }

    private func path(_ name: String) -> String { (outputDir as NSString).appendingPathComponent(name) }
    private func tempPath(_ name: String) -> String { path(".\(name).partial") }

    /// Whether `name` is one of this writer's temporary names (`.<file>.partial`).
    static func isTemporaryName(_ name: String) -> Bool { name.hasPrefix(".") && name.hasSuffix(".partial") && name.count > 9 }

    /// Removes temporary files an interrupted earlier write left in the output folder.
    private func removeLeftoverTemporaries() {
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: outputDir)) ?? []
        for name in contents where Self.isTemporaryName(name) { unlink(path(name)) }
    }

    private func writeAndCommit(plan: ShardPlan, config: NemotronHConfig, extraFiles: [String],
                                extraJSON: [(String, JSONValue)], emit: (Entry, SafetensorsStreamWriter, String) throws -> Void) throws {
        // 1. Weights, under temporary names.
        for shard in plan.shards {
            let tmp = tempPath(shard.fileName)
            created.append(tmp)
            let w = try SafetensorsStreamWriter(path: tmp, entries: shard.entries)
            do {
                for e in shard.entries { try emit(e, w, tmp) }
                try w.finish()
            } catch { w.abandon(); throw error }
        }
        // 2. config.json and the other small files, under temporary names.
        var small = [(String, Data)]()
        small.append(("config.json", jsonFileData(outputConfigJSON(config, plan: plan))))
        for (name, value) in extraJSON { small.append((name, jsonFileData(value))) }
        for (name, data) in small {
            let tmp = tempPath(name)
            created.append(tmp)
            try writeFile(tmp, data)
        }
        for name in extraFiles {
            let tmp = tempPath(name)
            created.append(tmp)
            try copyFile((sourceDir! as NSString).appendingPathComponent(name), to: tmp)
        }
        // 3. Commit: drop a stale index first (it would describe other shards), then stale weight files,
        //    then rename small files, then weights, and write the index last.
        try removeStaleWeights(keeping: Set(plan.shards.map(\.fileName)))
        for name in small.map(\.0) + extraFiles { try rename(name) }
        for shard in plan.shards { try rename(shard.fileName) }
        if plan.isSharded {
            let tmp = tempPath(ModelFolder.indexName)
            created.append(tmp)
            try writeFile(tmp, jsonFileData(plan.indexJSON))
            try rename(ModelFolder.indexName)
        }
    }

    /// config.json: the config's JSON (every unknown key kept, bare `Infinity` kept) with the dtype key
    /// updated when all weights share one dtype.
    private func outputConfigJSON(_ config: NemotronHConfig, plan: ShardPlan) -> JSONValue {
        var j = config.updatedJSON()
        let dtypes = Set(plan.shards.flatMap { $0.entries.map(\.dtype) })
        if dtypes.count == 1, let name = dtypes.first?.torchName {
            if j["dtype"] != nil { j = j.setting("dtype", .string(name)) }
            if j["torch_dtype"] != nil || j["dtype"] == nil { j = j.setting("torch_dtype", .string(name)) }
        }
        return j
    }

    private func jsonFileData(_ v: JSONValue) -> Data { Data((JSONWriter(indent: 2).string(v) + "\n").utf8) }

    // MARK: - Checks

    private func checkDestination() throws {
        let fm = FileManager.default
        if let sourceDir {
            let src = resolvedPath(sourceDir)
            let out = resolvedPath(outputDir)
            guard src != out else {
                throw CheckpointError.write(path: outputDir, message: "refusing to write into the source folder \(sourceDir) (both resolve to \(src)); choose a new output folder")
            }
            guard !out.hasPrefix(src.hasSuffix("/") ? src : src + "/") else {
                throw CheckpointError.write(path: outputDir, message: "refusing to write inside the source folder \(sourceDir) (\(out) is below \(src)); choose an output folder outside it")
            }
        }
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: outputDir, isDirectory: &isDir) {
            guard isDir.boolValue else { throw CheckpointError.write(path: outputDir, message: "exists and is not a directory") }
            // Temporary files of an earlier write that was killed (signal, power loss) do not count: they are
            // removed before writing, so rerunning the interrupted command completes.
            let contents = ((try? fm.contentsOfDirectory(atPath: outputDir)) ?? []).filter { !Self.isTemporaryName($0) }
            if !contents.isEmpty && !force {
                throw CheckpointError.write(path: outputDir, message: "the output folder is not empty (\(contents.count) entries); choose an empty folder or pass --force to overwrite")
            }
        }
    }

    private func checkTensors(config: NemotronHConfig, _ tensors: [Entry]) throws {
        let expected = config.expectedTensors()
        var given = [String: [Int]]()
        for t in tensors {
            guard given.updateValue(t.shape, forKey: t.name) == nil else {
                throw CheckpointError.mismatch(tensor: t.name, message: "listed twice in the tensors to write")
            }
        }
        for (name, shape) in expected {
            guard let s = given[name] else { throw CheckpointError.mismatch(tensor: name, message: "not among the tensors to write (expected shape \(shape) from the target config)") }
            guard s == shape else { throw CheckpointError.mismatch(tensor: name, message: "shape \(s) to write, but the target config implies \(shape)") }
        }
        let names = Set(expected.map(\.name))
        for t in tensors where !names.contains(t.name) {
            throw CheckpointError.mismatch(tensor: t.name, message: "to be written, but the target config implies no such key")
        }
        for e in outputEntries(tensors) where !SafetensorsStreamWriter.writableDTypes.contains(e.dtype) || e.dtype == .I32 {
            throw CheckpointError.write(path: outputDir, message: "cannot write '\(e.name)' as \(e.dtype.rawValue); use F32, F16 or BF16")
        }
    }

    /// Fails early, with a clear message, when the destination cannot hold the weights.
    private func checkFreeSpace(_ bytes: Int) throws {
        var probe = outputDir
        while !FileManager.default.fileExists(atPath: probe) && probe != "/" && !probe.isEmpty {
            probe = (probe as NSString).deletingLastPathComponent
        }
        var st = statvfs()
        guard statvfs(probe.isEmpty ? "." : probe, &st) == 0 else { return }
        if st.f_flag & UInt(ST_RDONLY) != 0 {
            throw CheckpointError.write(path: outputDir, message: "the destination is on a read-only file system; choose another output folder")
        }
        let free = Int(st.f_bavail) * Int(st.f_frsize)
        if free < bytes {
            throw CheckpointError.write(path: outputDir, message: "not enough space: the weights need \(bytes) bytes but only \(free) are free; free space or choose another output folder")
        }
    }

    private func verify(config: NemotronHConfig) throws {
        let folder = try ModelFolder(path: outputDir, strict: true)
        let n = folder.tensorParameterCount
        guard n == config.parameterCount else {
            throw CheckpointError.mismatch(tensor: "(all)", message: "the written folder \(outputDir) holds \(n) parameters but config.json implies \(config.parameterCount)")
        }
    }

    // MARK: - File operations

    private func createOutputDir() throws {
        // POSIX mkdir, so the errno (read-only, no permission, not a directory) reaches the message.
        var missing = [String]()
        var p = (outputDir as NSString).standardizingPath
        while !p.isEmpty && p != "/" && !FileManager.default.fileExists(atPath: p) {
            missing.append(p); p = (p as NSString).deletingLastPathComponent
        }
        for d in missing.reversed() where mkdir(d, 0o755) != 0 && errno != EEXIST {
            throw CheckpointError.write(path: outputDir, message: "cannot create the output folder \(d): \(describeWriteErrno(errno))")
        }
    }

    private func writeFile(_ p: String, _ data: Data) throws {
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointError.write(path: p, message: "cannot create file: \(describeWriteErrno(errno))") }
        defer { close(fd) }
        try data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let r = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if r < 0 {
                    if errno == EINTR { continue }
                    throw CheckpointError.write(path: p, message: "write failed: \(describeWriteErrno(errno))")
                }
                done += r
            }
        }
        guard fsync(fd) == 0 else { throw CheckpointError.write(path: p, message: "fsync failed: \(describeWriteErrno(errno))") }
    }

    private func copyFile(_ from: String, to: String) throws {
        guard let data = FileManager.default.contents(atPath: from) else {
            throw CheckpointError.io(file: from, message: "cannot read the extra file to copy")
        }
        try writeFile(to, data)
    }

    private func rename(_ name: String) throws {
        let from = tempPath(name), to = path(name)
        created.append(to)
        guard Glibc.rename(from, to) == 0 else {
            throw CheckpointError.write(path: to, message: "cannot rename \(from) into place: \(describeWriteErrno(errno))")
        }
        created.removeAll { $0 == from }
    }

    /// With `force`, weight files and an index from an earlier write would mix with ours.
    private func removeStaleWeights(keeping: Set<String>) throws {
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: outputDir)) ?? []
        let stale = contents.filter { name in
            name == ModelFolder.indexName || (!keeping.contains(name) &&
                (name == ModelFolder.singleName || (name.hasPrefix("model-") && name.hasSuffix(".safetensors"))))
        }
        // The index first, so the folder never looks like a complete sharded checkpoint midway.
        let ordered = stale.filter { $0 == ModelFolder.indexName } + stale.filter { $0 != ModelFolder.indexName }
        for name in ordered where unlink(path(name)) != 0 && errno != ENOENT {
            throw CheckpointError.write(path: path(name), message: "cannot remove the stale file: \(describeWriteErrno(errno))")
        }
    }

    private func removeCreated() {
        // Final names first (weights and index would make the folder look complete), then temporaries.
        for p in created.reversed() { unlink(p) }
        created = []
    }
}

/// The absolute path with symlinks resolved, for a path that may not exist yet: its nearest existing
/// ancestor is resolved and the rest appended.
func resolvedPath(_ p: String) -> String {
    if let r = realPath(p) { return r }
    let abs = p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
    var head = (abs as NSString).standardizingPath
    var tail = [String]()
    while realPath(head) == nil, head != "/", !head.isEmpty {
        tail.insert((head as NSString).lastPathComponent, at: 0)
        head = (head as NSString).deletingLastPathComponent
    }
    return ([realPath(head) ?? head] + tail).joined(separator: "/").replacingOccurrences(of: "//", with: "/")
}

/// The resolved real path of an existing file or folder, or nil.
func realPath(_ p: String) -> String? {
    guard let r = realpath(p, nil) else { return nil }
    defer { free(r) }
    return String(cString: r)
}

extension DType {
    /// The torch dtype name used in config.json (`torch_dtype` / `dtype`).
    public var torchName: String? {
        switch self {
        case .F32: return "float32"
        case .F16: return "float16"
        case .BF16: return "bfloat16"
        default: return nil
        }
    }
}
