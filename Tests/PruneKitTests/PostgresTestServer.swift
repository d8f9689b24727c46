import Foundation
import PostgresNIO
import PruneKit
import PruneKitPostgres
import XCTest

/// The PostgreSQL server of the tests: `make test` starts a throwaway cluster (Scripts/test-postgres.sh) and sets
/// - `PRUNEKIT_TEST_POSTGRES_URL`: a role with CREATEDB and its database,
/// - `PRUNEKIT_TEST_POSTGRES_DIR`: the cluster's folder (for the restart test),
/// - `PRUNEKIT_REQUIRE_POSTGRES=1`: a test that cannot have its server fails instead of skipping.
/// A developer run without the URL skips these tests, printing why.
enum PostgresTestServer {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    static var required: Bool { environment["PRUNEKIT_REQUIRE_POSTGRES"] == "1" }

    struct Unavailable: Error, CustomStringConvertible { var description: String }

    /// Skips (developer run) or fails (`PRUNEKIT_REQUIRE_POSTGRES=1`) with `reason`.
    static func unavailable(_ reason: String) -> Error {
        required ? Unavailable(description: "PRUNEKIT_REQUIRE_POSTGRES=1 but \(reason)") : XCTSkip(reason)
    }

    /// The server's URL, or the skip / failure. Registers the PostgreSQL backend, as `prunekit` does at startup.
    static func url() throws -> PostgresURL {
        registerPostgresBackend()
        guard let text = environment["PRUNEKIT_TEST_POSTGRES_URL"], !text.isEmpty else {
            throw unavailable("PRUNEKIT_TEST_POSTGRES_URL is not set (`make test` starts a server with Scripts/test-postgres.sh; or export a URL of a role with CREATEDB)")
        }
        return try PostgresURL(text)
    }

    /// The cluster folder of Scripts/test-postgres.sh, or the skip / failure.
    static func clusterDir() throws -> String {
        guard let d = environment["PRUNEKIT_TEST_POSTGRES_DIR"], !d.isEmpty else {
            throw unavailable("PRUNEKIT_TEST_POSTGRES_DIR is not set (the restart test controls the cluster started by Scripts/test-postgres.sh)")
        }
        return d
    }

    /// A new empty database on the server of `baseURL` (default: the test server), dropped when the running test
    /// ends; returns its URL text.
    static func freshDatabase(baseURL: String? = nil) throws -> String {
        registerPostgresBackend()
        var base = try baseURL.map { try PostgresURL($0) } ?? url()
        let name = "prunekit_t_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        let session = try PostgresSession(url: base)
        defer { session.close() }
        // Identifiers cannot be bound parameters; `name` is made here from [a-z0-9_] only.
        try session.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        Cleanup.shared.add(name, server: base)
        base.database = name
        return base.text
    }

    /// Drops the databases made for a test when it finishes.
    final class Cleanup: NSObject, XCTestObservation, @unchecked Sendable {
        static let shared: Cleanup = {
            let c = Cleanup()
            XCTestObservationCenter.shared.addTestObserver(c)
            return c
        }()
        private let lock = NSLock()
        private var pending = [(String, PostgresURL)]()

        func add(_ name: String, server: PostgresURL) { lock.lock(); pending.append((name, server)); lock.unlock() }

        func testCaseDidFinish(_ testCase: XCTestCase) {
            lock.lock(); let drop = pending; pending = []; lock.unlock()
            for (name, server) in drop {
                guard let s = try? PostgresSession(url: server) else { continue }
                _ = try? s.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
                s.close()
            }
        }
    }
}
