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

    @Option(parsing: .unconditional, help: "Trial number.")
    var trial: Int

    @Option(help: "Student label (default: pruned, the trial's importance-pruned export).")
    var student: String = TrialMetric.prunedStudent

    @Option(parsing: .singleValue, help: "NAME=VALUE, e.g. kd_loss=3.41 (repeatable).")
    var metric: [String] = []

    @Option(name: .customLong("kd-steps"), parsing: .unconditional, help: "Distillation steps the metrics were measured after (0 = before distillation).")
    var kdSteps: Int?

    @Option(help: "Free-text note stored with the metrics.")
    var note: String?

    @Option(help: "File the figures come from (e.g. distill.py's JSON), recorded in the provenance.")
    var source: String?

    @OptionGroup var output: FormatOptions

    func validate() throws {
        if metric.isEmpty { throw ValidationError("give at least one --metric NAME=VALUE, e.g. --metric kd_loss=3.41") }
        if trial < 0 { throw ValidationError("--trial must be ≥ 0, got \(trial)") }
        if let k = kdSteps, k < 0 { throw ValidationError("--kd-steps must be ≥ 0, got \(k)") }
    }

    func run() throws {
        try runReportingErrors {
            let parsed = try metric.map(TrialMetrics.parseMetric)
            var seen = Set<String>()
            for m in parsed where !seen.insert(m.name).inserted {
                throw ValidationError("--metric \(m.name) is given twice; give each metric once per call")
            }
            let store = try openExistingStore(db: db)
            let s = try store.resolveStudy(study)
            let env = ProcessInfo.processInfo
            var prov: [(String, JSONValue)] = [("tool", .string("prunekit \(PruneKitVersion.string)")), ("host", .string(env.hostName)),
                                               ("user", .string(env.environment["USER"] ?? "")),
                                               ("cwd", .string(FileManager.default.currentDirectoryPath)),
                                               ("command", .array(CommandLine.arguments.map { .string($0) }))]
            if let source {
                let bytes: Data
                do { bytes = try readRegularFile(source) } catch let e as FileAccessError {
                    throw ValidationError("--source \(e.path): \(e.message); give the file the metrics came from (its SHA-256 is recorded)")
                }
                prov.append(("source", .object([("path", .string(source)), ("sha256", .string(sha256Hex(bytes)))])))
            }
            let rows = try TrialMetrics.annotate(store, study: s, trial: trial, student: student, metrics: parsed, kdSteps: kdSteps, note: note,
                                          provenance: .object(prov))
            switch output.format {
            case .json: try printJSON(AnnotateOutput(study: s.name, metrics: rows))
            case .table:
                for r in rows {
                    print("study \(s.name) trial \(r.trialNumber) student \(r.student): \(r.name) = \(r.value)\(r.kdSteps.map { " after \($0) KD steps" } ?? "")  (\(r.createdAt))")
                }
            }
        }
    }
}

/// `annotate --format json`: the study and the metrics recorded.
struct AnnotateOutput: Encodable {
    var study: String
    var metrics: [TrialMetric]
}
