import ArgumentParser
import Foundation
import PruneKit

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a study report: index.html (self-contained, inline SVG), summary.md and the charts as SVG files.",
        discussion: """
        Reads a report input JSON (the ReportInput format: study settings, source model and its cost figures, \
        importance scores, trials) and writes to --out: index.html, summary.md, candidates.svg, \
        candidates-params.svg, memory.svg, layers.svg and width.svg. Exit 2 for an unreadable input or output folder.
        """
    )

    @Option(help: "Report input JSON file.")
    var input: String

    @Option(help: "Output folder (created if needed; existing report files are replaced).")
    var out: String

    func run() throws {
        try runReportingErrors {
            let report = try ReportInput.load(path: input)
            try ReportWriter.write(report, to: out)
            print("wrote \((out as NSString).appendingPathComponent("index.html")) (\(report.trials.count) trials)")
        }
    }
}
