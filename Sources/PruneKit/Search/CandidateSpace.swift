import Foundation

/// One point of the search space with its cost-model figures (pruning.md §5–§6).
public struct Candidate: Sendable {
    /// The concrete architecture (every size, pattern and kept layers), so equal models have equal hashes.
    public var architecture: Architecture
    /// The pruned layer pattern (`hybrid_override_pattern`).
    public var pattern: String { architecture.pattern }
    /// Cost model at the recipe's context × batch, with predicted throughput at its ISL/OSL.
    public var cost: CostReport
    /// The first constraint it breaks, nil when feasible.
    public var rejection: CandidateRejection?
    public var isFeasible: Bool { rejection == nil }
    public var numLayers: Int { architecture.numLayers }
}

/// Why a candidate is infeasible. Checked in this order; the first failing one is recorded.
public struct CandidateRejection: Sendable, Equatable {
    /// Constraint names, in checking order.
    public static let order = ["structure rule", "width pruning ratio", "depth pruning ratio", "memory budget"]
    /// One of ``order``.
    public var constraint: String
    /// Human-readable reason with the numbers.
    public var reason: String
}

/// How depth candidates decide which layers go.
public enum DepthSource: Sendable {
    /// The iterative logit-distance removal order (checkpoint numbering, least important first), pruning.md §3.
    case ranking([Int])
    /// No weights (dry run): remove layers by kind in the proportions of the real 12B → 9B pruning (1 Mamba,
    /// 2 attention, 3 MLP of 6), largest remainder, capped by what the model has; the last layers of each kind
    /// are the ones dropped. Parameters and memory depend only on the counts per kind, so the cost figures
    /// are exact for that mix; the layers a real ranking removes may differ.
    case nano9BMixHeuristic

    public var description: String {
        switch self {
        case .ranking: return "depth from the iterative layer ranking of the stored importance scores"
        case .nano9BMixHeuristic:
            return "depth heuristic (no scores in a dry run): N removed layers split by kind in the 12B→9B mix 1 M : 2 * : 3 - (largest remainder; N = 6 gives the 9B's 27 M / 4 * / 25 -); parameters and memory depend only on these counts"
        }
    }
}

/// The enumerated search space of a recipe against a source model: every candidate with its cost, the
/// feasible ones, and the K picked for evaluation (pruning.md §6).
public struct SearchPlan: Sendable {
    public var source: NemotronHConfig
    public var candidates: [Candidate]
    public var depthSource: DepthSource
    /// Indices into ``candidates`` of the K picked (joint strategy: over all; depth-then-width: see ``pickedPerDepth``).
    public var picked: [Int]
    /// Depth-only probes (depth-then-width): one per layer count, widths of the source. Evaluated whatever their memory.
    public var depthProbes: [Candidate]
    /// Depth-then-width: layer count → indices of the K width candidates picked at that depth.
    public var pickedPerDepth: [Int: [Int]]
    public var budgetBytes: Int

    public var feasible: [Candidate] { candidates.filter(\.isFeasible) }

    /// Candidates rejected per constraint (first failing constraint), in checking order, zero counts omitted.
    public var rejections: [SearchError.Rejection] {
        CandidateRejection.order.compactMap { c in
            let hit = candidates.filter { $0.rejection?.constraint == c }
            return hit.isEmpty ? nil : SearchError.Rejection(constraint: c, count: hit.count, example: hit.first?.rejection?.reason)
        }
    }

    /// Enumerates the product of the recipe's choices, computes each candidate's cost and checks the constraints.
    /// - Throws: ``SearchError/nothingFeasible(enumerated:rejections:)`` when every candidate breaks a constraint;
    ///   ``SearchError/badRecipe(file:message:)`` when the ranking is too short for a layer count.
    public init(recipe: Recipe, source s: NemotronHConfig, depth: DepthSource) throws {
        let cost = try recipe.costModel()
        let sp = recipe.space
        let layers = sp.numLayers ?? [s.numLayers]
        let hidden = sp.hiddenSize ?? [s.hiddenSize], ffn = sp.ffnHiddenSize ?? [s.ffnHiddenSize]
        let mheads = sp.mambaNumHeads ?? [s.mambaNumHeads], mdim = sp.mambaHeadDim ?? [s.mambaHeadDim]
        let aheads = sp.numAttentionHeads ?? [s.numAttentionHeads]
        var removal = [Int: [Int]]()
        for n in layers where n <= s.numLayers && n > 0 { removal[n] = try Self.removed(source: s, numLayers: n, depth: depth, file: recipe.path) }

        func make(_ target: TargetArchitecture, ignoreMemory: Bool = false) -> Candidate {
            let n = target.numLayers!
            // Layer counts outside 1...L get the source's pattern: the structure rule rejects them below.
            let arch = (try? Architecture(source: s, target: target, removalOrder: removal[n] ?? []))
                ?? Architecture(numLayers: n, hiddenSize: target.hiddenSize!, ffnHiddenSize: target.ffnHiddenSize!, mambaNumHeads: target.mambaNumHeads!,
                                mambaHeadDim: target.mambaHeadDim!, numAttentionHeads: target.numAttentionHeads!, pattern: s.patternString, keptLayers: nil)
            let t = arch.config(source: s)
            do { try t.validate(file: recipe.path) } catch {
                // Sizes whose parameter count would not even fit 64-bit arithmetic: rejected without costing.
                let none = CostReport(hardware: cost.hardware.name, workload: cost.workload, weightDType: cost.weightDType,
                                      kvCacheDType: cost.kvCacheDType, ssmCacheDType: cost.ssmCacheDType(for: s), context: recipe.context,
                                      batch: recipe.batch, parameters: Int.max, weightBytes: Int.max, kvBytesPerToken: 0, convStateBytes: 0,
                                      ssmStateBytes: 0, memoryBytes: Int.max, budgetBytes: cost.budgetBytes, maxBatch: 0,
                                      prefillSeconds: nil, decodeSeconds: nil, outputTokensPerSecond: 0)
                return Candidate(architecture: arch, cost: none,
                                 rejection: CandidateRejection(constraint: "structure rule", reason: "\(error)"))
            }
            let report = cost.evaluate(t, context: recipe.context, batch: recipe.batch)
            var c = Candidate(architecture: arch, cost: report, rejection: nil)
            c.rejection = Self.check(arch, source: s, recipe: recipe, report: report, ignoreMemory: ignoreMemory)
            return c
        }
        var all = [Candidate]()
        var seen = Set<String>()
        for n in layers { for h in hidden { for f in ffn { for mh in mheads { for md in mdim { for q in aheads {
            // A width of a layer kind the pattern no longer has is irrelevant: ``Architecture`` keeps the source's
            // value so that equal models get one candidate (e.g. attention heads once every attention layer is gone).
            let c = make(TargetArchitecture(numLayers: n, hiddenSize: h, ffnHiddenSize: f, mambaNumHeads: mh, mambaHeadDim: md, numAttentionHeads: q))
            guard seen.insert(c.architecture.hash).inserted else { continue }
            all.append(c)
        } } } } } }
        candidates = all
        depthSource = depth
        budgetBytes = cost.budgetBytes
        self.source = s
        picked = []; depthProbes = []; pickedPerDepth = [:]
        guard all.contains(where: \.isFeasible) else {
            throw SearchError.nothingFeasible(enumerated: all.count, rejections: rejections)
        }
        switch recipe.strategy {
        case .joint:
            picked = Self.pick(all, recipe: recipe, among: all.indices.filter { all[$0].isFeasible })
        case .depthThenWidth:
            depthProbes = layers.map { n in
                make(TargetArchitecture(numLayers: n, hiddenSize: s.hiddenSize, ffnHiddenSize: s.ffnHiddenSize, mambaNumHeads: s.mambaNumHeads,
                                        mambaHeadDim: s.mambaHeadDim, numAttentionHeads: s.numAttentionHeads), ignoreMemory: true)
            }.filter(\.isFeasible)
            for n in layers {
                let idx = all.indices.filter { all[$0].isFeasible && all[$0].numLayers == n }
                if !idx.isEmpty { pickedPerDepth[n] = Self.pick(all, recipe: recipe, among: idx) }
            }
            depthProbes.removeAll { pickedPerDepth[$0.numLayers] == nil }
        }
    }

    /// K indices among `among`, best first: highest predicted tokens/s, or closest to the parameter target.
    /// Ties break on the canonical architecture JSON, so every worker picks the same K.
    static func pick(_ all: [Candidate], recipe: Recipe, among: [Int]) -> [Int] {
        let sorted = among.sorted { a, b in
            let ca = all[a], cb = all[b]
            switch recipe.selection {
            case .throughput:
                if ca.cost.outputTokensPerSecond != cb.cost.outputTokensPerSecond { return ca.cost.outputTokensPerSecond > cb.cost.outputTokensPerSecond }
            case .params:
                let t = recipe.targetParams ?? 0
                let da = abs(ca.cost.parameters - t), db = abs(cb.cost.parameters - t)
                if da != db { return da < db }
            }
            return ca.architecture.candidateTarget.canonicalJSON < cb.architecture.candidateTarget.canonicalJSON
        }
        return Array(sorted.prefix(recipe.topK))
    }

    /// The first constraint `arch` breaks, or nil.
    static func check(_ a: Architecture, source s: NemotronHConfig, recipe: Recipe, report: CostReport, ignoreMemory: Bool) -> CandidateRejection? {
        let dims: [(String, Int, Int)] = [("hidden_size", a.hiddenSize, s.hiddenSize), ("ffn_hidden_size", a.ffnHiddenSize, s.ffnHiddenSize),
                                          ("mamba_num_heads", a.mambaNumHeads, s.mambaNumHeads), ("mamba_head_dim", a.mambaHeadDim, s.mambaHeadDim),
                                          ("num_attention_heads", a.numAttentionHeads, s.numAttentionHeads), ("num_layers", a.numLayers, s.numLayers)]
        for (name, v, src) in dims where v > src {
            return CandidateRejection(constraint: "structure rule", reason: "\(name) \(v) is larger than the source's \(src)")
        }
        if a.mambaNumHeads % s.nGroups != 0 {
            return CandidateRejection(constraint: "structure rule", reason: "mamba_num_heads \(a.mambaNumHeads) is not a multiple of n_groups G = \(s.nGroups)")
        }
        if a.numAttentionHeads % s.numKeyValueHeads != 0 {
            return CandidateRejection(constraint: "structure rule", reason: "num_attention_heads \(a.numAttentionHeads) is not a multiple of num_key_value_heads \(s.numKeyValueHeads)")
        }
        for (name, v, src) in dims.dropLast() {
            let ratio = 1 - Double(v) / Double(src)
            if ratio > recipe.maxWidthPruning + 1e-12 {
                return CandidateRejection(constraint: "width pruning ratio",
                                          reason: String(format: "%@ %d prunes %.1f%% of %d (max %.0f%%)", name, v, ratio * 100, src, recipe.maxWidthPruning * 100))
            }
        }
        let dr = 1 - Double(a.numLayers) / Double(s.numLayers)
        if dr > recipe.maxDepthPruning + 1e-12 {
            return CandidateRejection(constraint: "depth pruning ratio",
                                      reason: String(format: "%d of %d layers prunes %.1f%% (max %.0f%%)", a.numLayers, s.numLayers, dr * 100, recipe.maxDepthPruning * 100))
        }
        if !ignoreMemory && !report.fits {
            return CandidateRejection(constraint: "memory budget",
                                      reason: "\(byteString(report.memoryBytes)) at \(report.context) tokens × batch \(report.batch) exceeds the \(byteString(report.budgetBytes)) budget by \(byteString(-report.slackBytes))")
        }
        return nil
    }

    /// The source layers removed to reach `numLayers` layers, in removal order: the first L − n of the
    /// ranking's order, or the heuristic's layers (the last layers of each kind in the 12B → 9B mix).
    static func removed(source s: NemotronHConfig, numLayers n: Int, depth: DepthSource, file: String) throws -> [Int] {
        let drop = s.numLayers - n
        guard drop > 0 else { return [] }
        switch depth {
        case let .ranking(order):
            guard order.count >= drop else {
                throw SearchError.badRecipe(file: file, message: "num_layers \(n) needs \(drop) layers removed but the layer ranking has \(order.count)")
            }
            return Array(order.prefix(drop))
        case .nano9BMixHeuristic:
            var left = heuristicRemovalCounts(source: s, remove: drop)
            var removed = [Int]()
            // Drop the last layers of each kind (which ones does not change parameters or memory).
            for i in s.pattern.indices.reversed() {
                let k = s.pattern[i]
                if let r = left[k], r > 0 { left[k] = r - 1; removed.append(i) }
            }
            return removed
        }
    }

    /// Layers of each kind removed by the dry-run heuristic for `remove` layers: the 12B → 9B mix
    /// (1 Mamba : 2 attention : 3 MLP), by largest remainder, capped by what the source has (overflow goes to the
    /// kinds with layers left, MLP first).
    public static func heuristicRemovalCounts(source s: NemotronHConfig, remove: Int) -> [LayerKind: Int] {
        let weights: [(LayerKind, Double)] = [(.mlp, 3), (.attention, 2), (.mamba, 1)]
        var counts = [LayerKind: Int]()
        var rem = [(LayerKind, Double)]()
        for (k, w) in weights {
            let exact = Double(remove) * w / 6
            counts[k] = Int(exact.rounded(.down)); rem.append((k, exact - exact.rounded(.down)))
        }
        var left = remove - counts.values.reduce(0, +)
        for (k, _) in rem.sorted(by: { $0.1 > $1.1 }) where left > 0 { counts[k]! += 1; left -= 1 }
        // Cap by availability (keep at least one layer overall).
        var overflow = 0
        for k in [LayerKind.mlp, .attention, .mamba] {
            let have = s.count(k)
            if counts[k]! > have { overflow += counts[k]! - have; counts[k] = have }
        }
        for k in [LayerKind.mlp, .attention, .mamba] where overflow > 0 {
            let room = s.count(k) - counts[k]!
            let t = min(room, overflow); counts[k]! += t; overflow -= t
        }
        return counts
    }
}
