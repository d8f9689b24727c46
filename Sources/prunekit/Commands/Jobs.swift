import ArgumentParser
import Foundation
import PruneKit

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Distributed work in the store: scoring jobs (units done / running / waiting, round, per-worker units/min and tokens/s, ETA) and search studies (trials done / running / waiting).",
        discussion: """
        Opens the store read-only. A worker's units/min counts its completions after the first over the span between \
        its first and last (store clock); its tokens/s is the calibration tokens of its completed units' samples \
        divided by their summed compute seconds. The ETA is the units left (including rounds not yet created) at the \
        workers' summed units/min. JSON: {"jobs": […], "studies": […]}.
        """
    )

    @Option(help: "Store: a SQLite file path or a postgresql:// URL (default: $PRUNEKIT_DB, else prunekit.sqlite).")
    var db: String?

    @OptionGroup var output: FormatOptions

    /// A study's trial progress (PRUNED trials, never evaluated, are not counted).
    struct StudyProgress: Codable {
        var study: String
        var done: Int
        var failed: Int
        var running: Int
        var waiting: Int
        var trials: Int
    }

    func run() throws {
        try runReportingErrors {
            let store = try openStore(db: db, mode: .readOnly)
            let jobs = try openScoringQueue(store).status()
            let studies = try store.listStudies().map { s in
                StudyProgress(study: s.name, done: s.counts[.complete] ?? 0, failed: s.counts[.fail] ?? 0, running: s.counts[.running] ?? 0,
                              waiting: s.counts[.waiting] ?? 0, trials: TrialState.allCases.filter { $0 != .pruned }.reduce(0) { $0 + (s.counts[$1] ?? 0) })
            }
            switch output.format {
            case .json:
                struct Output: Codable { var jobs: [ScoringJobStatus]; var studies: [StudyProgress] }
                print(try PruneKitJSON.string(Output(jobs: jobs, studies: studies), pretty: true))
            case .table:
                if jobs.isEmpty && studies.isEmpty { print("no scoring jobs or studies in \(store.location)"); return }
                for j in jobs {
                    let eta = j.finished ? "finished" : j.etaSeconds.map { String(format: "ETA %.0f s", $0) } ?? "ETA unknown"
                    print("job \(j.id)  units \(j.done) done / \(j.running) running / \(j.waiting) waiting of \(j.spec.totalUnits)  round \(j.currentRound)/\(j.spec.rounds)  \(eta)  (\(j.spec.sampleCount) samples, \(j.spec.unitSamples) per unit, \(j.spec.options.key))")
                    for w in j.workers {
                        let rate = w.unitsPerMinute.map { String(format: "%.2f units/min", $0) } ?? "– units/min"
                        let tps = w.tokensPerSecond.map { String(format: "%.1f tokens/s", $0) } ?? "– tokens/s"
                        print("  worker \(w.worker): \(w.unitsDone) units, \(rate), \(tps)" + String(format: ", %.2f s per unit", w.secondsPerUnit))
                    }
                }
                for s in studies {
                    print("study \(s.study)  trials \(s.done) done / \(s.running) running / \(s.waiting) waiting of \(s.trials)" + (s.failed > 0 ? " (\(s.failed) failed)" : ""))
                }
            }
        }
    }
}
