import Foundation

/// Everything a study report needs (issue 9), independent of where it came from (the trial database, a JSON
/// file, a test). Sizes are bytes, throughput is predicted output tokens/s per GPU (pruning.md §5), KL and
/// losses are in nats.
///
/// Encoded by ``PruneKitJSON`` (keys as the Swift names, as in the store's `cost_json` / `source_json`);
/// non-finite numbers (failed evaluations produce them) are written as `null` (``FiniteOrNull``).
public struct ReportInput: Codable, Sendable {
    public var study: Study
    public var source: SourceModel
    /// Importance scores of the source model; nil omits the importance sections (with a note).
    public var scores: ImportanceScores?
    public var trials: [Trial]
    /// Trial number of the chosen trial; nil means "best by the study's objective" (see ``chosen``).
    public var chosenTrial: Int?
    /// Post-hoc figures recorded after the search (`prunekit annotate`, e.g. loss after distillation); nil or
    /// empty omits the distillation section.
    public var postHoc: [PostHocMetric]? = nil

    public init(study: Study, source: SourceModel, scores: ImportanceScores?, trials: [Trial], chosenTrial: Int? = nil) {
        self.study = study; self.source = source; self.scores = scores; self.trials = trials; self.chosenTrial = chosenTrial
    }

    // MARK: - Study

    /// The study's settings and provenance.
    public struct Study: Codable, Sendable {
        /// Study name.
        public var name: String
        /// Objective metric: "kl", "mse", "loss", "params" or "tokens_per_second".
        public var objective: String
        /// "minimize" or "maximize".
        public var direction: String
        /// The recipe YAML the study was run from, verbatim.
        public var recipeYAML: String
        /// Hardware profile name, e.g. "A10G".
        public var hardware: String
        /// Context length of the memory check, tokens.
        public var context: Int
        /// Batch of the memory check, sequences.
        public var batch: Int
        /// Workload input length (ISL), tokens.
        public var inputLength: Int
        /// Workload output length (OSL), tokens.
        public var outputLength: Int
        /// Memory budget, bytes.
        public var budgetBytes: Int
        /// Source checkpoint folder.
        public var checkpointPath: String
        /// Hex SHA-256 fingerprint of the checkpoint.
        public var checkpointFingerprint: String
        /// Fingerprint of the calibration set the scores were computed on.
        public var calibrationFingerprint: String
        /// Fingerprint of the held-out set trials were evaluated on.
        public var heldOutFingerprint: String?
        /// PruneKit version that ran the study.
        public var toolVersion: String
        /// When the study was created (ISO 8601 text, as stored).
        public var created: String
        /// Candidates in the search space.
        public var enumeratedCandidates: Int
        /// Candidates that fit the budget.
        public var feasibleCandidates: Int

        public init(name: String, objective: String = "kl", direction: String = "minimize", recipeYAML: String, hardware: String,
                    context: Int, batch: Int, inputLength: Int, outputLength: Int, budgetBytes: Int, checkpointPath: String,
                    checkpointFingerprint: String, calibrationFingerprint: String, heldOutFingerprint: String?,
                    toolVersion: String = PruneKitVersion.string, created: String, enumeratedCandidates: Int, feasibleCandidates: Int) {
            self.name = name; self.objective = objective; self.direction = direction; self.recipeYAML = recipeYAML
            self.hardware = hardware; self.context = context; self.batch = batch; self.inputLength = inputLength
            self.outputLength = outputLength; self.budgetBytes = budgetBytes; self.checkpointPath = checkpointPath
            self.checkpointFingerprint = checkpointFingerprint; self.calibrationFingerprint = calibrationFingerprint
            self.heldOutFingerprint = heldOutFingerprint; self.toolVersion = toolVersion; self.created = created
            self.enumeratedCandidates = enumeratedCandidates; self.feasibleCandidates = feasibleCandidates
        }
    }

    // MARK: - Architecture and cost

    /// The shape of a Nemotron-H model, enough to describe it in a report.
    public struct ArchitectureSummary: Codable, Sendable, Equatable {
        /// `hybrid_override_pattern`: one character per layer, `M` Mamba, `*` attention, `-` MLP.
        public var pattern: String
        public var hiddenSize: Int
        public var ffnHiddenSize: Int
        public var numAttentionHeads: Int
        public var numKeyValueHeads: Int
        public var mambaNumHeads: Int
        public var mambaHeadDim: Int
        public var numLayers: Int { pattern.count }

        public init(pattern: String, hiddenSize: Int, ffnHiddenSize: Int, numAttentionHeads: Int, numKeyValueHeads: Int,
                    mambaNumHeads: Int, mambaHeadDim: Int) {
            self.pattern = pattern; self.hiddenSize = hiddenSize; self.ffnHiddenSize = ffnHiddenSize
            self.numAttentionHeads = numAttentionHeads; self.numKeyValueHeads = numKeyValueHeads
            self.mambaNumHeads = mambaNumHeads; self.mambaHeadDim = mambaHeadDim
        }

        /// The summary of a config.
        public init(_ c: NemotronHConfig) {
            self.init(pattern: c.patternString, hiddenSize: c.hiddenSize, ffnHiddenSize: c.ffnHiddenSize,
                      numAttentionHeads: c.numAttentionHeads, numKeyValueHeads: c.numKeyValueHeads,
                      mambaNumHeads: c.mambaNumHeads, mambaHeadDim: c.mambaHeadDim)
        }
    }

    /// Cost figures of one architecture at the study's context × batch (pruning.md §5). Bytes unless stated.
    public struct CostFigures: Codable, Sendable, Equatable {
        public var parameters: Int
        public var weightBytes: Int
        /// KV cache of the batch at the context length.
        public var kvBytes: Int
        /// Mamba conv + SSM state of the batch.
        public var mambaStateBytes: Int
        /// weights + KV + Mamba state.
        public var memoryBytes: Int
        /// Predicted output tokens/s per GPU at ISL/OSL (0 when nothing fits).
        @FiniteOrNull public var outputTokensPerSecond: Double

        public init(parameters: Int, weightBytes: Int, kvBytes: Int, mambaStateBytes: Int, memoryBytes: Int, outputTokensPerSecond: Double) {
            self.parameters = parameters; self.weightBytes = weightBytes; self.kvBytes = kvBytes
            self.mambaStateBytes = mambaStateBytes; self.memoryBytes = memoryBytes; self.outputTokensPerSecond = outputTokensPerSecond
        }

        /// The figures of a ``CostReport``.
        public init(_ r: CostReport) {
            self.init(parameters: r.parameters, weightBytes: r.weightBytes, kvBytes: r.kvBytes,
                      mambaStateBytes: r.batch * r.mambaStateBytes, memoryBytes: r.memoryBytes,
                      outputTokensPerSecond: r.outputTokensPerSecond)
        }
    }

    /// The model being pruned.
    public struct SourceModel: Codable, Sendable {
        public var architecture: ArchitectureSummary
        public var cost: CostFigures
        public init(architecture: ArchitectureSummary, cost: CostFigures) { self.architecture = architecture; self.cost = cost }
    }

    // MARK: - Trials

    /// A trial's state: the store's ``PruneKit/TrialState`` (WAITING and RUNNING trials are shown as unfinished).
    public typealias TrialState = PruneKit.TrialState

    /// Measured quality of a pruned candidate on held-out text, all in nats (nil = not measured).
    public struct Metrics: Codable, Sendable, Equatable {
        /// Mean KL divergence from the full model's next-token distribution, nats/token.
        @FiniteOrNull public var kl: Double?
        /// Mean logit MSE against the full model.
        @FiniteOrNull public var mse: Double?
        /// LM loss (next-token NLL), nats/token.
        @FiniteOrNull public var loss: Double?
        public init(kl: Double? = nil, mse: Double? = nil, loss: Double? = nil) { self.kl = kl; self.mse = mse; self.loss = loss }
    }

    /// One candidate architecture of the study and what happened to it.
    public struct Trial: Codable, Sendable {
        /// Trial number within the study.
        public var number: Int
        public var state: TrialState
        /// The target the candidate was pruned to.
        public var target: TargetArchitecture
        /// The resulting architecture.
        public var architecture: ArchitectureSummary
        public var cost: CostFigures
        /// budget − memory, bytes (negative when it does not fit).
        public var budgetSlackBytes: Int
        public var fits: Bool
        public var metrics: Metrics
        /// Error text of a FAIL trial.
        public var error: String?
        /// Why a PRUNED trial was infeasible.
        public var infeasibleReason: String?
        /// Wall time of the trial, seconds.
        @FiniteOrNull public var seconds: Double?

        public init(number: Int, state: TrialState, target: TargetArchitecture, architecture: ArchitectureSummary, cost: CostFigures,
                    budgetSlackBytes: Int, fits: Bool, metrics: Metrics = Metrics(), error: String? = nil,
                    infeasibleReason: String? = nil, seconds: Double? = nil) {
            self.number = number; self.state = state; self.target = target; self.architecture = architecture; self.cost = cost
            self.budgetSlackBytes = budgetSlackBytes; self.fits = fits; self.metrics = metrics; self.error = error
            self.infeasibleReason = infeasibleReason; self.seconds = seconds
        }

        /// The value of an objective name for this trial ("kl", "mse", "loss", "params", "tokens_per_second").
        public func value(of objective: String) -> Double? {
            switch objective.lowercased() {
            case "kl": return metrics.kl
            case "mse": return metrics.mse
            case "loss", "lm_loss": return metrics.loss
            case "params", "parameters": return Double(cost.parameters)
            case "tokens_per_second", "throughput", "tps": return cost.outputTokensPerSecond
            default: return nil
            }
        }
    }

    // MARK: - Derived

    /// Whether the objective is maximized.
    public var maximizes: Bool { study.direction.lowercased().hasPrefix("max") }

    /// The chosen trial: ``chosenTrial`` if set and present, else the first of ``ranked``; nil when there is none.
    public var chosen: Trial? {
        if let n = chosenTrial, let t = trials.first(where: { $0.number == n }) { return t }
        return ranked.first
    }

    /// Feasible COMPLETE trials with a finite objective value, best first (``StudyRanking/leaderboard(_:value:maximize:)``).
    public var ranked: [Trial] {
        StudyRanking.leaderboard(trials, value: { $0.value(of: study.objective) }, maximize: maximizes)
    }


    /// Reads a report input JSON file.
    /// - Throws: ``ReportError/badInput(file:message:)`` naming the file and the decoding problem.
    public static func load(path: String) throws -> ReportInput {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError.badInput(file: path, message: "cannot read the file; check the path")
        }
        do { return try PruneKitJSON.decode(ReportInput.self, from: data) } catch let e as DecodingError {
            throw ReportError.badInput(file: path, message: ReportError.describe(e))
        }
    }

    /// The input as JSON (the format ``load(path:)`` reads).
    public func jsonData() throws -> Data { try PruneKitJSON.data(self, pretty: true) }
}

/// Errors from writing a report (exit code 2: bad input or output).
public enum ReportError: Error, CustomStringConvertible {
    case badInput(file: String, message: String)
    case output(path: String, message: String)

    public var description: String {
        switch self {
        case let .badInput(f, m): return "\(f): not a report input: \(m)"
        case let .output(p, m): return "cannot write the report to \(p): \(m)"
        }
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: [CodingKey]) -> String { c.isEmpty ? "top level" : c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch e {
        case let .keyNotFound(k, c): return "missing key \"\(k.stringValue)\" at \(path(c.codingPath))"
        case let .typeMismatch(_, c), let .valueNotFound(_, c), let .dataCorrupted(c): return "\(c.debugDescription) at \(path(c.codingPath))"
        @unknown default: return "\(e)"
        }
    }
}

extension ReportInput.Trial: RankableTrial {
    public var tokensPerSecond: Double { cost.outputTokensPerSecond }
    public var kl: Double? { metrics.kl }
}
