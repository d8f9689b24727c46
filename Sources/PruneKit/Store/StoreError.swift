import Foundation
import GRDB

/// Errors of the PruneKit store, naming the database path or URL (password redacted).
public enum StoreError: Error, CustomStringConvertible, Equatable {
    /// The file exists but is not a SQLite database.
    case notADatabase(path: String)
    /// The file or its folder is read-only, but the command writes.
    case readOnly(path: String)
    case sqlite(path: String, message: String)
    /// A stored value does not decode.
    case corrupt(path: String, message: String)
    /// A reading command was given a database that does not exist (reading commands never create one).
    case missing(location: String)
    /// A directory was given as the database file.
    case isDirectory(path: String)
    /// A database with other tables than PruneKit's (or none).
    case notPruneKit(location: String, tables: [String])
    /// The database records migrations this PruneKit does not know: written by a newer version.
    case newerSchema(location: String, unknown: [String])
    /// A writing method was called on a store opened read-only.
    case readOnlyMode(location: String)
    /// `db copy`: the destination has a different study of the same name.
    case copyConflict(study: String, location: String, message: String)
    /// The backend for this location is not available in this build.
    case unavailable(location: String, message: String)
    /// `--db` is neither a SQLite file path nor a PostgreSQL URL (e.g. a URL of another scheme); redacted.
    case badLocation(location: String, message: String)

    public var description: String {
        switch self {
        case let .notADatabase(p): return "\(p): not a SQLite database (choose another --db file or remove this one)"
        case let .readOnly(p): return "\(p): the database is read-only (PruneKit must write to it; choose a writable --db)"
        case let .sqlite(p, m): return "\(p): SQLite error: \(m)"
        case let .corrupt(p, m): return "\(p): unexpected content: \(m)"
        case let .missing(l): return "\(l): no such database (run `prunekit search` or `prunekit score` first, or give --db / PRUNEKIT_DB)"
        case let .isDirectory(p): return "\(p): is a directory; --db takes a database file path (e.g. \((p as NSString).appendingPathComponent("prunekit.sqlite"))) or a postgresql:// URL"
        case let .notPruneKit(l, t):
            return t.isEmpty ? "\(l): an empty database, not a PruneKit one (run `prunekit search` or `prunekit score` to create one)"
                : "\(l): not a PruneKit database (it has tables \(t.prefix(8).joined(separator: ", "))\(t.count > 8 ? ", …" : "") but not PruneKit's); choose another --db"
        case let .newerSchema(l, u):
            return "\(l): written by a newer PruneKit (schema migrations \(u.joined(separator: ", ")) are unknown to version \(PruneKitVersion.string)); upgrade PruneKit"
        case let .readOnlyMode(l): return "\(l): opened read-only; this command does not write"
        case let .copyConflict(s, l, m): return "\(l): a different study named \"\(s)\" is there: \(m); copy under another name or to another store"
        case let .unavailable(l, m): return "\(l): \(m)"
        case let .badLocation(l, m): return "\(l): \(m)"
        }
    }

    static func wrap(_ error: Error, path: String) -> Error {
        if error is StoreError || error is SearchError || error is AnnotateError { return error }
        if let db = error as? DatabaseError {
            switch db.resultCode {
            case .SQLITE_NOTADB: return StoreError.notADatabase(path: path)
            case .SQLITE_READONLY: return StoreError.readOnly(path: path)
            case .SQLITE_CANTOPEN:
                let dir = (path as NSString).deletingLastPathComponent
                var isDir: ObjCBool = false
                if !dir.isEmpty, !(FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) && isDir.boolValue) {
                    return StoreError.sqlite(path: path, message: "cannot create the database: the folder \(dir) does not exist")
                }
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { return StoreError.isDirectory(path: path) }
                return StoreError.readOnly(path: path)
            case .SQLITE_CORRUPT: return StoreError.notADatabase(path: path)
            default: return StoreError.sqlite(path: path, message: db.message ?? "\(db)")
            }
        }
        return error
    }
}
extension StoreError: LocalizedError { public var errorDescription: String? { description } }
