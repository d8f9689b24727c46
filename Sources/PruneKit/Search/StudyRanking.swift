/// The one definition of a study's ranking, best trial and Pareto front, used by `search`, `leaderboard`,
/// `studies`, `report` and `prune --trial best`.
public enum StudyRanking {
    /// Feasible COMPLETE trials ranked by the objective value (minimized), ties by predicted tokens/s (higher
    /// first) then trial number.
    public static func leaderboard(_ trials: [TrialRecord]) -> [TrialRecord] {
        trials.filter { $0.state == .complete && $0.fits && $0.objectiveValue != nil }.sorted {
            ($0.objectiveValue!, -$0.tokensPerSecond, $0.number) < ($1.objectiveValue!, -$1.tokensPerSecond, $1.number)
        }
    }

    /// The best trial: the first of ``leaderboard(_:)``, or nil when no feasible trial is complete.
    public static func best(_ trials: [TrialRecord]) -> TrialRecord? { leaderboard(trials).first }

    /// The Pareto front of feasible COMPLETE trials for (predicted tokens/s: maximize, KL: minimize) — Optuna's
    /// multi-objective "best trials" with the memory constraint (memory − budget ≤ 0). Sorted by throughput,
    /// highest first. A trial is on the front when no other is at least as good in both and better in one.
    public static func paretoFront(_ trials: [TrialRecord]) -> [TrialRecord] {
        let ok = trials.filter { $0.state == .complete && $0.fits && $0.kl != nil }
        return ok.filter { t in
            !ok.contains { o in
                o.tokensPerSecond >= t.tokensPerSecond && o.kl! <= t.kl! && (o.tokensPerSecond > t.tokensPerSecond || o.kl! < t.kl!)
            }
        }.sorted { ($0.tokensPerSecond, $1.number) > ($1.tokensPerSecond, $0.number) }
    }
}
