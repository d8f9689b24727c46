import Foundation

/// Output dtype of an export: one dtype for every tensor, or each tensor's source dtype.
public enum ExportDType: Sendable, Equatable {
    case same
    case fixed(DType)

    /// `bf16`, `f16` (`fp16`), `f32` (`fp32`) or `same`.
    /// - Throws: ``PruneError/badOption(_:)`` for anything else.
    public static func parse(_ s: String) throws -> ExportDType {
        switch s.lowercased() {
        case "same": return .same
        case "bf16", "bfloat16": return .fixed(.BF16)
        case "f16", "fp16", "float16": return .fixed(.F16)
        case "f32", "fp32", "float32": return .fixed(.F32)
        default: throw PruneError.badOption("--dtype \"\(s)\": expected bf16, f16, f32 or same")
        }
    }
}

/// Writes a pruned Hugging Face folder (pruning.md §4, §7; formats.md §2).
///
/// Streams every target tensor through ``SlicedWeights`` into ``CheckpointWriter``: one source tensor is
/// read (rows gathered), sliced and written at a time, and its mapped source pages are released afterwards, so
/// peak memory is about one target tensor in Float32 plus one source tensor's mapped bytes. Copies the tokenizer and other small files, rewrites
/// config.json (new sizes, pattern, `mamba_num_heads`, every other key unchanged), writes `pruning.json`,
/// then re-opens the output strictly and checks every shape and the parameter count against the plan.
public enum Exporter {
    /// Values per part when streaming a tensor to disk (16 Mi floats = 64 MiB of fp32).
    public static let chunkElements = 16 << 20

    public struct Options: Sendable {
        public var dtype: ExportDType
        /// Tensor bytes per shard.
        public var maxShardBytes: Int
        /// Allow a non-empty output folder (never the source folder).
        public var force: Bool
        /// Fingerprint of the calibration set the scores came from, if any.
        public var calibrationFingerprint: String?
        /// How the keep-sets were chosen (scores file, seed, options), recorded as `recipe`.
        public var recipe: PruningManifest.Recipe?

        public init(dtype: ExportDType = .same, maxShardBytes: Int = CheckpointWriter.defaultMaxShardBytes, force: Bool = false,
                    calibrationFingerprint: String? = nil, recipe: PruningManifest.Recipe? = nil) {
            self.dtype = dtype; self.maxShardBytes = maxShardBytes; self.force = force
            self.calibrationFingerprint = calibrationFingerprint; self.recipe = recipe
        }
    }

    /// One target tensor: its shape and dtype in the output and where it comes from.
    public struct TensorRow: Sendable {
        public let name: String
        public let sourceName: String
        public let sourceShape: [Int]
        public let targetShape: [Int]
        public let dtype: DType
    }

    /// What an export writes, without writing it (`--dry-run`).
    public struct Plan: Sendable {
        public let target: NemotronHConfig
        public let sourceParameters: Int
        public let targetParameters: Int
        public let tensors: [TensorRow]
        public let shards: ShardPlan
    }

    /// Small files copied unchanged from the source folder when present (besides config.json and weights).
    public static func filesToCopy(from folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let extra = names.filter { n in
            n.hasPrefix("tokenizer") || n.hasSuffix(".jinja") || n.hasSuffix(".py") || ["vocab.json", "merges.txt", "added_tokens.json"].contains(n)
        }
        return Array(Set(CheckpointWriter.existingExtraFiles(in: folder) + extra)).filter { n in
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent(n), isDirectory: &isDir) && !isDir.boolValue
        }.sorted()
    }

    /// The tensors, shapes, dtypes and shards an export of `plan` would write.
    /// - Throws: ``CheckpointError`` when a source tensor is missing.
    public static func plan(folder: ModelFolder, plan: PruningPlan, options: Options) throws -> Plan {
        let slices = SlicedWeights.makeSlices(plan)
        var rows = [TensorRow]()
        for (name, shape) in plan.target.expectedTensors() {
            guard let s = slices[name] else { throw CheckpointError.mismatch(tensor: name, message: "the slicing map has no entry for this target tensor") }
            guard s.targetShape == shape else {
                throw CheckpointError.mismatch(tensor: name, message: "the slicing map gives shape \(s.targetShape) but the target config implies \(shape)")
            }
            let info = try folder.info(s.sourceName)
            let dtype: DType
            switch options.dtype {
            case .same: dtype = info.dtype
            case let .fixed(d): dtype = d
            }
            rows.append(TensorRow(name: name, sourceName: s.sourceName, sourceShape: info.shape, targetShape: shape, dtype: dtype))
        }
        let entries = rows.map { SafetensorsStreamWriter.Entry(name: $0.name, dtype: $0.dtype, shape: $0.targetShape) }
        return Plan(target: plan.target, sourceParameters: plan.source.parameterCount, targetParameters: plan.target.parameterCount,
                    tensors: rows, shards: ShardPlan(tensors: entries, maxShardBytes: options.maxShardBytes))
    }

    /// Exports `plan` applied to `folder` into `outputDir`.
    ///
    /// - Parameters:
    ///   - weights: where source tensors are read from; defaults to `folder` itself (tests pass a wrapper).
    ///   - progress: reports the weights written (step "export", bytes).
    /// - Returns: the written shard plan.
    /// - Throws: ``CheckpointError/write(path:message:)`` when `outputDir` is the source folder or is not empty
    ///   without `force`; ``CheckpointError/mismatch(tensor:message:)`` when the written folder disagrees with
    ///   the plan; any read error. On error no file this export created is left behind, and an existing export in
    ///   `outputDir` (with `force`) is replaced only once the new one is complete (``CheckpointWriter``).
    @discardableResult
    public static func export(folder: ModelFolder, plan: PruningPlan, to outputDir: String, options: Options,
                              weights: WeightSource? = nil, progress: ProgressReporter? = nil) throws -> ShardPlan {
        let exportPlan = try Self.plan(folder: folder, plan: plan, options: options)
        let sliced = SlicedWeights(base: weights ?? folder, plan: plan)
        let writer = CheckpointWriter(outputDir: outputDir, sourceDir: folder.path, force: options.force,
                                      maxShardBytes: options.maxShardBytes, dtype: nil)
        writer.progress = progress
        let entries = exportPlan.tensors.map { SafetensorsStreamWriter.Entry(name: $0.name, dtype: $0.dtype, shape: $0.targetShape) }
        let manifest = PruningManifest(folder: folder, plan: plan, calibrationFingerprint: options.calibrationFingerprint, recipe: options.recipe)
        let written = try writer.write(config: plan.target, tensors: entries, extraFiles: filesToCopy(from: folder.path).filter { $0 != "pruning.json" },
                                       extraJSON: [("pruning.json", manifest)], chunkElements: Exporter.chunkElements) { entry, from, count, out in
            try sliced.read(entry.name, into: out, from: from, count: count)
            // Drop the source tensor's mapped pages after each part so RSS stays near one chunk.
            if let s = sliced.slices[entry.name] { folder.releasePages(s.sourceName) }
        }
        try verify(outputDir: outputDir, plan: plan)
        return written
    }

    /// Re-opens `outputDir` strictly and checks every tensor's shape against the plan's target and the
    /// parameter count against `plan.target.parameterCount` (pruning.md §4: assert after every pruning).
    public static func verify(outputDir: String, plan: PruningPlan) throws {
        let out = try ModelFolder(path: outputDir, strict: true)
        for (name, shape) in plan.target.expectedTensors() {
            let got = try out.info(name).shape
            guard got == shape else { throw CheckpointError.mismatch(tensor: name, message: "shape \(got) in \(outputDir), the plan says \(shape)") }
        }
        guard out.config == plan.target else {
            throw CheckpointError.mismatch(tensor: "(config.json)", message: "the written config.json of \(outputDir) does not describe the planned architecture")
        }
        let n = out.tensorParameterCount
        guard n == plan.target.parameterCount else {
            throw CheckpointError.mismatch(tensor: "(all)", message: "\(outputDir) holds \(n) parameters, the plan's target has \(plan.target.parameterCount)")
        }
    }
}
