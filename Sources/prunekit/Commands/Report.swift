import ArgumentParser
import Foundation
import PruneKit

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a study report: index.html (self-contained, inline SVG), summary.md and the charts as SVG files.",
        discussion: """
        Reads a study from --db (or a report input JSON (the ReportInput format: study settings, source model and its cost figures, \
        importance scores, trials) and writes to --out: index.html, summary.md, candidates.svg, \
        candidates-params.svg, memory.svg, layers.svg and width.svg. Exit 2 for an unreadable input or output folder.
        """
    )

    @Option(help: "Store: a SQLite file path or a postgresql://user[:password]@host[:port]/db URL (default: $PRUNEKIT_DB, else prunekit.sqlite).")
    var db: String?

    @Option(help: "Study to report on (from --db).")
    var study: String?

    @Option(help: "Report input JSON file instead of a study (the ReportInput format).")
    var input: String?

    @Option(help: "Output folder (created if needed; existing report files are replaced). Default: Reports/STUDY.")
    var out: String?

    @Flag(name: .customLong("save-input"), help: "Also write the report input as input.json into the output folder.")
    var saveInput = false

    func validate() throws {
        if (study == nil) == (input == nil) { throw ValidationError("give --study NAME (with --db) or --input FILE.json") }
        if input != nil && out == nil { throw ValidationError("--out is required with --input") }
    }

    func run() throws {
        try runReportingErrors {
            let report = try input.map { try ReportInput.load(path: $0) } ?? ReportInput.fromStudy(store: openStore(db: db, mode: .readOnly), study: study!)
            let out = self.out ?? "Reports/\(study!)"
            try ReportWriter.write(report, to: out)
            if saveInput { try report.jsonData().write(to: URL(fileURLWithPath: (out as NSString).appendingPathComponent("input.json"))) }
            print("wrote \((out as NSString).appendingPathComponent("index.html")) (\(report.trials.count) trials)")
        }
    }
}
