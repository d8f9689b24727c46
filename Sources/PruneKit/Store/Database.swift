import Foundation
import GRDB

/// Errors from the SQLite store (exit code 3).
public enum StoreError: Error, CustomStringConvertible, ExitCodeProviding {
    case notADatabase(path: String)
    case readOnly(path: String)
    case sqlite(path: String, message: String)
    case corrupt(path: String, message: String)

    public var description: String {
        switch self {
        case let .notADatabase(p): return "\(p): not a SQLite database (choose another --db file or remove this one)"
        case let .readOnly(p): return "\(p): the database is read-only (PruneKit must write to it; choose a writable --db)"
        case let .sqlite(p, m): return "\(p): SQLite error: \(m)"
        case let .corrupt(p, m): return "\(p): unexpected content: \(m)"
        }
    }
    public var exitCode: Int32 { 3 }

    static func wrap(_ error: Error, path: String) -> StoreError {
        if let e = error as? StoreError { return e }
        if let db = error as? DatabaseError {
            switch db.resultCode {
            case .SQLITE_NOTADB: return .notADatabase(path: path)
            case .SQLITE_READONLY: return .readOnly(path: path)
            case .SQLITE_CANTOPEN:
                let dir = (path as NSString).deletingLastPathComponent
                var isDir: ObjCBool = false
                if !dir.isEmpty, !(FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) && isDir.boolValue) {
                    return .sqlite(path: path, message: "cannot create the database: the folder \(dir) does not exist")
                }
                return .readOnly(path: path)
            case .SQLITE_CORRUPT: return .notADatabase(path: path)
            default: return .sqlite(path: path, message: db.message ?? "\(db)")
            }
        }
        return .sqlite(path: path, message: "\(error)")
    }
}

/// The PruneKit database: importance scores keyed by checkpoint and calibration fingerprints, and
/// search studies with their trials (formats.md §4, modelled on Optuna's RDB storage).
/// SQLite in WAL mode with a busy timeout; short transactions; `BEGIN IMMEDIATE` to claim work, so several
/// worker processes on one machine can share a study (not over NFS).
public final class PruneKitDatabase: @unchecked Sendable {
    public let path: String
    public let pool: DatabasePool

    /// Opens (creating if needed) and migrates the database.
    /// - Throws: ``StoreError`` when the file is not SQLite, is read-only, or SQLite fails.
    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.journalMode = .wal
        // Two processes opening a new database at once can race on the switch to WAL mode or the first
        // migration, which SQLite reports as SQLITE_BUSY without waiting: retry those for up to ~10 s.
        var attempt = 0
        while true {
            do {
                let p = try DatabasePool(path: path, configuration: config)
                try Self.migrator.migrate(p)
                pool = p
                break
            } catch let e as DatabaseError where attempt < 100 && (e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED
                                                                    || (e.message ?? "").contains("already exists")) {
                // "already exists": another process applied the same migration between our check and our write.
                attempt += 1
                usleep(100_000)
            } catch {
                throw StoreError.wrap(error, path: path)
            }
        }
    }

    /// Schema migrations: SQL strings, never edited once shipped (GRDB Migrations.md).
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-importance-scores") { db in
            try db.execute(sql: """
                CREATE TABLE importance_scores (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    checkpoint_fingerprint TEXT NOT NULL,
                    calibration_fingerprint TEXT NOT NULL,
                    options_key TEXT NOT NULL,
                    checkpoint_path TEXT NOT NULL,
                    calibration_source TEXT NOT NULL,
                    samples INTEGER NOT NULL CHECK (samples > 0),
                    tokens INTEGER NOT NULL CHECK (tokens > 0),
                    scores_json TEXT NOT NULL,
                    seconds REAL NOT NULL,
                    layer_evaluations INTEGER NOT NULL,
                    tool_version TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    UNIQUE (checkpoint_fingerprint, calibration_fingerprint, options_key)
                )
                """)
        }
        registerSearchMigrations(&m)
        return m
    }

    /// Runs `body` in a write transaction, wrapping errors as ``StoreError``.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.write(body) } catch { throw StoreError.wrap(error, path: path) }
    }

    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch { throw StoreError.wrap(error, path: path) }
    }
}

/// ISO-8601 UTC timestamp for records.
public func timestampNow() -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date())
}
