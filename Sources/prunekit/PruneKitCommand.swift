import ArgumentParser
import Foundation
import PruneKit
import PruneKitPostgres

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

    /// Registers the PostgreSQL store backend (`--db postgresql://…`), then parses and runs the command line.
    static func main() {
        registerPostgresBackend()
        main(nil)
    }
}
