import ArgumentParser
import Foundation
import PruneKit

/// `prunekit db …`: operations on whole stores.
struct Db: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Operations on PruneKit stores (SQLite files and PostgreSQL databases).",
        subcommands: [DbCopy.self]
    )
}

struct DbCopy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy studies, their trials and the stored importance scores from one store to another.",
        discussion: """
        SRC and DST are each a SQLite file path or a postgresql://user[:password]@host[:port]/db URL: SQLite → \
        PostgreSQL moves a local study onto a cluster, PostgreSQL → SQLite archives one. SRC is opened read-only; DST \
        is created and migrated if needed. Idempotent: copying again adds only what DST lacks (trials are matched by \
        architecture; a trial unfinished in DST takes the finished one from SRC). A different study of the same name \
        in DST is refused (exit 3) and nothing of it is written.
        """
    )

    @Argument(help: "Source store: a SQLite file or a postgresql:// URL.")
    var src: String

    @Argument(help: "Destination store: a SQLite file or a postgresql:// URL (created if missing).")
    var dst: String

    @Option(help: "Copy only this study (and the score set it used).")
    var study: String?

    @OptionGroup var output: FormatOptions

    func validate() throws {
        if StoreLocation.parse(src) == StoreLocation.parse(dst) { throw ValidationError("SRC and DST are the same store") }
    }

    func run() throws {
        try runReportingErrors {
            let from = try openStore(StoreLocation.parse(src), mode: .readOnly)
            let to = try openStore(StoreLocation.parse(dst), mode: .readWrite)
            let s = try StoreCopy.copy(from: from, to: to, study: study)
            func text(_ r: StudyImportResult) -> (String, Int) {
                switch r { case let .created(n): return ("created", n); case let .merged(n): return ("merged", n) }
            }
            switch output.format {
            case .json:
                try printJSON(.object([("from", .string(from.location.description)), ("to", .string(to.location.description)),
                                   ("score_sets", .int(s.scoreSets)),
                                   ("studies", .array(s.studies.map { st in
                                       let (what, n) = text(st.result)
                                       return .object([("name", .string(st.name)), ("result", .string(what)), ("trials", .int(n))]) }))]))
            case .table:
                print("copied \(from.location) → \(to.location): \(s.scoreSets) score set(s) written")
                for st in s.studies {
                    let (what, n) = text(st.result)
                    print("  study \(st.name): \(what), \(n) trial(s) written")
                }
            }
        }
    }
}
