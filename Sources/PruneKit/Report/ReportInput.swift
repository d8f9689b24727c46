import Foundation

/// Everything a study report needs (issue 9), independent of where it came from (the trial database, a JSON
/// file, a test). Sizes are bytes, throughput is predicted output tokens/s per GPU (pruning.md §5), KL and
/// losses are in nats.
///
/// Encoded by ``PruneKitJSON`` with snake_case keys (formats.md §7; ``Architecture`` and ``CostFigures`` as in
/// the store's `source_json` / `cost_json`); non-finite numbers (failed evaluations produce them) are written as
/// `null` (``FiniteOrNull``). The decoder also reads the camelCase keys of an older PruneKit's report inputs.
public struct ReportInput: Codable, Sendable {
    public var study: Study
    /// The model being pruned: its ``Architecture`` and ``CostFigures`` at the study's context × batch.
    public var source: SourceSummary
    /// Importance scores of the source model; nil omits the importance sections (with a note).
    public var scores: ImportanceScores?
    public var trials: [Trial]
    /// Trial number of the chosen trial; nil means "best by the study's objective" (see ``chosen``).
    public var chosenTrial: Int?
    /// Post-hoc figures recorded after the search (`prunekit annotate`, e.g. loss after distillation); nil or
    /// empty omits the distillation section.
    public var postHoc: [PostHocMetric]? = nil

    public init(study: Study, source: SourceSummary, scores: ImportanceScores?, trials: [Trial], chosenTrial: Int? = nil) {
        self.study = study; self.source = source; self.scores = scores; self.trials = trials; self.chosenTrial = chosenTrial
    }

    enum CodingKeys: String, CodingKey { case study, source, scores, trials, chosenTrial = "chosen_trial", postHoc = "post_hoc" }

    /// Reads the snake_case form or the camelCase one of an older PruneKit.
    /// - Throws: `DecodingError` naming the missing or mistyped key.
    public init(from decoder: Decoder) throws {
        let c = try LenientKeyedContainer(decoder)
        self.init(study: try c.decode("study"), source: try c.decode("source"), scores: try c.decodeIfPresent("scores"),
                  trials: try c.decode("trials"), chosenTrial: try c.decodeIfPresent("chosen_trial"))
        postHoc = try c.decodeIfPresent("post_hoc")
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

        enum CodingKeys: String, CodingKey {
            case name, objective, direction, recipeYAML = "recipe_yaml", hardware, context, batch, inputLength = "input_length"
            case outputLength = "output_length", budgetBytes = "budget_bytes", checkpointPath = "checkpoint_path"
            case checkpointFingerprint = "checkpoint_fingerprint", calibrationFingerprint = "calibration_fingerprint"
            case heldOutFingerprint = "held_out_fingerprint", toolVersion = "tool_version", created
            case enumeratedCandidates = "enumerated_candidates", feasibleCandidates = "feasible_candidates"
        }

        /// Reads the snake_case form or the camelCase one of an older PruneKit.
        public init(from decoder: Decoder) throws {
            let c = try LenientKeyedContainer(decoder)
            self.init(name: try c.decode("name"), objective: try c.decode("objective"), direction: try c.decode("direction"),
                      recipeYAML: try c.decode("recipe_yaml"), hardware: try c.decode("hardware"), context: try c.decode("context"),
                      batch: try c.decode("batch"), inputLength: try c.decode("input_length"), outputLength: try c.decode("output_length"),
                      budgetBytes: try c.decode("budget_bytes"), checkpointPath: try c.decode("checkpoint_path"),
                      checkpointFingerprint: try c.decode("checkpoint_fingerprint"), calibrationFingerprint: try c.decode("calibration_fingerprint"),
                      heldOutFingerprint: try c.decodeIfPresent("held_out_fingerprint"), toolVersion: try c.decode("tool_version"),
                      created: try c.decode("created"), enumeratedCandidates: try c.decode("enumerated_candidates"),
                      feasibleCandidates: try c.decode("feasible_candidates"))
        }
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
        /// The resulting architecture (with the source's KV heads).
        public var architecture: Architecture
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

        public init(number: Int, state: TrialState, target: TargetArchitecture, architecture: Architecture, cost: CostFigures,
                    budgetSlackBytes: Int, fits: Bool, metrics: Metrics = Metrics(), error: String? = nil,
                    infeasibleReason: String? = nil, seconds: Double? = nil) {
            self.number = number; self.state = state; self.target = target; self.architecture = architecture; self.cost = cost
            self.budgetSlackBytes = budgetSlackBytes; self.fits = fits; self.metrics = metrics; self.error = error
            self.infeasibleReason = infeasibleReason; self.seconds = seconds
        }

        enum CodingKeys: String, CodingKey {
            case number, state, target, architecture, cost, budgetSlackBytes = "budget_slack_bytes", fits, metrics, error
            case infeasibleReason = "infeasible_reason", seconds
        }

        /// Reads the snake_case form or the camelCase one of an older PruneKit.
        public init(from decoder: Decoder) throws {
            let c = try LenientKeyedContainer(decoder)
            self.init(number: try c.decode("number"), state: try c.decode("state"), target: try c.decode("target"),
                      architecture: try c.decode("architecture"), cost: try c.decode("cost"),
                      budgetSlackBytes: try c.decode("budget_slack_bytes"), fits: try c.decode("fits"),
                      metrics: try c.decodeIfPresent("metrics") ?? Metrics(), error: try c.decodeIfPresent("error"),
                      infeasibleReason: try c.decodeIfPresent("infeasible_reason"), seconds: try c.finiteOrNull("seconds"))
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
