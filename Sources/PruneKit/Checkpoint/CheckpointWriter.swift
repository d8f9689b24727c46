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
    public var summary: Summary {
        Summary(totalBytes: totalBytes, index: isSharded,
                shards: shards.map { .init(file: $0.fileName, bytes: $0.dataBytes, tensors: $0.entries.map(\.name)) })
    }

    /// The shard plan as `--dry-run --format json` prints it: total tensor bytes, whether an index is written,
    /// and each shard's file, bytes and tensors.
    public struct Summary: Codable, Sendable, Equatable {
        public struct Shard: Codable, Sendable, Equatable { public var file: String; public var bytes: Int; public var tensors: [String] }
        public var totalBytes: Int
        public var index: Bool
        public var shards: [Shard]
        enum CodingKeys: String, CodingKey { case totalBytes = "total_bytes", index, shards }
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
/// (for `prune`, by slicing the source). Everything is written into a hidden sibling folder
/// (`.OUT.prunekit-partial`, next to OUT) and put in place only when complete and re-opened strictly:
/// a missing or empty OUT is replaced by one `rename`; an existing export (with `force`) is exchanged with
/// the new one atomically (`renameat2(RENAME_EXCHANGE)`; where the file system lacks it, OUT is first moved to
/// `.OUT.prunekit-old` and a later run moves it back if it was interrupted between the two renames). So a
/// process killed at any point leaves OUT as the old export or the new one, never a mix, and an interrupted
/// fresh export leaves nothing that looks like a model. Files of an old OUT that the new export does not write
/// (notes, logs — not weights or the index) are carried over. Leftovers of an interrupted run
/// (``leftovers(outputDir:)``) are removed by the next write and listed in ``removedLeftovers``. On any error
/// every file this writer created is removed.
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
    /// Reports the weights written as step "export" in bytes.
    public var progress: ProgressReporter?
    /// Leftovers of an interrupted earlier run that the last ``write`` removed (paths), for a note to the user.
    public private(set) var removedLeftovers = [String]()

    /// - Parameters:
    ///   - outputDir: the folder to write; created when missing.
    ///   - sourceDir: the folder extra files are copied from; never written to.
    ///   - force: allow a non-empty `outputDir` (its old export is replaced as a whole once the new one is complete).
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

    // MARK: - Leftovers of interrupted runs

    /// The hidden sibling folder a write of `outputDir` is staged in.
    public static func stagingPath(_ outputDir: String) -> String { sibling(outputDir, suffix: "prunekit-partial") }
    /// Where an existing export is parked during a non-atomic swap.
    static func parkedPath(_ outputDir: String) -> String { sibling(outputDir, suffix: "prunekit-old") }

    private static func sibling(_ outputDir: String, suffix: String) -> String {
        let out = resolvedPath(outputDir)
        let parent = (out as NSString).deletingLastPathComponent, name = (out as NSString).lastPathComponent
        return (parent as NSString).appendingPathComponent(".\(name).\(suffix)")
    }

    /// The hidden sibling file a writer of `outputDir` holds an exclusive `flock` on while it writes, so a second
    /// writer of the same folder (another `prunekit prune` at the same time) is refused instead of taking the
    /// first one's staging folder for leftovers. The writer removes it when done; one left by a killed process is
    /// not locked and is taken over by the next writer.
    public static func lockPath(_ outputDir: String) -> String { sibling(outputDir, suffix: "prunekit-lock") }

    /// Takes the write lock of `outputDir` (``lockPath(_:)``) and returns its descriptor; ``unlockOutput(_:)``
    /// removes the file and closes it. The lock is held on the file the path names at that moment (checked by
    /// inode after locking), so a writer that removes the file as it finishes cannot let two others in at once.
    private func lockOutput() throws -> Int32 {
        let path = Self.lockPath(outputDir)
        for _ in 0..<100 {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw CheckpointError.write(path: outputDir, message: "cannot create the lock file \(path) next to it: \(describeWriteErrno(errno))")
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                let e = errno
                close(fd)
                if e == EWOULDBLOCK {
                    throw CheckpointError.write(path: outputDir, message: "another process is writing this folder right now (it holds \(path)); wait for it to finish or choose another output folder")
                }
                throw CheckpointError.write(path: outputDir, message: "cannot lock \(path): \(String(cString: strerror(e)))")
            }
            var held = stat(), named = stat()
            if fstat(fd, &held) == 0, stat(path, &named) == 0, held.st_dev == named.st_dev, held.st_ino == named.st_ino { return fd }
            close(fd)  // the previous holder removed the file as it finished: lock the one the path names now
        }
        throw CheckpointError.write(path: outputDir, message: "cannot take the lock \(path): it keeps being replaced")
    }

    /// Removes the lock file and releases the lock taken by ``lockOutput()``.
    private func unlockOutput(_ fd: Int32) {
        unlink(Self.lockPath(outputDir))
        close(fd)
    }

    /// Paths an interrupted write of `outputDir` may have left: the staging folder, a parked old export, and the
    /// hidden `.NAME.partial` temporaries of earlier versions inside `outputDir`.
    public static func leftovers(outputDir: String) -> [String] {
        let fm = FileManager.default
        var out = [stagingPath(outputDir), parkedPath(outputDir)].filter { fm.fileExists(atPath: $0) }
        out += hiddenTemporaries(in: outputDir).map { (outputDir as NSString).appendingPathComponent($0) }
        return out
    }

    /// `.NAME.partial` files written by an interrupted writer inside `dir` (NAME a model file).
    static func hiddenTemporaries(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { n in
            guard n.hasPrefix("."), n.hasSuffix(".partial") else { return false }
            let inner = String(n.dropFirst().dropLast(".partial".count))
            return inner.hasPrefix("model") || inner == "config.json" || inner == "pruning.json" || inner.hasPrefix("tokenizer")
                || standardExtraFiles.contains(inner)
        }
    }

    // MARK: - Writing

    /// Writes config.json, the weights (sharded when bigger than `maxShardBytes`), the index,
    /// `extraFiles` copied from `sourceDir` and `extraJSON` files (name, value), verifies the folder, then puts it
    /// in place (see the type's documentation).
    ///
    /// - Parameters:
    ///   - config: the architecture of the output; must imply exactly `tensors` (names and shapes).
    ///   - tensors: every tensor, in file order.
    ///   - extraFiles: bare file names in `sourceDir` to copy unchanged (e.g. tokenizer.json).
    ///   - extraJSON: bare file names and values to write as JSON (``PruneKitJSON``, e.g. a record of how the folder was made).
    ///   - produce: returns one tensor's values (row-major, `elementCount` floats); called once per tensor, in order.
    /// - Returns: the plan that was written.
    /// - Throws: ``CheckpointError/write(path:message:)`` for refused destinations and I/O failures
    ///   (read-only, disk full, a virtual file system), ``CheckpointError/mismatch(tensor:message:)`` when `tensors`
    ///   do not match `config`; any error `produce` throws. On error, every file this call created is removed.
    @discardableResult
    public func write(config: NemotronHConfig, tensors: [Entry], extraFiles: [String] = [],
                      extraJSON: [(String, any Encodable)] = [], produce: (Entry) throws -> [Float]) throws -> ShardPlan {
        try write(config: config, tensors: tensors, extraFiles: extraFiles, extraJSON: extraJSON) { e, w, tmp in
            let values = try produce(e)
            guard values.count == e.elementCount else {
                throw CheckpointError.write(path: tmp, message: "producer gave \(values.count) values for '\(e.name)', expected \(e.elementCount) (shape \(e.shape))")
            }
            try w.append(e.name, values)
            progress?.advance(by: e.byteCount)
        }
    }

    /// Like ``write(config:tensors:extraFiles:extraJSON:produce:)``, but each tensor is produced in parts of at
    /// most `chunkElements` values: `read(entry, from, count, out)` fills elements [from, from + count) of the
    /// tensor (row-major) into `out`. Peak memory is one chunk (`chunkElements × 4` bytes) instead of one
    /// whole fp32 tensor.
    @discardableResult
    public func write(config: NemotronHConfig, tensors: [Entry], extraFiles: [String] = [], extraJSON: [(String, any Encodable)] = [],
                      chunkElements: Int, read: (Entry, Int, Int, UnsafeMutablePointer<Float>) throws -> Void) throws -> ShardPlan {
        precondition(chunkElements > 0, "chunkElements must be positive")
        return try write(config: config, tensors: tensors, extraFiles: extraFiles, extraJSON: extraJSON) { e, w, _ in
            var buffer = [Float](repeating: 0, count: min(chunkElements, max(e.elementCount, 1)))
            let elementBytes = e.elementCount > 0 ? e.byteCount / e.elementCount : 0
            var from = 0
            while from < e.elementCount {
                let n = min(buffer.count, e.elementCount - from)
                try buffer.withUnsafeMutableBufferPointer { b in
                    try read(e, from, n, b.baseAddress!)
                    try w.appendPart(e.name, UnsafeBufferPointer(start: b.baseAddress!, count: n))
                }
                from += n
                progress?.advance(by: n * elementBytes)
            }
            if e.elementCount == 0 { try w.append(e.name, []) }
        }
    }

    private func write(config: NemotronHConfig, tensors: [Entry], extraFiles: [String], extraJSON: [(String, any Encodable)],
                       emit: (Entry, SafetensorsStreamWriter, String) throws -> Void) throws -> ShardPlan {
        removedLeftovers = []
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
        try checkFreeSpace(plan.totalBytes)
        try createParentDirs()
        let lock = try lockOutput()
        defer { unlockOutput(lock) }
        try removeLeftovers()
        let staging = Self.stagingPath(outputDir)
        guard mkdir(staging, 0o755) == 0 else {
            throw CheckpointError.write(path: outputDir, message: "cannot create the temporary folder \(staging) next to it (the export is written there and moved in place when complete): \(describeWriteErrno(errno))")
        }
        progress?.start("export", total: plan.totalBytes, unit: "bytes")
        defer { progress?.finish() }
        do {
            try writeAll(into: staging, plan: plan, config: config, extraFiles: extraFiles, extraJSON: extraJSON, emit: emit)
            try verify(folder: staging, config: config)
            try swapIntoPlace(staging: staging, written: Set(reserved).union(extraFiles).union(extraJSON.map(\.0)))
        } catch {
            removeTree(staging)
            throw error
        }
        return plan
    }

    private func path(_ name: String) -> String { (outputDir as NSString).appendingPathComponent(name) }

    private func writeAll(into dir: String, plan: ShardPlan, config: NemotronHConfig, extraFiles: [String],
                          extraJSON: [(String, any Encodable)], emit: (Entry, SafetensorsStreamWriter, String) throws -> Void) throws {
        func at(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        var written = 0
        for shard in plan.shards {
            let p = at(shard.fileName)
            let w = try SafetensorsStreamWriter(path: p, entries: shard.entries)
            do {
                for e in shard.entries {
                    try emit(e, w, p)
                    written += 1
                    Self.testKillPoint("tensor:\(written)")
                }
                try w.finish()
            } catch { w.abandon(); throw error }
        }
        try writeFile(at("config.json"), jsonFileData(outputConfigJSON(config, plan: plan)))
        for (name, value) in extraJSON { try writeFile(at(name), try PruneKitJSON.data(value, pretty: true) + Data("\n".utf8)) }
        for name in extraFiles { try copyFile((sourceDir! as NSString).appendingPathComponent(name), to: at(name)) }
        if plan.isSharded { try writeFile(at(ModelFolder.indexName), jsonFileData(plan.indexJSON)) }
        Self.testKillPoint("written")
    }

    /// Moves the complete folder `staging` to `outputDir`; an old export there is replaced as a whole, keeping its
    /// files that are not part of a model (`written` names and weight files are not carried over).
    private func swapIntoPlace(staging: String, written: Set<String>) throws {
        let fm = FileManager.default
        let out = resolvedPath(outputDir)
        let old = ((try? fm.contentsOfDirectory(atPath: out)) ?? []).filter { !Self.hiddenTemporaries(in: out).contains($0) }
        if old.isEmpty {
            // Missing or empty: one rename (onto an empty directory it replaces it).
            guard Glibc.rename(staging, out) == 0 else {
                throw CheckpointError.write(path: outputDir, message: "cannot move the finished export \(staging) into place: \(describeWriteErrno(errno))")
            }
            return
        }
        for name in old where !written.contains(name) && !Self.isWeightFile(name) {
            let from = (out as NSString).appendingPathComponent(name), to = (staging as NSString).appendingPathComponent(name)
            if link(from, to) != 0 {
                do { try fm.copyItem(atPath: from, toPath: to) } catch {
                    throw CheckpointError.write(path: outputDir, message: "cannot carry \(name) over from the old export: \(error.localizedDescription)")
                }
            }
        }
        Self.testKillPoint("before-swap")
        if Self.exchange(staging, out) {
            Self.testKillPoint("after-swap")
            removeTree(staging)  // now the old export
            return
        }
        // No atomic exchange on this file system: park the old export, move the new one in, drop the old.
        let parked = Self.parkedPath(outputDir)
        guard Glibc.rename(out, parked) == 0 else {
            throw CheckpointError.write(path: outputDir, message: "cannot move the old export aside to \(parked): \(describeWriteErrno(errno))")
        }
        Self.testKillPoint("parked")
        guard Glibc.rename(staging, out) == 0 else {
            let e = errno
            _ = Glibc.rename(parked, out)
            throw CheckpointError.write(path: outputDir, message: "cannot move the finished export \(staging) into place: \(describeWriteErrno(e))")
        }
        removeTree(parked)
    }

    /// Weight files and the index of an old export (never carried over into a new one).
    static func isWeightFile(_ name: String) -> Bool {
        name == ModelFolder.indexName || name == ModelFolder.singleName || (name.hasPrefix("model-") && name.hasSuffix(".safetensors"))
    }

    /// `renameat2(a, b, RENAME_EXCHANGE)` (Linux ≥ 3.15; looked up at run time, as Glibc's module does not export it).
    static func exchange(_ a: String, _ b: String) -> Bool {
        typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
        // Test hook: PRUNEKIT_TEST_NO_EXCHANGE=1 takes the fallback path, as on a file system without the exchange.
        if ProcessInfo.processInfo.environment["PRUNEKIT_TEST_NO_EXCHANGE"] != nil { return false }
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return false }
        let f = unsafeBitCast(sym, to: RenameAt2.self)
        return f(AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */) == 0
    }

    /// Removes what an interrupted earlier write left; a parked old export whose replacement never arrived is
    /// moved back first.
    private func removeLeftovers() throws {
        let fm = FileManager.default
        let out = resolvedPath(outputDir), parked = Self.parkedPath(outputDir)
        if fm.fileExists(atPath: parked) {
            let outContents = (try? fm.contentsOfDirectory(atPath: out)) ?? []
            if !fm.fileExists(atPath: out) || outContents.isEmpty {
                rmdir(out)
                if Glibc.rename(parked, out) == 0 { removedLeftovers.append(parked + " (the old export, moved back)") }
            }
        }
        for p in Self.leftovers(outputDir: outputDir) {
            removeTree(p)
            removedLeftovers.append(p)
        }
    }

    /// Test hook: `PRUNEKIT_TEST_KILL_AT=<point>` makes the process SIGKILL itself at that point of a write
    /// (`tensor:N` after N tensors, `written`, `before-swap`, `after-swap`, `parked`), to test interruption.
    static func testKillPoint(_ point: String) {
        guard let at = ProcessInfo.processInfo.environment["PRUNEKIT_TEST_KILL_AT"], at == point else { return }
        kill(getpid(), SIGKILL)
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

    /// config.json and the shard index: ``JSONWriter`` keeps config.json's key order and bare `Infinity` (transformers reads them back).
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
            guard access(outputDir, W_OK) == 0 else {
                throw CheckpointError.write(path: outputDir, message: "the output folder is not writable (read-only or no permission): \(String(cString: strerror(errno)))")
            }
            let temporaries = Set(Self.hiddenTemporaries(in: outputDir))
            let contents = ((try? fm.contentsOfDirectory(atPath: outputDir)) ?? []).filter { !temporaries.contains($0) }.sorted()
            if !contents.isEmpty && !force {
                let shown = contents.prefix(5).joined(separator: ", ") + (contents.count > 5 ? ", …" : "")
                throw CheckpointError.write(path: outputDir, message: "the output folder is not empty (\(contents.count) entries: \(shown)); choose an empty folder or pass --force to overwrite")
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
        if st.f_blocks == 0 {
            throw CheckpointError.write(path: outputDir, message: "\(probe) is on a virtual file system (such as /proc or /sys) that cannot store files; choose an output folder on a disk")
        }
        let free = Int(clamping: UInt64(st.f_bavail).multipliedReportingOverflow(by: UInt64(st.f_frsize)).partialValue)
        if free < bytes {
            throw CheckpointError.write(path: outputDir, message: "not enough space: the weights need \(bytes) bytes but only \(free) are free; free space or choose another output folder")
        }
    }

    private func verify(folder dir: String, config: NemotronHConfig) throws {
        let folder = try ModelFolder(path: dir, strict: true)
        let n = folder.tensorParameterCount
        guard n == config.parameterCount else {
            throw CheckpointError.mismatch(tensor: "(all)", message: "the written folder \(outputDir) holds \(n) parameters but config.json implies \(config.parameterCount)")
        }
    }

    // MARK: - File operations

    /// Creates the folders above `outputDir` (the output folder itself appears when the export is moved in).
    private func createParentDirs() throws {
        // POSIX mkdir, so the errno (read-only, no permission, not a directory) reaches the message.
        var missing = [String]()
        var p = (resolvedPath(outputDir) as NSString).deletingLastPathComponent
        while !p.isEmpty && p != "/" && !FileManager.default.fileExists(atPath: p) {
            missing.append(p); p = (p as NSString).deletingLastPathComponent
        }
        for d in missing.reversed() where mkdir(d, 0o755) != 0 && errno != EEXIST {
            throw CheckpointError.write(path: outputDir, message: "cannot create the output folder \(d): \(describeWriteErrno(errno))")
        }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue {
            throw CheckpointError.write(path: outputDir, message: "cannot create the output folder \(outputDir): \(p) is a file (Not a directory)")
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

    private func removeTree(_ p: String) { try? FileManager.default.removeItem(atPath: p) }
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
