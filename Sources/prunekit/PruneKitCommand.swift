import ArgumentParser
import Foundation
import PruneKit

@main
struct PruneKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prunekit",
        abstract: "Compress hybrid Mamba-2/Transformer (Nemotron-H) models the Nemotron Nano 2 way.",
        discussion: """
        Exit codes: 0 success; 1 unexpected failure; 2 bad input (file, tensor, key, option value); \
        3 database error; 4 nothing feasible (search/cost); 64 command-line usage.
        """,
        version: PruneKitVersion.string,
        subcommands: [Inspect.self, Tokenize.self, Eval.self, Score.self, Cost.self, Search.self, Leaderboard.self, Studies.self, Prune.self, Report.self, TeacherCacheCommand.self, Annotate.self, Db.self, Worker.self, Jobs.self]
    )
}
