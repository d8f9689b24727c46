import Foundation
import PostgresNIO
import PruneKit
import PruneKitPostgres
import XCTest

/// The PostgreSQL store: URL parsing and redaction, connection errors (each naming the URL without its password),
/// reconnection after a server restart. Tests that need a server use ``PostgresTestServer``.
final class PostgresStoreTests: XCTestCase {
    // MARK: - URL

    func testURLForms() throws {
        let u = try PostgresURL("postgresql://alice:s%40cret:x@db.example.org:6543/studies?sslmode=require")
        XCTAssertEqual(u.user, "alice")
        XCTAssertEqual(u.password, "s@cret:x")
        XCTAssertEqual(u.host, "db.example.org")
        XCTAssertEqual(u.port, 6543)
        XCTAssertEqual(u.database, "studies")
        XCTAssertEqual(u.sslMode, .require)
        XCTAssertEqual(u.redacted, "postgresql://alice:***@db.example.org:6543/studies?sslmode=require")
        XCTAssertEqual(try PostgresURL(u.text), u, "text round-trips: \(u.redacted)")

        let d = try PostgresURL("postgres://bob@127.0.0.1/prunekit")
        XCTAssertNil(d.password)
        XCTAssertEqual(d.port, 5432)
        XCTAssertEqual(d.sslMode, .prefer)
        XCTAssertEqual(d.redacted, "postgresql://bob@127.0.0.1:5432/prunekit?sslmode=prefer")
        XCTAssertEqual(try PostgresURL("postgresql://c:p@[::1]:5433/db").host, "::1")
        XCTAssertTrue(PostgresURL.isPostgres("PostgreSQL://x@y/z"))
        XCTAssertFalse(PostgresURL.isPostgres("studies/prunekit.sqlite"))
    }

    func testBadURLsNameWhatWasExpectedWithoutThePassword() {
        let cases: [(String, String)] = [
            ("mysql://u:hunter2@h/db", "postgresql://"),
            ("postgresql://h/db", "missing user"),
            ("postgresql://u:hunter2@/db", "missing host"),
            ("postgresql://u:hunter2@h:5432", "missing database"),
            ("postgresql://u:hunter2@h:5432/", "missing database"),
            ("postgresql://u:hunter2@h/a/b", "contains '/'"),
            ("postgresql://u:hunter2@h/db?sslmode=always", "sslmode 'always' is not one of disable, prefer, require, verify-full"),
            ("postgresql://u:hunter2@h/db?connect_timeout=3", "unknown parameter 'connect_timeout'"),
            ("postgresql://u:hunter2@h:99999/db", "out of range"),
            ("postgresql://u:hunter2@h:port/db", "not a valid URL"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try PostgresURL(text), text) { error in
                let m = "\(error)"
                XCTAssertTrue(m.contains(expected), "\(text): \(m)")
                XCTAssertFalse(m.contains("hunter2"), "password printed: \(m)")
                XCTAssertTrue(error is PostgresStoreError, "\(type(of: error))")
            }
        }
    }

    func testRedactsMalformedURLs() {
        XCTAssertEqual(PostgresURL.redact("postgresql://u:p@ss@h:x/db?sslmode=zz"), "postgresql://u:***@h:x/db?sslmode=zz")
        XCTAssertEqual(PostgresURL.redact("postgresql://u@h/db"), "postgresql://u@h/db")
        XCTAssertEqual(PostgresURL.redact("plain/path.sqlite"), "plain/path.sqlite")
        // A password holding an unencoded "/", "?" or "@" is masked whole; so is one in a URL of another scheme.
        XCTAssertEqual(PostgresURL.redact("postgresql://u:SEC/RETPW@h:1/db"), "postgresql://u:***@h:1/db")
        XCTAssertEqual(PostgresURL.redact("postgresql://u:SEC?RETPW@h:1/db"), "postgresql://u:***@h:1/db")
        XCTAssertEqual(PostgresURL.redact("postgresql+psycopg2://u:SECRETPW@h/db"), "postgresql+psycopg2://u:***@h/db")
        XCTAssertEqual(PostgresURL.redact("postgres:/u:SECRETPW@h/db"), "postgres:/u:***@h/db")
        XCTAssertEqual(PostgresURL.redact("pg://u:SECRETPW@h/db"), "pg://u:***@h/db")
        XCTAssertEqual(PostgresURL.redact("runs/a:b@c.sqlite"), "runs/a:b@c.sqlite", "a path is not a URL")
        for bad in ["postgresql://u:SEC/RETPW@127.0.0.1:1/db", "postgresql://u:SEC?RETPW@127.0.0.1:1/db"] {
            XCTAssertThrowsError(try PostgresURL(bad)) { e in XCTAssertFalse("\(e)".contains("RETPW"), "\(e)") }
        }
        // A mistyped scheme is refused as a --db value, redacted, instead of becoming a SQLite file of that name.
        for bad in ["pg://u:SECRETPW@127.0.0.1:1/db", "postgres:/u:SECRETPW@127.0.0.1:1/db", "postgresql+psycopg2://u:SECRETPW@h/db"] {
            let location = StoreLocation.parse(bad)
            XCTAssertFalse(location.description.contains("SECRETPW"), location.description)
            XCTAssertThrowsError(try openStore(location, mode: .readWrite)) { e in
                XCTAssertFalse("\(e)".contains("SECRETPW"), "\(e)")
                XCTAssertTrue("\(e)".contains("not a PostgreSQL URL"), "\(e)")
                XCTAssertEqual(ExitStatus.code(for: e), 3)
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: bad))
        }
    }

    // MARK: - Backend registration

    func testPostgresURLWithoutARegisteredBackendIsAStoreError() throws {
        PostgresBackend.register(nil)
        defer { registerPostgresBackend() }
        XCTAssertFalse(PostgresBackend.isRegistered)
        XCTAssertThrowsError(try openStore(.parse("postgresql://me:secret@127.0.0.1:1/none"), mode: .readOnly)) { error in
            let m = "\(error)"
            guard case .unavailable = error as? StoreError else { return XCTFail(m) }
            XCTAssertTrue(m.hasPrefix("postgresql://me:***@127.0.0.1:1/none"), m)
            XCTAssertTrue(m.contains("without PostgreSQL support") && m.contains("PruneKitPostgres"), m)
            XCTAssertFalse(m.contains("secret"), m)
            XCTAssertEqual(ExitStatus.code(for: error), ExitStatus.store)
        }
        // A malformed URL is named as such with or without a backend.
        XCTAssertThrowsError(try openStore(.parse("postgresql://me:secret@/none"), mode: .readWrite)) { error in
            guard case .badURL = error as? PostgresStoreError else { return XCTFail("\(error)") }
            XCTAssertFalse("\(error)".contains("secret"), "\(error)")
        }
        registerPostgresBackend()
        XCTAssertTrue(PostgresBackend.isRegistered)
        // Registered: the same URL reaches the backend, which cannot connect (nothing listens on port 1).
        XCTAssertThrowsError(try openStore(.parse("postgresql://me:secret@127.0.0.1:1/none?sslmode=disable"), mode: .readOnly)) { error in
            guard case .unreachable = error as? PostgresStoreError else { return XCTFail("\(error)") }
        }
    }

    // MARK: - Connection errors

    func testWrongPasswordIsAnAuthenticationErrorWithTheURLRedacted() throws {
        var u = try PostgresTestServer.url()
        u.password = "not-the-password"
        XCTAssertThrowsError(try PostgresSession(url: u)) { error in
            let m = "\(error)"
            guard case .authentication = error as? PostgresStoreError else { return XCTFail("\(m)") }
            XCTAssertTrue(m.hasPrefix("postgresql://\(u.user):***@\(u.host):\(u.port)/\(u.database)"), m)
            XCTAssertTrue(m.contains("password authentication failed"), m)
            XCTAssertFalse(m.contains("not-the-password"), m)
        }
    }

    func testMissingDatabaseNamesIt() throws {
        var u = try PostgresTestServer.url()
        u.database = "prunekit_no_such_db"
        XCTAssertThrowsError(try PostgresSession(url: u)) { error in
            let m = "\(error)"
            XCTAssertEqual(error as? PostgresStoreError, .missingDatabase(url: u.redacted, database: "prunekit_no_such_db"), m)
            XCTAssertTrue(m.contains("database \"prunekit_no_such_db\" does not exist"), m)
            XCTAssertFalse(m.contains(u.password ?? "\u{0}"), m)
        }
    }

    func testUnreachableServerIsNamed() throws {
        // A loopback port nothing listens on: bind one, read its number, close it.
        let port = try Self.closedLoopbackPort()
        let u = try PostgresURL("postgresql://u:secret@127.0.0.1:\(port)/db?sslmode=disable")
        XCTAssertThrowsError(try PostgresSession(url: u)) { error in
            let m = "\(error)"
            guard case .unreachable = error as? PostgresStoreError else { return XCTFail(m) }
            XCTAssertTrue(m.hasPrefix("postgresql://u:***@127.0.0.1:\(port)/db"), m)
            XCTAssertTrue(m.contains("cannot reach the PostgreSQL server"), m)
            XCTAssertFalse(m.contains("secret"), m)
        }
    }

    func testPermissionDeniedIsNamed() throws {
        var u = try PostgresTestServer.url()
        u.user = "prunekit_noperm"  // Scripts/test-postgres.sh: LOGIN, same password, no CREATE on schema public
        let s = try PostgresSession(url: u)
        defer { s.close() }
        XCTAssertThrowsError(try s.query("CREATE TABLE prunekit_perm_probe (x INTEGER)")) { error in
            let m = "\(error)"
            guard case .permissionDenied = error as? PostgresStoreError else { return XCTFail(m) }
            XCTAssertTrue(m.contains("permission denied for schema public"), m)
            XCTAssertTrue(m.hasPrefix(u.redacted), m)
        }
    }

    // MARK: - Schema

    /// An empty database is refused read-only (nothing created); a database with other tables is refused in both
    /// modes (nothing added); one recording a migration of a newer PruneKit is refused in both modes.
    func testForeignEmptyAndNewerDatabasesAreRefused() throws {
        let empty = try PostgresTestServer.freshDatabase()
        XCTAssertThrowsError(try PostgresStudyStore(url: empty, mode: .readOnly)) { e in
            XCTAssertEqual(e as? StoreError, .notPruneKit(location: try! PostgresURL(empty).redacted, tables: []), "\(e)")
        }
        let raw = try PostgresSession(url: try PostgresURL(empty))
        defer { raw.close() }
        XCTAssertEqual(try raw.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")[0][0].decode(Int.self), 0,
                       "a read-only open created nothing")
        try raw.query("CREATE TABLE notes (x TEXT)")
        for mode in [StoreMode.readOnly, .readWrite] {
            XCTAssertThrowsError(try PostgresStudyStore(url: empty, mode: mode)) { e in
                guard case .notPruneKit(_, let tables) = e as? StoreError else { return XCTFail("\(e)") }
                XCTAssertEqual(tables, ["notes"])
                XCTAssertTrue("\(e)".contains(":***@"), "\(e)")
            }
        }
        XCTAssertEqual(try raw.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")[0][0].decode(Int.self), 1)

        let newer = try PostgresTestServer.freshDatabase()
        _ = try PostgresStudyStore(url: newer)
        let s = try PostgresSession(url: try PostgresURL(newer))
        defer { s.close() }
        try s.query("INSERT INTO prunekit_migrations (identifier) VALUES ('v99-from-the-future')")
        for mode in [StoreMode.readOnly, .readWrite] {
            XCTAssertThrowsError(try PostgresStudyStore(url: newer, mode: mode)) { e in
                guard case .newerSchema(_, let unknown) = e as? StoreError else { return XCTFail("\(e)") }
                XCTAssertEqual(unknown, ["v99-from-the-future"])
            }
        }
    }

    /// A database at the first migrations (v1–v3) is brought up to date by a writing open, keeping its rows.
    func testOlderDatabaseIsMigrated() throws {
        let url = try PostgresTestServer.freshDatabase()
        let s = try PostgresSession(url: try PostgresURL(url))
        defer { s.close() }
        try s.transaction { tx in
            try tx.execute("CREATE TABLE prunekit_migrations (identifier TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            for m in StoreMigrations.all.prefix(3) {
                for sql in m.postgres { try tx.execute(PostgresQuery(unsafeSQL: sql)) }
                try tx.execute("INSERT INTO prunekit_migrations (identifier) VALUES (\(m.id))")
            }
            try tx.execute("""
                INSERT INTO studies (name, recipe_path, recipe_yaml, recipe_json, recipe_hash, objective, strategy, selection, checkpoint_path,
                    checkpoint_fingerprint, calibration_fingerprint, heldout_fingerprint, hardware, context, batch, budget_bytes, n_enumerated,
                    n_feasible, rejections_json, full_loss, seed, tool_version, created_at)
                VALUES ('old', 'r.yaml', 'x', '{}', 'h', 'kl', 'joint', 'throughput', 'm', 'c', 'k', 'h', 'gpu', 4096, 1, 1000, 1, 1,
                    '{"memory budget": 0}', 3.3, 7, '0.1.0', '2026-01-01')
                """)
        }
        XCTAssertThrowsError(try PostgresStudyStore(url: url, mode: .readOnly)) { e in XCTAssertTrue("\(e)".contains("older PruneKit"), "\(e)") }
        let store = try PostgresStudyStore(url: url)
        XCTAssertEqual(try s.query("SELECT identifier FROM prunekit_migrations ORDER BY identifier").map { try $0[0].decode(String.self) },
                       StoreMigrations.all.map(\.id).sorted())
        let old = try store.study(named: "old")
        XCTAssertNil(old.topK)
        XCTAssertEqual(old.fullLoss, 3.3)
        XCTAssertEqual(try PostgresStudyStore(url: url, mode: .readOnly).study(named: "old").name, "old")
    }

    /// A role that may connect but not create tables: opening the store names the permission it lacks.
    func testStoreOpenWithoutCreatePermissionIsNamed() throws {
        var u = try PostgresURL(try PostgresTestServer.freshDatabase())
        u.user = "prunekit_noperm"  // Scripts/test-postgres.sh: LOGIN, same password, no CREATE on schema public
        XCTAssertThrowsError(try PostgresStudyStore(url: u.text)) { e in
            guard case .permissionDenied = e as? PostgresStoreError else { return XCTFail("\(e)") }
            XCTAssertTrue("\(e)".hasPrefix(u.redacted), "\(e)")
        }
    }

    // MARK: - Reconnection

    func testSessionReconnectsAfterAServerRestart() throws {
        let dir = try PostgresTestServer.clusterDir()
        let s = try PostgresSession(url: try PostgresTestServer.url())
        defer { s.close() }
        let before = try s.query("SELECT pg_backend_pid()")[0][0].decode(Int32.self)
        try Self.restartServer(dir)
        let after = try s.query("SELECT pg_backend_pid()")[0][0].decode(Int32.self)
        XCTAssertNotEqual(before, after, "a new server process serves the reconnected session")
    }

    // MARK: - Helpers

    static func restartServer(_ dir: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [SearchTests.repoRoot.appendingPathComponent("Scripts/test-postgres.sh").path, "restart", dir]
        // The restarted server must not inherit this process's pipes (nor would Process see the script end).
        p.standardInput = FileHandle.nullDevice; p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "Scripts/test-postgres.sh restart failed")
    }

    static func closedLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresTestServer.Unavailable(description: "socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw PostgresTestServer.Unavailable(description: "bind() failed") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
