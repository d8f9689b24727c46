/// An integer with thousands separators: 1314872 → "1,314,872", −1234 → "-1,234".
public func grouped(_ n: Int) -> String {
    let s = String(n.magnitude)
    var out = ""
    for (i, c) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

/// A byte count in the largest binary unit that keeps it at least 1 — `512 B`, `1.50 KiB`, `12.34 MiB`,
/// `18.69 GiB` — so that small models do not print "0.00 GiB". Negative counts keep their sign.
/// `Int.max` (a saturated size, see ``CostModel``) prints as "more than 8 EiB".
public func byteString(_ bytes: Int) -> String {
    if bytes == Int.max { return "more than 8 EiB" }
    let b = Double(bytes), a = abs(b)
    if a >= 1_073_741_824 { return String(format: "%.2f GiB", b / 1_073_741_824) }
    if a >= 1_048_576 { return String(format: "%.2f MiB", b / 1_048_576) }
    if a >= 1024 { return String(format: "%.2f KiB", b / 1024) }
    return "\(bytes) B"
}
