/// What the ranking needs of a trial: a stored ``TrialRecord`` and a report's ``ReportInput/Trial`` alike.
public protocol RankableTrial {
    var number: Int { get }
    var state: TrialState { get }
    /// Whether the memory at the study's context × batch fits the budget (memory − budget ≤ 0).
    var fits: Bool { get }
    /// Predicted output tokens/s per GPU.
    var tokensPerSecond: Double { get }
    /// Measured KL divergence to the full model, nats/token (nil when not measured).
    var kl: Double? { get }
}

extension TrialRecord: RankableTrial {}

/// The one definition of a study's ranking, best trial and Pareto front, used by `search`, `leaderboard`,
/// `studies`, `prune --trial best` and `report`.
public enum StudyRanking {
    /// Feasible (fits the budget) COMPLETE trials with a finite value, best first: by `value` (minimized, or
    /// maximized), ties by predicted tokens/s (higher first), then trial number.
    public static func leaderboard<T: RankableTrial>(_ trials: [T], value: (T) -> Double?, maximize: Bool = false) -> [T] {
        let ok = trials.compactMap { t -> (T, Double)? in
            guard t.state == .complete, t.fits, let v = value(t), v.isFinite else { return nil }
            return (t, maximize ? -v : v)
        }
        return ok.sorted { ($0.1, -$0.0.tokensPerSecond, $0.0.number) < ($1.1, -$1.0.tokensPerSecond, $1.0.number) }.map(\.0)
    }

    /// A study's trials ranked by their stored objective value (minimized).
    public static func leaderboard(_ trials: [TrialRecord]) -> [TrialRecord] { leaderboard(trials, value: \.objectiveValue) }

    /// The best trial: the first of ``leaderboard(_:)``, or nil when no feasible trial is complete.
    public static func best(_ trials: [TrialRecord]) -> TrialRecord? { leaderboard(trials).first }

    /// The Pareto front of feasible COMPLETE trials for (predicted tokens/s: maximize, KL: minimize) — Optuna's
    /// multi-objective "best trials" with the memory constraint (memory − budget ≤ 0). Sorted by throughput,
    /// highest first (ties by trial number). A trial is on the front when no other is at least as good in both
    /// and better in one.
    public static func paretoFront<T: RankableTrial>(_ trials: [T]) -> [T] {
        let ok = trials.filter { $0.state == .complete && $0.fits && ($0.kl?.isFinite ?? false) && $0.tokensPerSecond.isFinite }
        return ok.filter { t in
            !ok.contains { o in
                o.tokensPerSecond >= t.tokensPerSecond && o.kl! <= t.kl! && (o.tokensPerSecond > t.tokensPerSecond || o.kl! < t.kl!)
            }
        }.sorted { ($0.tokensPerSecond, $1.number) > ($1.tokensPerSecond, $0.number) }
    }
}
