import Foundation
import Yams

/// A typed architecture-search recipe (formats.md §5, pruning.md §6), read from YAML in `Searches/`.
///
/// Every mapping is checked against the keys it allows, so a typo such as `hiden_size` is an error that names
/// the key, its section and the allowed keys. **Relative paths** (`model`, data files, `hardware_file`) are
/// resolved against the directory of the recipe file, not the working directory, so a recipe runs the same
/// from anywhere.
///
/// ```yaml
/// model: ../Tests/Fixtures/nemo-tiny         # a model folder, or a config.json (dry runs only)
/// calibration: {file: calib.jsonl, samples: 16, seq_len: 128}   # importance scores (§2–§3)
/// heldout: {file: heldout.jsonl, samples: 8, seq_len: 128}       # candidate evaluation
/// hardware: a10g                             # a profile name, or an inline profile mapping
/// hardware_file: my-gpus.json                # optional extra profiles (hardware.json format)
/// budget: {context: 131072, batch: 1, framework_fraction: 0.05, reserved_gib: 1.3}
/// workload: {isl: 8192, osl: 16384}
/// serving: {gpu_memory_utilization: 0.9}     # optional vLLM settings of the throughput model (pruning.md §5):
///                                            # also max_num_seqs, max_num_batched_tokens, runtime_overhead_gib
/// dtype: bf16
/// search_space:                              # each a list, a single value, or {min, max, step}
///   num_layers: [52, 54, 56]
///   hidden_size: {min: 4480, max: 5120}      # step defaults to the snap multiple
/// snap: {hidden_size: 256, ffn_hidden_size: 512}
/// limits: {max_width_pruning: 0.4, max_depth_pruning: 0.2}
/// top_k: 10
/// selection: throughput                      # or params (closest to target_params)
/// strategy: joint                            # or depth-then-width (the paper's)
/// metrics: [kl, mse, loss]
/// objective: kl                              # minimized
/// layer_ranking: mse                         # distance of the iterative depth ranking (§3)
/// seed: 0
/// ```
public struct Recipe: Sendable {
    /// A data set: file, number of sequences N, tokens per sequence T (pruning.md §1).
    public struct DataSpec: Codable, Sendable, Equatable {
        /// As written in the recipe.
        public var file: String
        public var samples: Int?
        public var seqLen: Int?
        enum CodingKeys: String, CodingKey { case file, samples, seqLen = "seq_len" }
    }

    /// Choices per dimension; nil keeps the source model's value. Values are already snapped and deduplicated,
    /// ascending.
    public struct SearchSpace: Codable, Sendable, Equatable {
        public var numLayers: [Int]?
        public var hiddenSize: [Int]?
        public var ffnHiddenSize: [Int]?
        public var mambaNumHeads: [Int]?
        public var mambaHeadDim: [Int]?
        public var numAttentionHeads: [Int]?
        enum CodingKeys: String, CodingKey {
            case numLayers = "num_layers", hiddenSize = "hidden_size", ffnHiddenSize = "ffn_hidden_size", mambaNumHeads = "mamba_num_heads"
            case mambaHeadDim = "mamba_head_dim", numAttentionHeads = "num_attention_heads"
        }
    }

    /// How the K candidates are picked among the feasible ones.
    public enum Selection: String, Sendable, CaseIterable { case throughput, params }
    /// `joint`: pick K over the whole space. `depthThenWidth`: the paper's two steps (§4.2) — evaluate one
    /// depth-only candidate per layer count, keep the best depth, then pick K width candidates at that depth.
    public enum Strategy: String, Sendable, CaseIterable { case joint, depthThenWidth = "depth-then-width" }
    /// Metrics measured on held-out data against the full model (all minimized).
    public enum Metric: String, Sendable, CaseIterable, Codable { case kl, mse, loss }

    /// The recipe file as given, and its text.
    public var path: String
    public var yaml: String
    /// Model folder or config.json, as written.
    public var model: String
    public var calibration: DataSpec?
    public var heldout: DataSpec?
    public var hardware: HardwareProfile
    /// Context length (tokens) and batch at which memory must fit the budget.
    public var context: Int
    public var batch: Int
    public var frameworkFraction: Double
    /// Reserved memory, GiB (2³⁰ bytes).
    public var reservedGiB: Double
    public var workload: Workload
    /// vLLM settings of the throughput model (`serving:`); defaults are vLLM's.
    public var serving: ServingSettings
    public var weightDType: CostDType
    public var space: SearchSpace
    /// Hidden sizes and FFN sizes are rounded to multiples of these (Model Optimizer: 256 and 512).
    public var snapHidden: Int
    public var snapFFN: Int
    /// Largest fraction of any width dimension, and of the layers, that may be pruned (Model Optimizer: 0.4, 0.2).
    public var maxWidthPruning: Double
    public var maxDepthPruning: Double
    /// K: candidates evaluated (per strategy stage).
    public var topK: Int
    public var selection: Selection
    /// Parameter target for `selection: params`.
    public var targetParams: Int?
    public var strategy: Strategy
    public var metrics: [Metric]
    public var objective: Metric
    /// Distance used by the iterative layer ranking.
    public var layerRanking: ScoreOptions.Metric
    public var seed: UInt64
    /// Notes from parsing (snapped values), for the plan printout.
    public var notes: [String]

    /// The directory relative paths are resolved against.
    public var baseDirectory: String { ((path as NSString).deletingLastPathComponent as String).isEmpty ? "." : (path as NSString).deletingLastPathComponent }

    /// `p` resolved against the recipe's directory (absolute paths unchanged).
    public func resolve(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        return ((baseDirectory as NSString).appendingPathComponent(p) as NSString).standardizingPath
    }

    /// The hardware as studies, leaderboards and reports show it: the profile name and whether its throughput
    /// figures are calibrated (with the fit's leave-one-out error) or uncalibrated defaults.
    public var hardwareDescription: String {
        guard let c = hardware.calibration else { return "\(hardware.name) (throughput uncalibrated: default efficiencies)" }
        let err = c.looRMSErrorPercent.map { String(format: "leave-one-out error %.1f %%", $0) } ?? String(format: "RMS error %.1f %%", c.rmsErrorPercent)
        return "\(hardware.name) (throughput calibrated on \(c.runs) runs, \(err))"
    }

    /// The cost model of this recipe (hardware, workload, dtype, budget; a calibrated profile from `hardware_file`
    /// supplies the throughput parameters).
    /// - Throws: ``SearchError/badRecipe(file:message:)`` naming the budget keys when they leave no memory.
    public func costModel() throws -> CostModel {
        do {
            return try CostModel(hardware: hardware, workload: workload, weightDType: weightDType, frameworkFraction: frameworkFraction,
                                 reservedBytes: GiB.toBytes(reservedGiB), serving: serving)
        } catch let e as CostError {
            throw SearchError.badRecipe(file: path, message: "budget: reserved_gib \(reservedGiB) and framework_fraction \(frameworkFraction) on \(hardware.name): \(e)")
        }
    }

    // MARK: - Loading

    /// Reads and checks a recipe file.
    /// - Throws: ``SearchError/badRecipe(file:message:)`` naming the key (unknown keys are listed with the allowed
    ///   ones), ``SearchError/emptySpace(file:message:)``, and ``CostError`` for an unknown hardware profile.
    public static func load(path: String) throws -> Recipe {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SearchError.badRecipe(file: path, message: "cannot read: \(error.localizedDescription)")
        }
        return try Recipe(yaml: text, path: path)
    }

    /// Largest width or count a recipe may name (as for config.json sizes), so snapping and the
    /// candidates' parameter arithmetic cannot overflow.
    public static let maxSize = NemotronHConfig.maxDimension
    /// Most values one search-space dimension may list or expand a {min, max, step} range to.
    public static let maxChoices = 100_000

    static let topKeys = ["model", "calibration", "heldout", "hardware", "hardware_file", "budget", "workload", "serving", "dtype",
                          "search_space", "snap", "limits", "top_k", "selection", "target_params", "strategy", "metrics",
                          "objective", "layer_ranking", "seed"]
    static let dataKeys = ["file", "samples", "seq_len"]
    static let budgetKeys = ["context", "batch", "framework_fraction", "reserved_gib"]
    static let workloadKeys = ["isl", "osl"]
    static let servingKeys = ["gpu_memory_utilization", "max_num_seqs", "max_num_batched_tokens", "runtime_overhead_gib"]
    static let spaceKeys = ["num_layers", "hidden_size", "ffn_hidden_size", "mamba_num_heads", "mamba_head_dim", "num_attention_heads"]
    static let snapKeys = ["hidden_size", "ffn_hidden_size"]
    static let limitKeys = ["max_width_pruning", "max_depth_pruning"]
    static let rangeKeys = ["min", "max", "step"]
    static let profileKeys = ["name", "aliases", "memory_bytes", "memory_gib", "memory_gb", "memory_bandwidth_gbps", "bf16_dense_tflops", "source"]

    /// Parses recipe text; `path` names the file in errors and anchors relative paths.
    public init(yaml text: String, path: String) throws {
        let r = YAMLReader(file: (path as NSString).lastPathComponent)
        let rootNode: Node?
        do { rootNode = try Yams.compose(yaml: text) } catch {
            throw SearchError.badRecipe(file: r.file, message: "not valid YAML: \(error)")
        }
        guard let rootNode else { throw SearchError.badRecipe(file: r.file, message: "the recipe is empty") }
        let top = try r.mapping(rootNode, section: "the recipe", allowed: Self.topKeys)
        self.path = path; self.yaml = text; self.notes = []

        model = try r.string(top, "model", section: "the recipe", required: true)!
        func data(_ key: String) throws -> DataSpec? {
            guard let n = top[key] else { return nil }
            let m = try r.mapping(n, section: key, allowed: Self.dataKeys)
            return DataSpec(file: try r.string(m, "file", section: key, required: true)!,
                            samples: try r.int(m, "samples", section: key, positive: true),
                            seqLen: try r.int(m, "seq_len", section: key, positive: true))
        }
        calibration = try data("calibration")
        heldout = try data("heldout")

        // Hardware: a name, or an inline profile; extra profiles from hardware_file.
        let hwFile = try r.string(top, "hardware_file", section: "the recipe")
        let baseDir = (path as NSString).deletingLastPathComponent
        let resolvedHW = hwFile.map { $0.hasPrefix("/") ? $0 : ((baseDir.isEmpty ? "." : baseDir) as NSString).appendingPathComponent($0) }
        guard let hwNode = top["hardware"] else { throw SearchError.badRecipe(file: r.file, message: "missing required key 'hardware' in the recipe (a profile name such as a10g, or an inline profile)") }
        if case .mapping = hwNode {
            let m = try r.mapping(hwNode, section: "hardware", allowed: Self.profileKeys)
            _ = m
            do { hardware = try HardwareProfile(json: r.json(hwNode), file: r.file) } catch let CostError.badHardwareFile(_, message) {
                throw SearchError.badRecipe(file: r.file, message: "hardware: \(message)")
            }
        } else {
            guard let name = hwNode.string else { throw SearchError.badRecipe(file: r.file, message: "'hardware' must be a profile name or a mapping") }
            hardware = try HardwareProfiles.named(name, in: HardwareProfiles.catalogue(userFile: resolvedHW))
        }

        let budget = try top["budget"].map { try r.mapping($0, section: "budget", allowed: Self.budgetKeys) } ?? [:]
        context = try r.int(budget, "context", section: "budget", positive: true) ?? 131072
        batch = try r.int(budget, "batch", section: "budget", positive: true) ?? 1
        do { try CostModel.validate(context: context, batch: batch) } catch {
            throw SearchError.badRecipe(file: r.file, message: "budget: \(error)")
        }
        frameworkFraction = try r.double(budget, "framework_fraction", section: "budget") ?? 0.05
        reservedGiB = try r.double(budget, "reserved_gib", section: "budget") ?? 1.3
        guard frameworkFraction >= 0, frameworkFraction < 1 else {
            throw SearchError.badRecipe(file: r.file, message: "budget.framework_fraction must be in [0, 1), got \(frameworkFraction)")
        }
        guard reservedGiB >= 0, reservedGiB <= GiB.maxGiB else {
            throw SearchError.badRecipe(file: r.file, message: "budget.reserved_gib must be in 0...\(Int(GiB.maxGiB)) GiB, got \(reservedGiB)")
        }

        let wl = try top["workload"].map { try r.mapping($0, section: "workload", allowed: Self.workloadKeys) } ?? [:]
        workload = try Workload(inputLength: r.int(wl, "isl", section: "workload", positive: true) ?? 8192,
                                outputLength: r.int(wl, "osl", section: "workload", positive: true) ?? 16384)
        let sv = try top["serving"].map { try r.mapping($0, section: "serving", allowed: Self.servingKeys) } ?? [:]
        serving = ServingSettings(gpuMemoryUtilization: try r.double(sv, "gpu_memory_utilization", section: "serving") ?? 0.9,
                                  maxNumSeqs: try r.int(sv, "max_num_seqs", section: "serving", positive: true),
                                  maxNumBatchedTokens: try r.int(sv, "max_num_batched_tokens", section: "serving", positive: true),
                                  runtimeOverheadBytes: try r.double(sv, "runtime_overhead_gib", section: "serving").map(GiB.toBytes))
        do { try serving.validate() } catch { throw SearchError.badRecipe(file: r.file, message: "serving: \(error)") }
        let dt = try r.string(top, "dtype", section: "the recipe") ?? "bf16"
        guard let d = CostDType(name: dt) else {
            throw SearchError.badRecipe(file: r.file, message: "dtype: unknown \"\(dt)\"; expected bf16, fp16, fp32 or fp8 (or bfloat16, float16, float32, float8)")
        }
        weightDType = d

        let snap = try top["snap"].map { try r.mapping($0, section: "snap", allowed: Self.snapKeys) } ?? [:]
        snapHidden = try r.int(snap, "hidden_size", section: "snap", positive: true) ?? 256
        snapFFN = try r.int(snap, "ffn_hidden_size", section: "snap", positive: true) ?? 512
        for (k, v) in [("hidden_size", snapHidden), ("ffn_hidden_size", snapFFN)] where v > NemotronHConfig.maxDimension {
            throw SearchError.badRecipe(file: r.file, message: "snap.\(k): \(v) is beyond the largest supported size \(NemotronHConfig.maxDimension)")
        }

        let limits = try top["limits"].map { try r.mapping($0, section: "limits", allowed: Self.limitKeys) } ?? [:]
        maxWidthPruning = try r.double(limits, "max_width_pruning", section: "limits") ?? 0.4
        maxDepthPruning = try r.double(limits, "max_depth_pruning", section: "limits") ?? 0.2
        for (k, v) in [("max_width_pruning", maxWidthPruning), ("max_depth_pruning", maxDepthPruning)] where !(v >= 0 && v < 1) {
            throw SearchError.badRecipe(file: r.file, message: "limits.\(k) must be in [0, 1), got \(v)")
        }

        guard let spaceNode = top["search_space"] else {
            throw SearchError.badRecipe(file: r.file, message: "missing required key 'search_space' in the recipe (allowed keys in it: \(Self.spaceKeys.joined(separator: ", ")))")
        }
        let sp = try r.mapping(spaceNode, section: "search_space", allowed: Self.spaceKeys)
        guard !sp.isEmpty else { throw SearchError.emptySpace(file: r.file, message: "search_space has no dimensions") }
        var notes = [String]()
        func dim(_ key: String, snap: Int?) throws -> [Int]? {
            guard let n = sp[key] else { return nil }
            var values = try r.intChoices(n, key: key, defaultStep: snap ?? 1)
            if let big = values.first(where: { $0 > Self.maxSize }) {
                throw SearchError.badRecipe(file: r.file, message: "search_space.\(key): \(big) is beyond the largest supported size \(Self.maxSize)")
            }
            if let snap {
                let snapped = values.map { v in max(snap, ((v + snap / 2) / snap) * snap) }
                for (a, b) in zip(values, snapped) where a != b { notes.append("search_space.\(key): \(a) snapped to \(b) (multiple of \(snap))") }
                values = snapped
            }
            values = Array(Set(values)).sorted()
            guard !values.isEmpty else { throw SearchError.emptySpace(file: r.file, message: "search_space.\(key) has no values") }
            return values
        }
        space = SearchSpace(numLayers: try dim("num_layers", snap: nil), hiddenSize: try dim("hidden_size", snap: snapHidden),
                            ffnHiddenSize: try dim("ffn_hidden_size", snap: snapFFN), mambaNumHeads: try dim("mamba_num_heads", snap: nil),
                            mambaHeadDim: try dim("mamba_head_dim", snap: nil), numAttentionHeads: try dim("num_attention_heads", snap: nil))
        self.notes = notes

        topK = try r.int(top, "top_k", section: "the recipe", positive: true) ?? 10
        selection = try r.enumValue(top, "selection", section: "the recipe", Selection.self) ?? .throughput
        targetParams = try r.int(top, "target_params", section: "the recipe", positive: true)
        if selection == .params && targetParams == nil {
            throw SearchError.badRecipe(file: r.file, message: "selection: params needs 'target_params' (a parameter count)")
        }
        strategy = try r.enumValue(top, "strategy", section: "the recipe", Strategy.self) ?? .joint
        if let m = top["metrics"] {
            guard case let .sequence(seq) = m, !seq.isEmpty else {
                throw SearchError.badRecipe(file: r.file, message: "metrics must be a non-empty list of \(Metric.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            metrics = try seq.map { n in
                guard let s = n.string, let v = Metric(rawValue: s) else {
                    throw SearchError.badRecipe(file: r.file, message: "metrics: unknown metric '\(n.string ?? "?")' (allowed: \(Metric.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return v
            }
        } else {
            metrics = Metric.allCases
        }
        objective = try r.enumValue(top, "objective", section: "the recipe", Metric.self) ?? .kl
        if !metrics.contains(objective) { metrics.append(objective) }
        layerRanking = try r.enumValue(top, "layer_ranking", section: "the recipe", ScoreOptions.Metric.self) ?? .mse
        let s = try r.int(top, "seed", section: "the recipe") ?? 0
        guard s >= 0 else { throw SearchError.badRecipe(file: r.file, message: "seed must not be negative, got \(s)") }
        seed = UInt64(s)
    }

    // MARK: - JSON

    /// The parsed recipe with every default filled in (stored with the study; identifies it).
    public var echo: Echo {
        Echo(model: model, calibration: calibration, heldout: heldout, hardware: hardware,
             budget: .init(context: context, batch: batch, frameworkFraction: frameworkFraction, reservedGiB: reservedGiB),
             workload: .init(isl: workload.inputLength, osl: workload.outputLength), dtype: weightDType.rawValue, searchSpace: space,
             snap: .init(hiddenSize: snapHidden, ffnHiddenSize: snapFFN),
             limits: .init(maxWidthPruning: maxWidthPruning, maxDepthPruning: maxDepthPruning), topK: topK, selection: selection.rawValue,
             targetParams: targetParams, strategy: strategy.rawValue, metrics: metrics.map(\.rawValue), objective: objective.rawValue,
             layerRanking: layerRanking.rawValue, seed: seed)
    }

    /// A recipe with every default filled in, as stored with its study (`recipe_json`) and echoed by
    /// `search --dry-run --format json`: snake_case keys (the recipe's), ``PruneKitJSON``; nil values are absent.
    public struct Echo: Codable, Sendable, Equatable {
        public struct Budget: Codable, Sendable, Equatable {
            public var context: Int
            public var batch: Int
            @FiniteOrNull public var frameworkFraction: Double
            @FiniteOrNull public var reservedGiB: Double
            enum CodingKeys: String, CodingKey { case context, batch, frameworkFraction = "framework_fraction", reservedGiB = "reserved_gib" }
        }
        /// Input and output lengths, tokens.
        public struct WorkloadLengths: Codable, Sendable, Equatable { public var isl: Int; public var osl: Int }
        public struct Snap: Codable, Sendable, Equatable {
            public var hiddenSize: Int
            public var ffnHiddenSize: Int
            enum CodingKeys: String, CodingKey { case hiddenSize = "hidden_size", ffnHiddenSize = "ffn_hidden_size" }
        }
        public struct Limits: Codable, Sendable, Equatable {
            @FiniteOrNull public var maxWidthPruning: Double
            @FiniteOrNull public var maxDepthPruning: Double
            enum CodingKeys: String, CodingKey { case maxWidthPruning = "max_width_pruning", maxDepthPruning = "max_depth_pruning" }
        }
        public var model: String
        public var calibration: DataSpec?
        public var heldout: DataSpec?
        public var hardware: HardwareProfile
        public var budget: Budget
        public var workload: WorkloadLengths
        public var dtype: String
        public var searchSpace: SearchSpace
        public var snap: Snap
        public var limits: Limits
        /// Absent in the study's identity (``ArchitectureSearch/recipeHash(_:)``): K may be raised.
        public var topK: Int?
        public var selection: String
        public var targetParams: Int?
        public var strategy: String
        public var metrics: [String]
        public var objective: String
        public var layerRanking: String
        public var seed: UInt64
        enum CodingKeys: String, CodingKey {
            case model, calibration, heldout, hardware, budget, workload, dtype, searchSpace = "search_space", snap, limits, topK = "top_k"
            case selection, targetParams = "target_params", strategy, metrics, objective, layerRanking = "layer_ranking", seed
        }
    }
}

/// Strict access to a composed YAML tree: every mapping's keys are checked against an allowed list.
struct YAMLReader {
    let file: String

    func fail(_ m: String) -> SearchError { .badRecipe(file: file, message: m) }

    func where_(_ n: Node) -> String { n.mark.map { " (line \($0.line))" } ?? "" }

    /// The mapping's entries by key, rejecting unknown and duplicate keys by name.
    func mapping(_ node: Node, section: String, allowed: [String]) throws -> [String: Node] {
        guard case let .mapping(m) = node else { throw fail("\(section) must be a mapping with keys \(allowed.joined(separator: ", "))\(where_(node))") }
        var out = [String: Node]()
        for (k, v) in m {
            guard let key = k.string else { throw fail("a key in \(section) is not a string\(where_(k))") }
            guard allowed.contains(key) else {
                throw fail("unknown key '\(key)' in \(section)\(where_(k)) (allowed: \(allowed.joined(separator: ", ")))")
            }
            guard out[key] == nil else { throw fail("duplicate key '\(key)' in \(section)\(where_(k))") }
            out[key] = v
        }
        return out
    }

    func scalarText(_ n: Node) -> String? { if case let .scalar(s) = n { return s.string }; return nil }

    func string(_ m: [String: Node], _ key: String, section: String, required: Bool = false) throws -> String? {
        guard let n = m[key] else {
            if required { throw fail("missing required key '\(key)' in \(section)") }
            return nil
        }
        guard let s = scalarText(n), !s.isEmpty else { throw fail("\(section).\(key) must be a non-empty string\(where_(n))") }
        return s
    }

    func int(_ m: [String: Node], _ key: String, section: String, positive: Bool = false) throws -> Int? {
        guard let n = m[key] else { return nil }
        guard let v = n.int ?? scalarText(n).flatMap({ Int($0.replacingOccurrences(of: "_", with: "")) }) else {
            throw fail("\(section).\(key) must be an integer, got '\(scalarText(n) ?? "a non-scalar")'\(where_(n))")
        }
        if positive && v <= 0 { throw fail("\(section).\(key) must be positive, got \(v)\(where_(n))") }
        return v
    }

    func double(_ m: [String: Node], _ key: String, section: String) throws -> Double? {
        guard let n = m[key] else { return nil }
        guard let v = n.float, v.isFinite else { throw fail("\(section).\(key) must be a number, got '\(scalarText(n) ?? "a non-scalar")'\(where_(n))") }
        return v
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ m: [String: Node], _ key: String, section: String, _ type: E.Type) throws -> E? where E.RawValue == String {
        guard let s = try string(m, key, section: section) else { return nil }
        guard let v = E(rawValue: s) else {
            throw fail("\(key): unknown value '\(s)' (allowed: \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return v
    }

    /// Throws unless `v` is at most ``NemotronHConfig/maxDimension`` (so products of sizes cannot overflow).
    func bounded(_ v: Int, _ section: String, _ n: Node) throws {
        guard v <= NemotronHConfig.maxDimension else {
            throw fail("\(section): \(v) is beyond the largest supported size \(NemotronHConfig.maxDimension)\(where_(n))")
        }
    }

    /// A dimension's choices: a single integer, a list, or `{min, max, step}` (step defaults to `defaultStep`).
    func intChoices(_ n: Node, key: String, defaultStep: Int) throws -> [Int] {
        let section = "search_space.\(key)"
        switch n {
        case .scalar:
            guard let v = n.int, v > 0 else { throw fail("\(section) must be a positive integer, a list, or {min, max, step}\(where_(n))") }
            try bounded(v, section, n)
            return [v]
        case let .sequence(seq):
            return try seq.map { e in
                guard let v = e.int, v > 0 else { throw fail("\(section): '\(scalarText(e) ?? "?")' is not a positive integer\(where_(e))") }
                try bounded(v, section, e)
                return v
            }
        case .mapping:
            let m = try mapping(n, section: section, allowed: Recipe.rangeKeys)
            guard let lo = try int(m, "min", section: section, positive: true) else { throw fail("missing required key 'min' in \(section)") }
            guard let hi = try int(m, "max", section: section, positive: true) else { throw fail("missing required key 'max' in \(section)") }
            let step = try int(m, "step", section: section, positive: true) ?? defaultStep
            guard lo <= hi else { throw SearchError.emptySpace(file: file, message: "\(section) has min \(lo) > max \(hi)") }
            try bounded(hi, section + ".max", n)
            guard (hi - lo) / step < Recipe.maxChoices else {
                throw fail("\(section): {min: \(lo), max: \(hi), step: \(step)} gives more than \(Recipe.maxChoices) values; use a larger step\(where_(n))")
            }
            return Array(stride(from: lo, through: hi, by: step))
        case .alias:
            throw fail("\(section): YAML aliases are not supported\(where_(n))")
        }
    }

    /// A YAML subtree as JSON (numbers stay numbers), for reusing JSON readers such as hardware profiles.
    func json(_ n: Node) -> JSONValue {
        switch n {
        case let .mapping(m): return .object(m.map { ($0.key.string ?? "", json($0.value)) })
        case let .sequence(s): return .array(s.map(json))
        case .scalar:
            if let i = n.int { return .int(i) }
            if let d = n.float { return .double(d) }
            if let b = n.bool { return .bool(b) }
            return .string(n.string ?? "")
        case .alias: return .null
        }
    }
}
