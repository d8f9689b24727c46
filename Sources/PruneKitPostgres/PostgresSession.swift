import Foundation
import PostgresNIO
import PruneKit

/// A blocking PostgreSQL session for PruneKit's synchronous commands: one postgres-nio `PostgresConnection` on
/// postgres-nio's shared event loop group, each request awaited with `EventLoopFuture.wait()` (SwiftNIO's bridge from
/// blocking to non-blocking code; it must not run on an event loop thread, and never does here: callers are the
/// commands' own threads). A lock serializes callers, so a heartbeat from one thread never lands inside another
/// thread's transaction. Every value goes through `PostgresQuery`'s string interpolation, which sends it as a bound
/// parameter (`$1`, `$2`, …), never as SQL text.
///
/// Connection loss: the first connection is made at `init` and its failure is thrown at once (a wrong URL should not
/// wait). Once connected, a request that fails because the connection broke (server restart, network cut: SQLSTATE
/// class 08, 57P01–57P03, or a closed socket) or because the server cancelled it for a serialization failure or a
/// deadlock (40001, 40P01) is retried after reconnecting, with waits ``retryDelays`` (8 retries, 0.25 s doubling to
/// 8 s, about 32 s in all); then ``PostgresStoreError/connectionLost(url:attempts:seconds:message:)``. A transaction
/// is retried whole, so its body must only read and write through its ``Transaction`` (it may run more than once).
/// If the connection breaks during `COMMIT` the outcome is unknown to the client; the retried transaction then runs
/// against the committed state, which the store's statements tolerate (claims are re-checked, inserts are
/// `ON CONFLICT DO NOTHING`).
public final class PostgresSession: @unchecked Sendable {
    public let url: PostgresURL
    /// Waits between reconnection attempts, seconds.
    public static let retryDelays: [Double] = [0.25, 0.5, 1, 2, 4, 8, 8, 8]

    private let lock = NSLock()
    /// Guarded by `lock`.
    private var connection: PostgresConnection?
    private let logger: Logger

    /// Connects to `url`.
    /// - Throws: ``PostgresStoreError``: unreachable, authentication, missing database, TLS, permission denied.
    public init(url: PostgresURL) throws {
        self.url = url
        var l = Logger(label: "prunekit.postgres")
        l.logLevel = .critical
        logger = l
        do {
            connection = try Self.connect(url, logger: logger)
        } catch {
            throw Self.classify(error, url: url).error
        }
    }

    deinit { close() }

    /// Closes the connection (idempotent).
    public func close() {
        lock.lock(); defer { lock.unlock() }
        if let c = connection { try? c.close().wait() }
        connection = nil
    }

    /// One statement in its own implicit transaction; returns its rows.
    @discardableResult
    public func query(_ q: PostgresQuery) throws -> [PostgresRandomAccessRow] {
        try withConnection { try Transaction(connection: $0, logger: logger).query(q) }
    }

    /// Runs `body` between `BEGIN` and `COMMIT` (`ROLLBACK` when it throws), retried whole on connection loss.
    /// Errors other than PostgreSQL's (the body's own) are rethrown unchanged.
    public func transaction<T>(_ body: (Transaction) throws -> T) throws -> T {
        try withConnection { c in
            let tx = Transaction(connection: c, logger: logger)
            try tx.execute("BEGIN")
            do {
                let value = try body(tx)
                try tx.execute("COMMIT")
                return value
            } catch {
                _ = try? tx.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// The statements of one transaction, on the session's connection.
    public struct Transaction {
        fileprivate let connection: PostgresConnection
        fileprivate let logger: Logger

        /// Runs a statement and returns its rows.
        @discardableResult
        public func query(_ q: PostgresQuery) throws -> [PostgresRandomAccessRow] {
            try PostgresSession.wait(connection.query(q, logger: logger), on: connection).rows.map { $0.makeRandomAccess() }
        }

        /// Runs a statement and returns the number of rows it inserted, updated or deleted.
        @discardableResult
        public func execute(_ q: PostgresQuery) throws -> Int {
            try PostgresSession.wait(connection.query(q, logger: logger), on: connection).metadata.rows ?? 0
        }
    }

    /// The connection closed while a request on it was awaited (retried like any connection loss).
    struct ClosedWhileWaiting: Error {}

    /// Waits for `future`, a request on `connection`, or fails with ``ClosedWhileWaiting`` as soon as the
    /// connection's channel closes. postgres-nio can leave a query sent while the server shuts down pending
    /// forever after the channel has closed (seen on a server restart: the worker waited with no socket left);
    /// racing the request with the channel's close future turns that into a retried connection loss.
    static func wait<T: Sendable>(_ future: EventLoopFuture<T>, on connection: PostgresConnection) throws -> T {
        let promise = future.eventLoop.makePromise(of: T.self)
        future.whenComplete { promise.completeWith($0) }
        // Both callbacks run on event loops; a promise completed twice keeps its first result (NIO ignores the second).
        connection.closeFuture.hop(to: future.eventLoop).whenComplete { _ in promise.fail(ClosedWhileWaiting()) }
        return try promise.futureResult.wait()
    }

    // MARK: - Connection and retries

    private func withConnection<T>(_ op: (PostgresConnection) throws -> T) throws -> T {
        lock.lock(); defer { lock.unlock() }
        let start = Date()
        var retries = 0
        while true {
            do {
                if connection == nil || connection!.isClosed {
                    connection = nil
                    connection = try Self.connect(url, logger: logger)
                }
                return try op(connection!)
            } catch let e where e is PSQLError || e is PostgresTransactionError || e is ClosedWhileWaiting {
                let f = Self.classify(e, url: url)
                if f.broken {
                    if let c = connection { try? c.close().wait() }
                    connection = nil
                }
                guard f.transient else { throw f.error }
                guard retries < Self.retryDelays.count else {
                    throw PostgresStoreError.connectionLost(url: url.redacted, attempts: retries + 1, seconds: Date().timeIntervalSince(start),
                                                            message: f.error.detail)
                }
                Thread.sleep(forTimeInterval: Self.retryDelays[retries])
                retries += 1
            }
        }
    }

    private static func connect(_ url: PostgresURL, logger: Logger) throws -> PostgresConnection {
        let tls: PostgresConnection.Configuration.TLS
        switch url.sslMode {
        case .disable:
            tls = .disable
        case .prefer, .require:
            // libpq's prefer/require encrypt without verifying the certificate.
            var t = TLSConfiguration.makeClientConfiguration()
            t.certificateVerification = .none
            let context = try NIOSSLContext(configuration: t)
            tls = url.sslMode == .prefer ? .prefer(context) : .require(context)
        case .verifyFull:
            tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var config = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user, password: url.password,
                                                      database: url.database, tls: tls)
        config.options.connectTimeout = .seconds(10)
        return try PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(), configuration: config, id: 1,
                                              logger: logger).wait()
    }

    /// Maps a postgres-nio error to PruneKit's: whether the request may be retried, and whether the connection is broken.
    static func classify(_ error: Error, url: PostgresURL) -> (error: PostgresStoreError, transient: Bool, broken: Bool) {
        let u = url.redacted
        if let t = error as? PostgresTransactionError {
            return classify(t.closureError ?? t.commitError ?? t.beginError ?? t.rollbackError ?? error, url: url)
        }
        if error is ClosedWhileWaiting { return (.connectionLostNow(u, "the connection closed while a request was pending"), true, true) }
        guard let e = error as? PSQLError else {
            if error is NIOSSLError { return (.tls(url: u, message: "\(error)"), false, true) }
            return (.server(url: u, sqlState: "-", message: "\(error)"), false, true)
        }
        switch e.code {
        case .server:
            let state = e.serverInfo?[.sqlState] ?? ""
            var message = e.serverInfo?[.message] ?? "no message"
            if let d = e.serverInfo?[.detail] { message += " — \(d)" }
            switch state {
            case "28P01", "28000": return (.authentication(url: u, message: message), false, true)
            case "3D000": return (.missingDatabase(url: u, database: url.database), false, true)
            case "42501": return (.permissionDenied(url: u, message: message), false, false)
            case "57P01", "57P02", "57P03", "53300": return (.connectionLostNow(u, message), true, true)
            case "40001", "40P01": return (.server(url: u, sqlState: state, message: message), true, false)
            default:
                if state.hasPrefix("08") { return (.connectionLostNow(u, message), true, true) }
                return (.server(url: u, sqlState: state, message: message), false, false)
            }
        case .connectionError:
            let m = e.underlying.map { "\($0)" } ?? "connection failed"
            if e.underlying is NIOSSLError { return (.tls(url: u, message: m), false, true) }
            return (.unreachable(url: u, message: m), true, true)
        case .serverClosedConnection, .uncleanShutdown, .clientClosedConnection:
            return (.connectionLostNow(u, "the connection was closed (\(e.code))"), true, true)
        case .sslUnsupported:
            return (.tls(url: u, message: "the server does not support TLS and the URL says sslmode=\(url.sslMode.rawValue)"), false, true)
        case .authMechanismRequiresPassword:
            return (.authentication(url: u, message: "the server asks for a password and the URL has none"), false, true)
        case .unsupportedAuthMechanism, .saslError:
            return (.authentication(url: u, message: "authentication failed (\(e.code))"), false, true)
        default:
            return (.server(url: u, sqlState: "-", message: "\(e.code)"), false, true)
        }
    }
}

private extension PostgresStoreError {
    static func connectionLostNow(_ url: String, _ message: String) -> Self {
        .connectionLost(url: url, attempts: 1, seconds: 0, message: message)
    }

    /// The error's own words, without the URL (for the last error of a retry sequence).
    var detail: String {
        switch self {
        case let .connectionLost(_, _, _, m), let .unreachable(_, m), let .server(_, _, m), let .authentication(_, m),
             let .permissionDenied(_, m), let .tls(_, m), let .badURL(_, m):
            return m
        case let .missingDatabase(_, d):
            return "database \(d) does not exist"
        }
    }
}
