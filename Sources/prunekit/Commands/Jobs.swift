import ArgumentParser
import Foundation
import PruneKit

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Distributed scoring jobs: units done / running / waiting, the current round, per-worker throughput, ETA.",
        discussion: "Opens the store read-only. The ETA is the units left (including rounds not yet created) at the workers' summed units/min."
    )

    @Option(help: "Store: a SQLite file path or a postgresql:// URL (default: $PRUNEKIT_DB, else prunekit.sqlite).")
    var db: String?

    @OptionGroup var output: FormatOptions

    func run() throws {
        try runReportingErrors {
            let store = try openStore(db: db, mode: .readOnly)
            let jobs = try openScoringQueue(store).status()
            switch output.format {
            case .json:
                let enc = JSONEncoder()
                enc.keyEncodingStrategy = .convertToSnakeCase
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try enc.encode(jobs), as: UTF8.self))
            case .table:
                if jobs.isEmpty { print("no scoring jobs in \(store.location)"); return }
                for j in jobs {
                    let eta = j.finished ? "finished" : j.etaSeconds.map { String(format: "ETA %.0f s", $0) } ?? "ETA unknown"
                    print("job \(j.id)  units \(j.done) done / \(j.running) running / \(j.waiting) waiting of \(j.spec.totalUnits)  round \(j.currentRound)/\(j.spec.rounds)  \(eta)  (\(j.spec.sampleCount) samples, \(j.spec.unitSamples) per unit, \(j.spec.options.key))")
                    for w in j.workers {
                        print("  worker \(w.worker): \(w.unitsDone) units, " + (w.unitsPerMinute.map { String(format: "%.2f units/min", $0) } ?? "– units/min")
                              + String(format: ", %.2f s per unit", w.secondsPerUnit))
                    }
                }
            }
        }
    }
}
