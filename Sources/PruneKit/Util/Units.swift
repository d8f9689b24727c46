import Foundation

/// GiB (2³⁰ bytes) conversions. Every size in the cost model is an exact `Int` byte count; GiB is for display
/// and for user-facing options such as `--reserved-gib`.
public enum GiB {
    /// 1 GiB = 1,073,741,824 bytes.
    public static let bytes = 1 << 30
    /// `bytes` in GiB.
    public static func of(_ bytes: Int) -> Double { Double(bytes) / Double(GiB.bytes) }
    /// `gib` GiB in bytes, rounded to the nearest byte.
    /// Values beyond ``maxGiB`` (and NaN) are clamped to it, negative ones to 0: callers check user values first.
    public static func toBytes(_ gib: Double) -> Int {
        guard gib > 0 else { return 0 }
        return Int((min(gib, maxGiB) * Double(GiB.bytes)).rounded())
    }
    /// The largest memory size an option or file may give, GiB (2^20 GiB = 1 PiB).
    public static let maxGiB = Double(1 << 20)
}

/// Parses a byte size such as `5GB` (10⁹), `500MB`, `2GiB` (2³⁰), `64KiB` or a plain byte count.
/// Units are case-insensitive; decimal prefixes are powers of 1000, binary ones (KiB, MiB, GiB, TiB) of 1024.
/// - Throws: ``PruneError/badOption(_:)`` naming the string and the accepted forms.
public func parseByteSize(_ text: String) throws -> Int {
    let s = text.trimmingCharacters(in: .whitespaces)
    let digits = s.prefix { $0.isNumber || $0 == "." }
    let unit = s.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
    let units: [String: Double] = ["": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
                                   "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776]
    guard let value = Double(digits), let mult = units[unit] else {
        throw PruneError.badOption("size \"\(text)\": expected a number with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 5GB, 500MB, 2GiB)")
    }
    let bytes = value * mult
    guard bytes >= 1, bytes < 9e18 else { throw PruneError.badOption("size \"\(text)\" must be at least 1 byte") }
    return Int(bytes.rounded())
}

/// ISO-8601 UTC timestamp with fractional seconds, for records.
public func timestampNow() -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date())
}

/// `path` made absolute against the current directory and standardized (no `.` or `..` components), so a
/// stored path names the same file from any directory.
public func absolutePath(_ path: String) -> String {
    let p = path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
    return (p as NSString).standardizingPath
}
