import Foundation

/// Errors of the PostgreSQL store (exit code 3, like every store error). Each names the URL with its password
/// redacted (``PostgresURL/redacted``) and says what was expected. Defined here, beside ``PostgresURL``, so that
/// exit codes and URL validation need no PostgreSQL client; the backend (module `PruneKitPostgres`) throws them.
public enum PostgresStoreError: Error, CustomStringConvertible, Equatable {
    /// The `--db` / `PRUNEKIT_DB` text is not a usable PostgreSQL URL.
    case badURL(url: String, message: String)
    /// No server answered at host:port (refused, timed out, unknown host).
    case unreachable(url: String, message: String)
    /// The server refused the user or password (SQLSTATE 28P01 / 28000), or asked for a password the URL lacks.
    case authentication(url: String, message: String)
    /// The database named in the URL does not exist (SQLSTATE 3D000).
    case missingDatabase(url: String, database: String)
    /// The role may not do what PruneKit needs (SQLSTATE 42501).
    case permissionDenied(url: String, message: String)
    /// TLS was required but could not be set up.
    case tls(url: String, message: String)
    /// An established connection was lost and reconnecting failed within the retry budget
    /// (`PostgresSession.retryDelays` in `PruneKitPostgres`).
    case connectionLost(url: String, attempts: Int, seconds: Double, message: String)
    /// Any other error the server reported (SQLSTATE and its message).
    case server(url: String, sqlState: String, message: String)

    public var description: String {
        switch self {
        case let .badURL(u, m):
            return "\(u): not a valid PostgreSQL URL: \(m)"
        case let .unreachable(u, m):
            return "\(u): cannot reach the PostgreSQL server (\(m)); expected a server accepting TCP connections at that host and port: is it running, and do its listen_addresses and pg_hba.conf admit this machine?"
        case let .authentication(u, m):
            return "\(u): the server refused the login (\(m)); expected a role that may log in with this password (CREATE ROLE name LOGIN PASSWORD '…') and a pg_hba.conf entry for this host"
        case let .missingDatabase(u, d):
            return "\(u): database \"\(d)\" does not exist; expected an existing database: create it (createdb -O USER \(d)) or fix the URL"
        case let .permissionDenied(u, m):
            return "\(u): permission denied (\(m)); expected a role that owns the database, or has CONNECT on it and USAGE + CREATE on schema public"
        case let .tls(u, m):
            return "\(u): TLS failed (\(m)); use sslmode=prefer or sslmode=disable, or enable ssl on the server"
        case let .connectionLost(u, n, s, m):
            return String(format: "%@: lost the connection to the PostgreSQL server and could not reconnect (%d attempts over %.0f s; last error: %@)", u, n, s, m)
        case let .server(u, code, m):
            return "\(u): PostgreSQL error \(code): \(m)"
        }
    }
}
