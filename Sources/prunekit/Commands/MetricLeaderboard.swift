import Foundation
import PruneKit

/// `leaderboard --objective NAME` for a post-hoc metric (recorded with `prunekit annotate`): every (trial,
/// student) with that metric, ranked by its figure after the most KD steps, next to the search's own figures
/// (KL and loss are the search's measurement of the trial's own pruned student; other students, such as a
/// random-keep-set baseline of the same architecture, show none).
enum MetricLeaderboard {
    static func print(store: any StudyStore, study s: StudyRecord, metric: String, maximize: Bool, top: Int?, format: TableFormat) throws {
        let history = try store.metrics(study: s.id)
        var ranked = TrialMetrics.rankByMetric(history, name: metric, maximize: maximize)
        guard !ranked.isEmpty else {
            let names = Set(history.map(\.name)).sorted()
            throw AnnotateError.badMetric("study \"\(s.name)\" has no metric \"\(metric)\" (objectives: kl, mse, loss" + (names.isEmpty ? "; no post-hoc metrics recorded — `prunekit annotate` adds them)" : "; post-hoc: \(names.joined(separator: ", ")))"))
        }
        if let top { ranked = Array(ranked.prefix(top)) }
        let trials = Dictionary(uniqueKeysWithValues: try store.trials(study: s.id).map { ($0.number, $0) })
        func d(_ v: Double?) -> JSONValue { v.map { $0.isFinite ? .double($0) : .null } ?? .null }
        /// The search's KL and loss describe the trial's own pruned student only.
        func searched(_ r: TrialMetrics.MetricRank, _ v: (TrialRecord) -> Double?) -> Double? {
            r.student == TrialMetric.prunedStudent ? trials[r.trialNumber].flatMap(v) : nil
        }
        switch format {
        case .json:
            try printJSON(.object([("study", .string(s.name)), ("objective", .string(metric)), ("direction", .string(maximize ? "maximize" : "minimize")),
                               ("trials", .array(ranked.enumerated().map { i, r in
                                   let t = trials[r.trialNumber]
                                   return .object([("rank", .int(i + 1)), ("number", .int(r.trialNumber)), ("student", .string(r.student)),
                                                   (metric, d(r.value)), ("kd_steps", r.kdSteps.map { .int($0) } ?? .null),
                                                   ("\(metric)_before_kd", d(r.before)), ("params", .int(t?.params ?? 0)),
                                                   ("tokens_per_second", d(t?.tokensPerSecond)), ("kl", d(searched(r, \.kl))), ("loss", d(searched(r, \.loss)))])
                               }))]))
        case .csv:
            Swift.print(["rank", "number", "student", metric, "kd_steps", "\(metric)_before_kd", "params", "tokens_per_second", "kl", "loss"].joined(separator: ","))
            for (i, r) in ranked.enumerated() {
                let t = trials[r.trialNumber]
                func opt(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
                var cells: [String] = ["\(i + 1)", "\(r.trialNumber)", r.student, "\(r.value)"]
                cells.append(r.kdSteps.map(String.init) ?? "")
                cells.append(opt(r.before))
                cells.append("\(t?.params ?? 0)")
                cells += [opt(t?.tokensPerSecond), opt(searched(r, \.kl)), opt(searched(r, \.loss))]
                Swift.print(cells.joined(separator: ","))
            }
        case .table:
            Swift.print("study \(s.name): ranked by \(metric) (\(maximize ? "maximize" : "minimize"); the figure after the most KD steps recorded); search objective \(s.objective.rawValue)")
            let rows = ranked.enumerated().map { i, r -> [String] in
                let t = trials[r.trialNumber], a = t?.architecture
                return ["\(i + 1)", "\(r.trialNumber)", r.student, a.map { "\($0.numLayers)" } ?? "-", a.map { "\($0.hiddenSize)" } ?? "-",
                        t.map { grouped($0.params) } ?? "-", searched(r, \.kl).map { String(format: "%.5f", $0) } ?? "-",
                        searched(r, \.loss).map { String(format: "%.4f", $0) } ?? "-",
                        r.before.map { String(format: "%.4f", $0) } ?? "-", String(format: "%.4f", r.value), r.kdSteps.map(String.init) ?? "-"]
            }
            Swift.print(renderTable(header: ["rank", "trial", "student", "layers", "hidden", "params", "KL", "loss", "\(metric) @0", metric, "KD steps"], rows: rows))
        }
    }
}
