import ArgumentParser
import Foundation
import PruneKit

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a checkpoint's architecture, parameter counts and storage (reads headers only).",
        discussion: "MODEL may be a Hugging Face folder or a lone config.json (then only the formula count is given)."
    )

    @Argument(help: "Model folder, or a config.json file.")
    var model: String

    @OptionGroup var output: FormatOptions

    func run() throws {
        try runReportingErrors {
            let report = try InspectReport.make(path: model)
            switch output.format {
            case .json: try printJSON(report.output)
            case .table: print(report.table)
            }
            if let t = report.tensorParameters, t != report.formulaParameters {
                throw CheckpointError.mismatch(tensor: "(all)", message: "parameter count from tensors \(t) differs from the formula \(report.formulaParameters)")
            }
        }
    }
}
