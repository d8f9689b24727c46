import ArgumentParser
import Foundation
import PruneKit

/// `table`, `json` or `csv`.
enum TableFormat: String, ExpressibleByArgument, CaseIterable { case table, json, csv }

struct Leaderboard: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rank a study's feasible, complete trials by its objective (formats.md §4).",
        discussion: """
        Shows parameters, memory at the study's context × batch and its slack to the budget, predicted tokens/s, \
        and the measured KL divergence, logit MSE and LM loss. --pareto keeps the Pareto front of (predicted \
        tokens/s: maximize, KL: minimize); in the table, front members are marked P. JSON also lists evaluated \
        trials that are not ranked (infeasible depth probes, failures).
        """
    )

    @Option(help: "Store: a SQLite file path or a postgresql://user[:password]@host[:port]/db URL (default: $PRUNEKIT_DB, else prunekit.sqlite).")
    var db: String?

    @Option(help: "Study name (default: the most recently created study).")
    var study: String?

    @OptionGroup var output: TableFormatOptions

    @Flag(help: "Only the Pareto front of (tokens/s max, KL min).")
    var pareto = false

    @Option(parsing: .unconditional, help: "Show only the first N.")
    var top: Int?

    @Option(help: "Rank by this metric instead of the study's objective: kl, mse, loss, or a post-hoc metric recorded with `prunekit annotate` (e.g. kd_loss; the figure after the most KD steps).")
    var objective: String?

    @Flag(help: "With a post-hoc --objective: larger is better.")
    var maximize = false

    func validate() throws { if let t = top, t <= 0 { throw ValidationError("--top must be > 0, got \(t)") } }

    func run() throws {
        try runReportingErrors {
            let store = try openStore(db: db, mode: .readOnly)
            let s = try store.resolveStudy(study)
            if let objective, Recipe.Metric(rawValue: objective) == nil {
                try MetricLeaderboard.print(store: store, study: s, metric: objective, maximize: maximize, top: top, format: output.format)
                return
            }
            var trials = try store.trials(study: s.id)
            if let objective, let m = Recipe.Metric(rawValue: objective) {
                // Rank by another measured metric: make it the objective value of every trial.
                trials = trials.map { t in var t = t; t.objectiveValue = m == .kl ? t.kl : m == .mse ? t.mse : t.loss; return t }
            }
            let front = StudyRanking.paretoFront(trials)
            // The front's trials, still ranked by the study's objective.
            var ranked = pareto ? StudyRanking.leaderboard(trials).filter { t in front.contains { $0.number == t.number } } : StudyRanking.leaderboard(trials)
            if let top { ranked = Array(ranked.prefix(top)) }
            switch output.format {
            case .json:
                let unranked = trials.filter { t in (t.state == .complete || t.state == .fail) && !StudyRanking.leaderboard(trials).contains { $0.number == t.number } }
                try printJSON(.object([("study", s.json), ("objective", .string(objective ?? s.objective.rawValue)), ("direction", .string(s.direction)),
                                   ("pareto", .bool(pareto)), ("trials", .array(ranked.enumerated().map { i, t in
                                       var o = t.json.objectValue!; o.insert(("rank", .int(i + 1)), at: 0)
                                       o.append(("pareto_front", .bool(front.contains { $0.number == t.number }))); return .object(o) })),
                                   ("not_ranked", .array(unranked.map(\.json)))]))
            case .csv:
                let cols = ["rank", "number", "stage", "num_layers", "hidden_size", "ffn_hidden_size", "mamba_num_heads", "mamba_head_dim",
                            "num_attention_heads", "params", "memory_bytes", "budget_bytes", "slack_bytes", "max_batch", "tokens_per_second",
                            "kl", "mse", "loss", "pareto_front"]
                print(cols.joined(separator: ","))
                for (i, t) in ranked.enumerated() {
                    let a = t.architecture
                    let v: [String] = ["\(i + 1)", "\(t.number)", t.stage.rawValue, "\(a.numLayers)", "\(a.hiddenSize)", "\(a.ffnHiddenSize)",
                                       "\(a.mambaNumHeads)", "\(a.mambaHeadDim)", "\(a.numAttentionHeads)", "\(t.params)", "\(t.memoryBytes)",
                                       "\(t.budgetBytes)", "\(t.slackBytes)", "\(t.maxBatch)", "\(t.tokensPerSecond)",
                                       t.kl.map { "\($0)" } ?? "", t.mse.map { "\($0)" } ?? "", t.loss.map { "\($0)" } ?? "",
                                       front.contains { $0.number == t.number } ? "1" : "0"]
                    print(v.joined(separator: ","))
                }
            case .table:
                print("study \(s.name): \(s.counts[.complete] ?? 0) complete, \(s.enumerated) enumerated, \(s.feasible) feasible; objective \(s.objective.rawValue) (minimize); budget \(humanBytes(s.budgetBytes)) at \(grouped(s.context)) tokens × batch \(s.batch) on \(s.hardware)")
                print(LeaderboardTable.render(ranked, pareto: Set(front.map(\.number)), mib: s.budgetBytes < 1 << 30))
            }
        }
    }
}

/// The leaderboard as a text table.
enum LeaderboardTable {
    /// - Parameter mib: memory columns in MiB (for budgets under 1 GiB) instead of GiB.
    static func render(_ ranked: [TrialRecord], pareto: Set<Int>, mib: Bool = false) -> String {
        let unit = mib ? "MiB" : "GiB", scale = mib ? 1_048_576.0 : 1_073_741_824.0
        guard !ranked.isEmpty else { return "(no feasible complete trials yet)" }
        let header = ["rank", "trial", "layers", "hidden", "FFN", "Mamba", "attn", "params", "mem \(unit)", "slack \(unit)", "tok/s", "KL", "MSE", "loss", "P"]
        let rows = ranked.enumerated().map { i, t -> [String] in
            let a = t.architecture
            return ["\(i + 1)", "\(t.number)", "\(a.numLayers)", "\(a.hiddenSize)", widthCell(t.pattern, .mlp, "\(a.ffnHiddenSize)"),
                    widthCell(t.pattern, .mamba, "\(a.mambaNumHeads)×\(a.mambaHeadDim)"),
                    widthCell(t.pattern, .attention, "\(a.numAttentionHeads)"), grouped(t.params), String(format: "%.3f", Double(t.memoryBytes) / scale), String(format: "%+.3f", Double(t.slackBytes) / scale),
                    String(format: "%.2f", t.tokensPerSecond), t.kl.map { String(format: "%.5f", $0) } ?? "-",
                    t.mse.map { String(format: "%.5f", $0) } ?? "-", t.loss.map { String(format: "%.4f", $0) } ?? "-", pareto.contains(t.number) ? "P" : ""]
        }
        return renderTable(header: header, rows: rows)
    }
}

/// A width column of a layer kind: "-" when the pattern has no layer of that kind left (the width is then moot).
func widthCell(_ pattern: String, _ kind: LayerKind, _ value: String) -> String {
    pattern.contains(kind.rawValue) ? value : "-"
}
