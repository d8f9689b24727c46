import Foundation

/// Where the PostgreSQL backend plugs in. The backend (`PostgresStudyStore`, its scoring queue, the postgres-nio
/// client and SwiftNIO under it) is the separate module `PruneKitPostgres`, so that code needing only `PruneKit` —
/// the fuzzers, a SQLite-only tool — does not build or link it. A program that accepts `postgresql://` stores links
/// `PruneKitPostgres` and calls its `registerPostgresBackend()` once at startup (the `prunekit` tool and the tests
/// do); ``openStore(_:mode:)`` then opens PostgreSQL URLs through ``register(_:)``'s opener. Without a registered
/// backend a PostgreSQL URL is ``StoreError/unavailable(location:message:)`` (exit code 3), never a crash.
public enum PostgresBackend {
    /// Opens the store at a `postgresql://` URL (the full text, password included) in a mode.
    /// - Throws: ``PostgresStoreError``, ``StoreError``.
    public typealias Opener = @Sendable (_ url: String, _ mode: StoreMode) throws -> any StudyStore

    private static let lock = NSLock()
    nonisolated(unsafe) private static var opener: Opener?

    /// Sets the opener ``openStore(_:mode:)`` uses for PostgreSQL URLs; a later call replaces it, `nil` removes it.
    /// Thread-safe.
    public static func register(_ open: Opener?) {
        lock.lock(); defer { lock.unlock() }
        opener = open
    }

    /// Whether a backend is registered.
    public static var isRegistered: Bool { registered != nil }

    static var registered: Opener? {
        lock.lock(); defer { lock.unlock() }
        return opener
    }
}

/// Opens a PostgreSQL store through the registered backend.
/// - Throws: ``PostgresStoreError/badURL(url:message:)`` for a malformed URL (checked with or without a backend);
///   ``StoreError/unavailable(location:message:)`` when no backend is registered; the backend's errors.
func openPostgresStore(url: String, mode: StoreMode) throws -> any StudyStore {
    guard let open = PostgresBackend.registered else {
        let parsed = try PostgresURL(url)
        throw StoreError.unavailable(location: parsed.redacted, message: """
            this program was built without PostgreSQL support: the backend is the module PruneKitPostgres, which must be \
            linked and registered at startup (registerPostgresBackend()); expected a SQLite file path instead, or use the prunekit tool
            """)
    }
    return try open(url, mode)
}
