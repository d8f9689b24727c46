import ArgumentParser
import Foundation
import PruneKit

struct Annotate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record post-hoc metrics of a trial (e.g. held-out loss after distillation) in its study.",
        discussion: """
        Each --metric NAME=VALUE is stored in the table trial_metrics with the time, the tool version and the \
        provenance (host, user, working directory, command line, --source file). Nothing is overwritten: the latest \
        value per (trial, student, name, --kd-steps) is the current one. --student labels another student of the \
        same trial (e.g. a random-keep-set baseline: random-seed-1); the default, pruned, is the trial's \
        importance-pruned export. --kd-steps says after how many distillation steps the figure was measured \
        (0 = before); `leaderboard --objective NAME` ranks by the figure after the most steps and the report \
        plots them. Names kl, mse, loss, params and tokens_per_second are the search's own metrics.
        """
    )

    @Option(help: "Store: a SQLite file path or a postgresql://user[:password]@host[:port]/db URL (default: $PRUNEKIT_DB, else prunekit.sqlite).")
    var db: String?

    @Option(help: "Study name (default: the most recently created study).")
    var study: String?

    @Option(help: "Trial number.")
    var trial: Int

    @Option(help: "Student label (default: pruned, the trial's importance-pruned export).")
    var student: String = TrialMetric.prunedStudent

    @Option(parsing: .singleValue, help: "NAME=VALUE, e.g. kd_loss=3.41 (repeatable).")
    var metric: [String] = []

    @Option(name: .customLong("kd-steps"), help: "Distillation steps the metrics were measured after (0 = before distillation).")
    var kdSteps: Int?

    @Option(help: "Free-text note stored with the metrics.")
    var note: String?

    @Option(help: "File the figures come from (e.g. distill.py's JSON), recorded in the provenance.")
    var source: String?

    @Option(help: "Output format: table or json.")
    var format: OutputFormat = .table

    func validate() throws {
        if metric.isEmpty { throw ValidationError("give at least one --metric NAME=VALUE, e.g. --metric kd_loss=3.41") }
        if trial < 0 { throw ValidationError("--trial must be ≥ 0, got \(trial)") }
        if let k = kdSteps, k < 0 { throw ValidationError("--kd-steps must be ≥ 0, got \(k)") }
    }

    func run() throws {
        try runReportingErrors {
            let parsed = try metric.map(TrialMetrics.parseMetric)
            let store = try openExistingStore(db: db)
            let s = try store.resolveStudy(study)
            let env = ProcessInfo.processInfo
            var prov: [(String, JSONValue)] = [("tool", .string("prunekit \(PruneKitVersion.string)")), ("host", .string(env.hostName)),
                                               ("user", .string(env.environment["USER"] ?? "")),
                                               ("cwd", .string(FileManager.default.currentDirectoryPath)),
                                               ("command", .array(CommandLine.arguments.map { .string($0) }))]
            if let source {
                let sha = FileManager.default.contents(atPath: source).map(sha256Hex)
                prov.append(("source", .object([("path", .string(source)), ("sha256", sha.map { .string($0) } ?? .null)])))
            }
            let rows = try TrialMetrics.annotate(store, study: s, trial: trial, student: student, metrics: parsed, kdSteps: kdSteps, note: note,
                                          provenance: .object(prov))
            switch format {
            case .json: printJSON(.object([("study", .string(s.name)), ("metrics", .array(rows.map(\.json)))]))
            case .table:
                for r in rows {
                    print("study \(s.name) trial \(r.trialNumber) student \(r.student): \(r.name) = \(r.value)\(r.kdSteps.map { " after \($0) KD steps" } ?? "")  (\(r.createdAt))")
                }
            }
        }
    }
}
