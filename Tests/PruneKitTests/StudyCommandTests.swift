import Foundation
import PruneKit
import XCTest

/// The study commands as a new user runs them: a search run from one directory with a recipe of relative paths,
/// then `studies`, `leaderboard`, `report`, `prune --study --trial best` and `db copy` from another directory,
/// reading commands on a read-only database, and `PRUNEKIT_DB`.
final class StudyCommandTests: XCTestCase {
    func run(_ args: [String], cwd: String, env: [String: String] = [:]) throws -> ProcessResult {
        guard let bin = TestBinaries.prunekit else { throw XCTSkip("the prunekit binary is not built next to the tests") }
        return try TestBinaries.run(bin, args, env: env, cwd: cwd)
    }

    func ls(_ p: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: p)) ?? []).sorted() }

    func testStudyCommandsFromAnotherDirectoryAndCopiedStore() throws {
        let root = Fixtures.tempDir("study-cmds"); defer { try? FileManager.default.removeItem(atPath: root) }
        let a = root + "/a", b = root + "/b"
        for d in [a + "/Searches", b] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        // The bundled recipe, with its relative paths, next to a link to the fixtures: run from `a` as `Searches/…`.
        try FileManager.default.createSymbolicLink(atPath: a + "/Tests", withDestinationPath: Fixtures.root.deletingLastPathComponent().path)
        let recipe = try String(contentsOf: Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Searches/nemo-tiny.yaml"), encoding: .utf8)
        try recipe.write(toFile: a + "/Searches/nemo-tiny.yaml", atomically: true, encoding: .utf8)
        let db = root + "/db/p.sqlite"
        try FileManager.default.createDirectory(atPath: root + "/db", withIntermediateDirectories: true)
        var r = try run(["search", "Searches/nemo-tiny.yaml", "--study", "tiny", "--quiet"], cwd: a, env: ["PRUNEKIT_DB": db])
        XCTAssertEqual(r.status, 0, r.err)

        // Every --format json output of the study commands has snake_case keys only (formats.md §7): the search
        // (its plan and a resumed run), studies, leaderboard (also the Pareto front) and jobs.
        for args in [["search", "Searches/nemo-tiny.yaml", "--study", "tiny", "--dry-run", "--format", "json"],
                     ["search", "Searches/nemo-tiny.yaml", "--study", "tiny", "--quiet", "--format", "json"],
                     ["studies", "--format", "json"], ["leaderboard", "--study", "tiny", "--format", "json"],
                     ["leaderboard", "--study", "tiny", "--pareto", "--format", "json"], ["jobs", "--format", "json"]] {
            r = try run(args, cwd: a, env: ["PRUNEKIT_DB": db])
            XCTAssertEqual(r.status, 0, "\(args): \(r.err)")
            let j = try JSONParser().parse(r.out)
            XCTAssertNotEqual(j, .object([]), "\(args)")
            XCTAssertEqual(StoreJSONMigrationTests.upperCaseKeys(j), [], "\(args): keys with uppercase letters")
        }
        let boardJSON = try JSONParser().parse(try run(["leaderboard", "--study", "tiny", "--format", "json"], cwd: a, env: ["PRUNEKIT_DB": db]).out)
        XCTAssertNotNil(boardJSON["study"]?["source"]?["cost"]?["output_tokens_per_second"], "the source's cost figures are in the leaderboard")

        // From another directory, reading commands work on a read-only file and create nothing.
        chmod(db, 0o444)
        let before = ls(root + "/db")
        r = try run(["studies", "--db", db], cwd: b)
        XCTAssertEqual(r.status, 0, r.err); XCTAssertTrue(r.out.contains("tiny"), r.out)
        let board = try run(["leaderboard", "--db", db, "--study", "tiny"], cwd: b)
        XCTAssertEqual(board.status, 0, board.err)
        r = try run(["report", "--db", db, "--study", "tiny", "--out", b + "/report"], cwd: b)
        XCTAssertEqual(r.status, 0, r.err)
        let html = try String(contentsOfFile: b + "/report/index.html", encoding: .utf8)
        XCTAssertFalse(html.contains("No importance scores were given"), "the report shows the study's scores")
        XCTAssertEqual(ls(root + "/db"), before, "reading commands created no file")
        r = try run(["prune", Fixtures.nemoTiny, b + "/pruned", "--study", "tiny", "--trial", "best", "--db", db, "--quiet"], cwd: b)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertNoThrow(try ModelFolder(path: b + "/pruned", strict: true))
        r = try run(["prune", Fixtures.nemoTiny, b + "/x", "--study", "tiny", "--trial", "first", "--db", db], cwd: b)
        XCTAssertEqual(r.status, 64, "a bad --trial is a usage error: \(r.err)")

        // db copy to a new file from elsewhere: identical leaderboard; again: nothing new; into a store with a
        // different study of the same name: refused, exit 3.
        r = try run(["db", "copy", db, "copy.sqlite"], cwd: b)
        XCTAssertEqual(r.status, 0, r.err); XCTAssertTrue(r.out.contains("study tiny: created"), r.out)
        let copied = try run(["leaderboard", "--db", "copy.sqlite", "--study", "tiny"], cwd: b)
        XCTAssertEqual(copied.out, board.out, "the copy ranks the same trials with the same figures")
        r = try run(["db", "copy", db, "copy.sqlite", "--format", "json"], cwd: b)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(try JSONParser().parse(r.out)["studies"]?.arrayValue?.first?["trials"]?.intValue, 0)
        let other = try SQLiteStudyStore(path: b + "/other.sqlite")
        _ = try other.openStudy(StoreBackends.study("tiny"))
        r = try run(["db", "copy", db, "other.sqlite"], cwd: b)
        XCTAssertEqual(r.status, 3, r.err); XCTAssertTrue(r.err.contains("different study named \"tiny\""), r.err)
        // PRUNEKIT_DB names the store when --db is absent; a postgresql:// URL without the backend is a clear error.
        r = try run(["studies"], cwd: b, env: ["PRUNEKIT_DB": b + "/copy.sqlite"])
        XCTAssertEqual(r.status, 0, r.err); XCTAssertTrue(r.out.contains("tiny"))
        r = try run(["studies", "--db", "postgresql://me:secret@127.0.0.1:1/none"], cwd: b)
        XCTAssertEqual(r.status, 3, r.err); XCTAssertFalse(r.err.contains("secret"), r.err); XCTAssertTrue(r.err.contains("me:***@"), r.err)
        chmod(db, 0o644)
    }
}
