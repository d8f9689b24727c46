import Foundation
import GRDB
import PostgresNIO
import PruneKit
import PruneKitPostgres
import XCTest

/// Migration `v6-snake-case-json` on both backends: a database written at v5, whose `source_json` / `cost_json`
/// hold the camelCase keys an older PruneKit wrote, is rewritten to the snake_case form by a writing open, and
/// `leaderboard --format json` then shows only snake_case keys with the same figures.
final class StoreJSONMigrationTests: XCTestCase {
    /// As an older PruneKit stored them (its `ReportInput.ArchitectureSummary` and `CostFigures`, camelCase).
    static let oldSource = """
        {"architecture":{"ffnHiddenSize":128,"hiddenSize":64,"mambaHeadDim":16,"mambaNumHeads":8,"numAttentionHeads":4,"numKeyValueHeads":2,\
        "pattern":"M*-M"},"cost":{"kvBytes":600,"mambaStateBytes":400,"memoryBytes":5000,"outputTokensPerSecond":120.5,"parameters":1000,\
        "weightBytes":2000}}
        """
    static let oldCost0 = #"{"kvBytes":300,"mambaStateBytes":200,"memoryBytes":2500,"outputTokensPerSecond":250.25,"parameters":500,"weightBytes":1000}"#
    static let oldCost1 = #"{"kvBytes":0,"mambaStateBytes":200,"memoryBytes":9000,"outputTokensPerSecond":null,"parameters":900,"weightBytes":8800}"#

    /// The rows of one study with two trials (COMPLETE, FAIL), as of schema v5.
    static let rows = [
        """
        INSERT INTO studies (name, recipe_path, recipe_yaml, recipe_json, recipe_hash, objective, strategy, selection, checkpoint_path,
            checkpoint_fingerprint, calibration_fingerprint, heldout_fingerprint, hardware, context, batch, budget_bytes, n_enumerated,
            n_feasible, rejections_json, full_loss, seed, tool_version, created_at, calibration_path, heldout_path, score_options_key,
            input_length, output_length, top_k, source_json)
        VALUES ('old', '/r.yaml', 'x', '{}', 'h', 'kl', 'joint', 'throughput', '/m', 'c', 'k', 'h', 'gpu', 4096, 1, 8000, 2, 2,
            '{"memory budget": 0}', 3.3, 7, '0.3.0', '2026-12-01T00:00:00Z', '/m/c.jsonl', '/m/h.jsonl', 'opts', 128, 128, 4,
            '\(oldSource)')
        """,
        """
        INSERT INTO trials (study_id, number, stage, state, arch_json, arch_hash, num_layers, hidden_size, ffn_hidden_size, mamba_num_heads,
            mamba_head_dim, num_attention_heads, pattern, params, weight_bytes, memory_bytes, budget_bytes, slack_bytes, fits, max_batch,
            tokens_per_second, kl, mse, loss, objective_value, seed, tool_version, created_at, kept_layers_json, cost_json)
        VALUES (1, 0, 'joint', 'COMPLETE', '{}', 'a0', 3, 48, 96, 8, 16, 4, 'M*M', 500, 1000, 2500, 8000, 5500, 1, 2, 250.25, 0.25, 0.5,
            3.5, 0.25, 7, '0.3.0', '2026-12-01T00:00:00Z', '[0,1,3]', '\(oldCost0)')
        """,
        """
        INSERT INTO trials (study_id, number, stage, state, arch_json, arch_hash, num_layers, hidden_size, ffn_hidden_size, mamba_num_heads,
            mamba_head_dim, num_attention_heads, pattern, params, weight_bytes, memory_bytes, budget_bytes, slack_bytes, fits, max_batch,
            tokens_per_second, error, seed, tool_version, created_at, kept_layers_json, cost_json)
        VALUES (1, 1, 'joint', 'FAIL', '{}', 'a1', 4, 64, 128, 8, 16, 4, 'M*-M', 900, 8800, 9000, 8000, -1000, 0, 0, 0, 'boom', 7,
            '0.3.0', '2026-12-01T00:00:00Z', '[0,1,2,3]', '\(oldCost1)')
        """,
    ]

    func run(_ args: [String]) throws -> ProcessResult {
        try TestBinaries.run(try XCTUnwrap(TestBinaries.prunekit, "prunekit not built"), args)
    }

    /// Object keys with an uppercase letter anywhere in `v`, as paths.
    static func upperCaseKeys(_ v: JSONValue, _ path: String = "") -> [String] {
        switch v {
        case let .object(o): return o.flatMap { k, x in (k.contains { $0.isUppercase } ? [path + "." + k] : []) + upperCaseKeys(x, path + "." + k) }
        case let .array(a): return a.enumerated().flatMap { upperCaseKeys($1, path + "[\($0)]") }
        default: return []
        }
    }

    /// A database at schema v5 (migrations v1–v5 applied) holding `rows`; returns its path or URL.
    static func makeV5(_ location: StoreLocation, rows: [String]) throws -> String {
        switch location {
        case let .sqlite(path):
            let q = try DatabaseQueue(path: path)
            var m = DatabaseMigrator()
            for mig in StoreMigrations.all.prefix(5) { m.registerMigration(mig.id) { d in for sql in mig.sqlite { try d.execute(sql: sql) } } }
            try m.migrate(q)
            try q.write { d in for sql in rows { try d.execute(sql: sql) } }
            try q.close()
            return path
        case let .postgres(url):
            let s = try PostgresSession(url: try PostgresURL(url))
            defer { s.close() }
            try s.transaction { tx in
                try tx.execute("CREATE TABLE prunekit_migrations (identifier TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                for m in StoreMigrations.all.prefix(5) {
                    for sql in m.postgres { try tx.execute(PostgresQuery(unsafeSQL: sql)) }
                    try tx.execute("INSERT INTO prunekit_migrations (identifier) VALUES (\(m.id))")
                }
                for sql in rows { try tx.execute(PostgresQuery(unsafeSQL: sql)) }
            }
            return url
        }
    }

    /// A stored value the migration cannot read: the writing open fails naming the table, column and row, and
    /// the database is left as it was (v6 not recorded, the value unchanged), on both backends.
    func testUnreadableValueFailsTheMigrationAndChangesNothing() throws {
        let dir = Fixtures.tempDir("store-json-v6-bad"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let rows = [Self.rows[0], Self.rows[1].replacingOccurrences(of: Self.oldCost0, with: "{\"kvBytes\": 3")]
        for (name, location) in try StoreBackends.fresh(dir) {
            let db = try Self.makeV5(location, rows: rows)
            XCTAssertThrowsError(try openStore(location, mode: .readWrite), name) { e in
                guard case .corrupt = e as? StoreError else { return XCTFail("\(name): \(e)") }
                XCTAssertTrue("\(e)".contains("trials.cost_json of row 1"), "\(name): \(e)")
                if case let .postgres(url) = location, let pw = url.split(separator: ":").dropFirst(2).first?.split(separator: "@").first {
                    XCTAssertFalse("\(e)".contains(pw), "\(name): the password is redacted")
                }
            }
            let applied: [String], cost: String
            if case let .sqlite(path) = location {
                let q = try DatabaseQueue(path: path)
                (applied, cost) = try q.read { d in
                    (try String.fetchAll(d, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid"), try String.fetchOne(d, sql: "SELECT cost_json FROM trials")!)
                }
                try q.close()
            } else {
                let s = try PostgresSession(url: try PostgresURL(db))
                defer { s.close() }
                applied = try s.query("SELECT identifier FROM prunekit_migrations ORDER BY identifier").map { try $0[0].decode(String.self) }
                cost = try s.query("SELECT cost_json FROM trials")[0][0].decode(String.self)
            }
            XCTAssertEqual(applied, StoreMigrations.all.prefix(5).map(\.id).sorted(), name)
            XCTAssertEqual(cost, "{\"kvBytes\": 3", name)
            XCTAssertEqual(try JSONParser().parse(try storedSourceJSON(location)), try JSONParser().parse(Self.oldSource), "\(name): the study's source_json unchanged")
        }
    }

    /// The stored `source_json` of the one study, read without migrating.
    func storedSourceJSON(_ location: StoreLocation) throws -> String {
        switch location {
        case let .sqlite(path):
            let q = try DatabaseQueue(path: path)
            defer { try? q.close() }
            return try q.read { try String.fetchOne($0, sql: "SELECT source_json FROM studies")! }
        case let .postgres(url):
            let s = try PostgresSession(url: try PostgresURL(url))
            defer { s.close() }
            return try s.query("SELECT source_json FROM studies")[0][0].decode(String.self)
        }
    }

    func testOldCamelCaseValuesAreRewritten() throws {
        let dir = Fixtures.tempDir("store-json-v6"); defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, location) in try StoreBackends.fresh(dir) {
            let db = try Self.makeV5(location, rows: Self.rows)
            var before: String? = nil
            if case .sqlite = location {
                // A reading command reads the old database as it is (SQLite opens it without migrating).
                let r = try run(["leaderboard", "--db", db, "--study", "old", "--format", "json"])
                XCTAssertEqual(r.status, 0, r.err)
                before = r.out
            }

            // A writing open migrates; the stored values are now snake_case, with the same figures.
            let store = try openStore(location, mode: .readWrite)
            let raw: [String]
            if let sq = store as? SQLiteStudyStore {
                raw = try sq.read { d in
                    try String.fetchAll(d, sql: "SELECT source_json FROM studies") + String.fetchAll(d, sql: "SELECT cost_json FROM trials ORDER BY number")
                }
            } else {
                let s = try PostgresSession(url: try PostgresURL(db))
                defer { s.close() }
                raw = try s.query("SELECT source_json FROM studies").map { try $0[0].decode(String.self) }
                    + s.query("SELECT cost_json FROM trials ORDER BY number").map { try $0[0].decode(String.self) }
            }
            XCTAssertEqual(raw.count, 3, name)
            for text in raw { XCTAssertEqual(Self.upperCaseKeys(try JSONParser().parse(text)), [], "\(name): \(text)") }
            let source = try JSONParser().parse(raw[0])
            XCTAssertEqual(source["architecture"]?["hidden_size"]?.intValue, 64, name)
            XCTAssertEqual(source["architecture"]?["num_key_value_heads"]?.intValue, 2, name)
            XCTAssertEqual(source["architecture"]?["num_layers"]?.intValue, 4, name)
            XCTAssertEqual(source["architecture"]?["kept_layers"], .array([.int(0), .int(1), .int(2), .int(3)]), name)
            XCTAssertEqual(source["cost"]?["output_tokens_per_second"]?.doubleValue, 120.5, name)
            XCTAssertEqual(try JSONParser().parse(raw[1])["kv_bytes"]?.intValue, 300, name)
            XCTAssertEqual(try JSONParser().parse(raw[2])["output_tokens_per_second"], .null, name)
            // The store reads them as the same values it wrote for new studies.
            let st = try store.study(named: "old")
            XCTAssertEqual(st.source?.architecture, Architecture(numLayers: 4, hiddenSize: 64, ffnHiddenSize: 128, mambaNumHeads: 8, mambaHeadDim: 16,
                                                                 numAttentionHeads: 4, numKeyValueHeads: 2, pattern: "M*-M", keptLayers: [0, 1, 2, 3]), name)
            XCTAssertEqual(st.source?.cost, CostFigures(parameters: 1000, weightBytes: 2000, kvBytes: 600, mambaStateBytes: 400, memoryBytes: 5000,
                                                        outputTokensPerSecond: 120.5), name)
            let trials = try store.trials(study: st.id)
            XCTAssertEqual(trials.first?.cost, CostFigures(parameters: 500, weightBytes: 1000, kvBytes: 300, mambaStateBytes: 200, memoryBytes: 2500,
                                                           outputTokensPerSecond: 250.25), name)
            XCTAssertTrue(trials.last?.cost?.outputTokensPerSecond.isNaN ?? false, name)
            if let sq = store as? SQLiteStudyStore {
                XCTAssertEqual(try sq.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") }, StoreMigrations.all.map(\.id))
            }

            let r = try run(["leaderboard", "--db", db, "--study", "old", "--format", "json"])
            XCTAssertEqual(r.status, 0, "\(name): \(r.err)")
            let board = try JSONParser().parse(r.out)
            XCTAssertEqual(Self.upperCaseKeys(board), [], name)
            XCTAssertEqual(board["study"]?["source"]?["cost"]?["kv_bytes"]?.intValue, 600, name)
            XCTAssertEqual(board["study"]?["source"]?["architecture"]?["ffn_hidden_size"]?.intValue, 128, name)
            XCTAssertEqual(board["trials"]?.arrayValue?.first?["cost"]?["output_tokens_per_second"]?.doubleValue, 250.25, name)
            XCTAssertEqual(board["trials"]?.arrayValue?.first?["cost"]?["memory_bytes"]?.intValue, 2500, name)
            XCTAssertEqual(board["not_ranked"]?.arrayValue?.first?["cost"]?["output_tokens_per_second"], .null, name)
            if let before {
                // Read before migrating, the old database shows the same leaderboard (the source's kept layers,
                // which the old form did not record, read as every layer, as the migration stores them).
                XCTAssertEqual(board, try JSONParser().parse(before), name)
            }
        }
    }

    /// A reading command on a database whose only pending migration rewrites stored values (v6) reads it
    /// without migrating, on both backends (PostgreSQL used to refuse it); the file or database is not changed.
    func testReadersReadADatabaseWithOnlyAValueMigrationPending() throws {
        let dir = Fixtures.tempDir("store-json-v6-read"); defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, location) in try StoreBackends.fresh(dir) {
            let db = try Self.makeV5(location, rows: Self.rows)
            for args in [["leaderboard", "--study", "old"], ["studies"]] {
                let r = try run(args + ["--db", db, "--format", "json"])
                XCTAssertEqual(r.status, 0, "\(name) \(args): \(r.err)")
                XCTAssertEqual(Self.upperCaseKeys(try JSONParser().parse(r.out)), [], "\(name) \(args)")
            }
            XCTAssertEqual(try JSONParser().parse(try storedSourceJSON(location)), try JSONParser().parse(Self.oldSource), "\(name): not migrated by a reader")
        }
    }

    /// A stored JSON value that does not read (changed outside PruneKit) is a database error (exit 3) naming the
    /// store, the table and column and the study or trial — never a bare decoding error, never silently dropped.
    func testUnreadableStoredValuesAreNamedErrors() throws {
        let cases: [(String, [String], String)] = [
            ("trials.cost_json of trial 0", [Self.rows[0], Self.rows[1].replacingOccurrences(of: Self.oldCost0, with: "{\"kvBytes\": 3")], "cost"),
            ("studies.rejections_json of study 'old'", [Self.rows[0].replacingOccurrences(of: #"'{"memory budget": 0}'"#, with: "'not json'"), Self.rows[1]], "rejections"),
            ("studies.source_json of study 'old'", [Self.rows[0].replacingOccurrences(of: Self.oldSource, with: #"{"architecture": 5}"#), Self.rows[1]], "source"),
            ("trials.kept_layers_json of trial 0", [Self.rows[0], Self.rows[1].replacingOccurrences(of: "'[0,1,3]'", with: "'[0,1,'")], "kept"),
        ]
        for (expected, rows, tag) in cases {
            let dir = Fixtures.tempDir("store-json-corrupt-\(tag)"); defer { try? FileManager.default.removeItem(atPath: dir) }
            for (name, location) in try StoreBackends.fresh(dir) {
                let db = try Self.makeV5(location, rows: rows)
                let r = try run(["leaderboard", "--db", db, "--study", "old", "--format", "json"])
                XCTAssertEqual(r.status, 3, "\(name) \(tag): \(r.err)")
                XCTAssertTrue(r.err.contains(expected), "\(name) \(tag): \(r.err)")
                XCTAssertFalse(r.err.contains("DecodingError"), "\(name) \(tag): \(r.err)")
                XCTAssertEqual(r.out, "", "\(name) \(tag): nothing on stdout")
            }
        }
    }
}
