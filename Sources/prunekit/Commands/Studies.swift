import ArgumentParser
import Foundation
import PruneKit

struct Studies: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the search studies in a database with their candidate and trial counts."
    )

    @Option(help: "Store: a SQLite file path or a postgresql://user[:password]@host[:port]/db URL (default: $PRUNEKIT_DB, else prunekit.sqlite).")
    var db: String?

    @OptionGroup var output: TableFormatOptions

    func run() throws {
        try runReportingErrors {
            let store = try openStore(db: db, mode: .readOnly)
            let studies = try store.listStudies()
            let best = try studies.map { try store.bestTrial(study: $0) }
            switch output.format {
            case .json:
                try printJSON(.array(zip(studies, best).map { s, b in
                    var o = s.json.objectValue!
                    o.append(("best_trial", b.map(\.json) ?? .null))
                    return .object(o)
                }))
            case .csv:
                print("name,strategy,objective,enumerated,feasible,waiting,running,complete,pruned,fail,best_trial,best_objective,created_at")
                for (s, b) in zip(studies, best) {
                    let c = TrialState.allCases.map { "\(s.counts[$0] ?? 0)" }.joined(separator: ",")
                    print("\(s.name),\(s.strategy),\(s.objective.rawValue),\(s.enumerated),\(s.feasible),\(c),\(b.map { "\($0.number)" } ?? ""),\(b?.objectiveValue.map { "\($0)" } ?? ""),\(s.createdAt)")
                }
            case .table:
                guard !studies.isEmpty else { print("(no studies in \(store.location))"); return }
                let header = ["study", "strategy", "objective", "enumerated", "feasible", "waiting", "running", "complete", "pruned", "fail", "best", "created"]
                let rows = zip(studies, best).map { s, b -> [String] in
                    [s.name, s.strategy, s.objective.rawValue, "\(s.enumerated)", "\(s.feasible)"]
                        + TrialState.allCases.map { "\(s.counts[$0] ?? 0)" }
                        + [b.map { String(format: "#%d %.5g", $0.number, $0.objectiveValue ?? .nan) } ?? "-", String(s.createdAt.prefix(19))]
                }
                print(renderTable(header: header, rows: rows))
            }
        }
    }
}
