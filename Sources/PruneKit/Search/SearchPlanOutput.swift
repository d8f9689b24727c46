import Foundation

/// The layer mix of a pattern, e.g. `4 M / 1 * / 3 -` (Mamba / attention / MLP layers).
public func layerMix(_ pattern: String) -> String {
    "\(pattern.filter { $0 == "M" }.count) M / \(pattern.filter { $0 == "*" }.count) * / \(pattern.filter { $0 == "-" }.count) -"
}

/// `search --dry-run --format json`: the recipe with defaults, the source, the budget, the candidate counts
/// and every candidate (snake_case keys, ``PruneKitJSON``).
public struct SearchPlanOutput: Codable, Sendable, Equatable {
    /// One candidate: its ``Architecture`` keys flat, next to its cost figures and whether it was picked.
    public struct CandidateEntry: Codable, Sendable, Equatable {
        public var architecture: Architecture
        public var layerMix: String
        public var architectureHash: String
        public var params: Int
        public var memoryBytes: Int
        @FiniteOrNull public var memoryGiB: Double
        public var slackBytes: Int
        public var fits: Bool
        public var maxBatch: Int
        @FiniteOrNull public var tokensPerSecond: Double
        public var feasible: Bool
        public var rejectedBy: String?
        public var reason: String?
        public var picked: Bool
        enum CodingKeys: String, CodingKey {
            case layerMix = "layer_mix", architectureHash = "architecture_hash", params, memoryBytes = "memory_bytes", memoryGiB = "memory_gib"
            case slackBytes = "slack_bytes", fits, maxBatch = "max_batch", tokensPerSecond = "tokens_per_second", feasible
            case rejectedBy = "rejected_by", reason, picked
        }
        public init(_ c: Candidate, picked: Bool) {
            let r = c.cost
            architecture = c.architecture; layerMix = PruneKit.layerMix(c.pattern); architectureHash = c.architecture.hash
            params = r.parameters; memoryBytes = r.memoryBytes; memoryGiB = GiB.of(r.memoryBytes); slackBytes = r.slackBytes
            fits = r.fits; maxBatch = r.maxBatch; tokensPerSecond = r.outputTokensPerSecond; feasible = c.isFeasible
            rejectedBy = c.rejection?.constraint; reason = c.rejection?.reason; self.picked = picked
        }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            architecture = try Architecture(from: decoder)
            layerMix = try c.decode(String.self, forKey: .layerMix); architectureHash = try c.decode(String.self, forKey: .architectureHash)
            params = try c.decode(Int.self, forKey: .params); memoryBytes = try c.decode(Int.self, forKey: .memoryBytes)
            _memoryGiB = try c.decode(FiniteOrNull<Double>.self, forKey: .memoryGiB); slackBytes = try c.decode(Int.self, forKey: .slackBytes)
            fits = try c.decode(Bool.self, forKey: .fits); maxBatch = try c.decode(Int.self, forKey: .maxBatch)
            _tokensPerSecond = try c.decode(FiniteOrNull<Double>.self, forKey: .tokensPerSecond); feasible = try c.decode(Bool.self, forKey: .feasible)
            rejectedBy = try c.decodeIfPresent(String.self, forKey: .rejectedBy); reason = try c.decodeIfPresent(String.self, forKey: .reason)
            picked = try c.decode(Bool.self, forKey: .picked)
        }
        public func encode(to encoder: Encoder) throws {
            try architecture.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(layerMix, forKey: .layerMix); try c.encode(architectureHash, forKey: .architectureHash); try c.encode(params, forKey: .params)
            try c.encode(memoryBytes, forKey: .memoryBytes); try c.encode(_memoryGiB, forKey: .memoryGiB); try c.encode(slackBytes, forKey: .slackBytes)
            try c.encode(fits, forKey: .fits); try c.encode(maxBatch, forKey: .maxBatch); try c.encode(_tokensPerSecond, forKey: .tokensPerSecond)
            try c.encode(feasible, forKey: .feasible); try c.encode(rejectedBy, forKey: .rejectedBy); try c.encode(reason, forKey: .reason)
            try c.encode(picked, forKey: .picked)
        }
    }
    public var recipe: Recipe.Echo
    public var recipePath: String
    public var sourceParams: Int
    public var sourcePattern: String
    public var budgetBytes: Int
    public var depth: String
    public var notes: [String]
    public var enumerated: Int
    public var feasible: Int
    public var rejections: RejectionCounts
    public var strategy: String
    public var picked: [CandidateEntry]
    public var depthProbes: [CandidateEntry]
    public var pickedPerDepth: [Int: [CandidateEntry]]
    public var candidates: [CandidateEntry]
    enum CodingKeys: String, CodingKey {
        case recipe, recipePath = "recipe_path", sourceParams = "source_params", sourcePattern = "source_pattern", budgetBytes = "budget_bytes"
        case depth, notes, enumerated, feasible, rejections, strategy, picked, depthProbes = "depth_probes", pickedPerDepth = "picked_per_depth"
        case candidates
    }
    public init(_ p: SearchPlan, recipe r: Recipe) {
        let picked = Set(p.picked)
        recipe = r.echo; recipePath = r.path; sourceParams = p.source.parameterCount; sourcePattern = p.source.patternString
        budgetBytes = p.budgetBytes; depth = p.depthSource.description; notes = r.notes; enumerated = p.candidates.count
        feasible = p.feasible.count; rejections = RejectionCounts(list: p.rejections.map { .init(constraint: $0.constraint, count: $0.count) }); strategy = r.strategy.rawValue
        self.picked = p.picked.map { CandidateEntry(p.candidates[$0], picked: true) }
        depthProbes = p.depthProbes.map { CandidateEntry($0, picked: true) }
        pickedPerDepth = p.pickedPerDepth.mapValues { $0.map { CandidateEntry(p.candidates[$0], picked: true) } }
        candidates = p.candidates.enumerated().map { CandidateEntry($0.element, picked: picked.contains($0.offset)) }
    }
}
