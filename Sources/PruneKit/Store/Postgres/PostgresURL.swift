import Foundation

/// A PostgreSQL connection URL as `--db` and `PRUNEKIT_DB` take it:
/// `postgresql://user[:password]@host[:port]/database[?sslmode=disable|prefer|require|verify-full]`
/// (`postgres://` too; libpq's URI form, https://www.postgresql.org/docs/current/libpq-connect.html §34.1.1.2).
/// User, password and database are percent-decoded (a `@`, `:` or `/` in a password is written `%40`, `%3A`, `%2F`).
/// The password is never printed: ``redacted`` and every error show `user:***@`.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// TLS use, with libpq's meanings: `disable` never; `prefer` (the default) when the server offers it;
    /// `require` always, without verifying the server's certificate; `verify-full` always, verifying the
    /// certificate chain and the host name against the system's trust roots.
    public enum SSLMode: String, Sendable, CaseIterable { case disable, prefer, require, verifyFull = "verify-full" }

    public var user: String
    public var password: String?
    public var host: String
    /// TCP port, 5432 when the URL gives none.
    public var port: Int
    public var database: String
    public var sslMode: SSLMode

    /// Whether `text` names a PostgreSQL store (scheme `postgresql://` or `postgres://`, any case) rather than a file.
    public static func isPostgres(_ text: String) -> Bool {
        let t = text.lowercased()
        return t.hasPrefix("postgresql://") || t.hasPrefix("postgres://")
    }

    /// Parses a URL.
    /// - Throws: ``PostgresStoreError/badURL(url:message:)`` naming the (redacted) URL and what was expected.
    public init(_ text: String) throws {
        func bad(_ m: String) -> PostgresStoreError { .badURL(url: Self.redact(text), message: m) }
        guard Self.isPostgres(text) else { throw bad("expected a URL starting with postgresql:// or postgres://") }
        guard let c = URLComponents(string: text) else {
            throw bad("not a valid URL (percent-encode special characters in the user, password and database: @ as %40, : as %3A, / as %2F)")
        }
        guard let user = c.user, !user.isEmpty else { throw bad("missing user name: expected postgresql://user[:password]@host[:port]/database") }
        guard let host = c.host, !host.isEmpty else { throw bad("missing host: expected postgresql://user[:password]@host[:port]/database") }
        if let p = c.port, !(1...65535).contains(p) { throw bad("port \(p) is out of range (1–65535)") }
        var path = c.path
        if path.hasPrefix("/") { path.removeFirst() }
        guard !path.isEmpty else { throw bad("missing database name: expected …@host[:port]/database") }
        guard !path.contains("/") else { throw bad("database name '\(path)' contains '/': expected …@host[:port]/database") }
        var mode = SSLMode.prefer
        for item in c.queryItems ?? [] {
            guard item.name == "sslmode" else { throw bad("unknown parameter '\(item.name)': only sslmode is accepted") }
            guard let v = item.value, let m = SSLMode(rawValue: v) else {
                throw bad("sslmode '\(item.value ?? "")' is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            mode = m
        }
        self.user = user
        self.password = c.password
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = c.port ?? 5432
        self.database = path
        self.sslMode = mode
    }

    /// The URL with the password replaced by `***` and the port always shown:
    /// `postgresql://user:***@host:5432/database?sslmode=prefer`.
    public var redacted: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "postgresql://\(user)\(password == nil ? "" : ":***")@\(h):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    public var description: String { redacted }

    /// The full URL, password included, percent-encoded: for handing to another process. Never print it.
    public var text: String {
        var c = URLComponents()
        c.scheme = "postgresql"
        c.user = user
        c.password = password
        c.host = host.contains(":") ? "[\(host)]" : host
        c.port = port
        c.path = "/" + database
        c.queryItems = [URLQueryItem(name: "sslmode", value: sslMode.rawValue)]
        return c.string ?? redacted
    }

    /// Redacts the password of any text that looks like a URL (also one too malformed to parse): everything between
    /// the first `:` after `://` and the last `@` before the path becomes `***`.
    public static func redact(_ text: String) -> String {
        // Any URL-shaped text (`scheme:/…` or `scheme://…`, whatever the scheme: a mistyped `pg://` or
        // `postgresql+psycopg2://` must not leak either). The user information ends at the LAST "@": a password
        // holding an unencoded "/", "?" or "@" (an invalid URL, still a secret) is masked whole.
        guard let colon = text.firstIndex(of: ":"), colon > text.startIndex,
              text[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) }),
              text[colon...].hasPrefix(":/") else { return text }
        var start = text.index(after: colon)
        while start < text.endIndex && text[start] == "/" { start = text.index(after: start) }
        let rest = text[start...]
        guard let at = rest.lastIndex(of: "@"), let pw = rest[..<at].firstIndex(of: ":") else { return text }
        return String(text[..<pw]) + ":***" + String(text[at...])
    }
}
