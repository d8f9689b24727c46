import Foundation

/// XML text and attribute escaping (`&`, `<`, `>`, `"`, `'`); control characters other than tab/newline,
/// which XML 1.0 forbids, become U+FFFD.
public func xmlEscape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for ch in s.unicodeScalars {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\t", "\n", "\r": out.unicodeScalars.append(ch)
        default:
            if ch.value < 0x20 || (0xFFFE...0xFFFF).contains(ch.value) { out += "\u{FFFD}" } else { out.unicodeScalars.append(ch) }
        }
    }
    return out
}

/// A minimal SVG string builder: elements are appended in drawing order; every attribute value and text is
/// escaped. Coordinates are user units (= CSS px at scale 1).
struct SVG {
    let width: Double
    let height: Double
    private(set) var body: [String] = []

    init(width: Double, height: Double) { self.width = width; self.height = height }

    static func num(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r)
    }

    private static func attrs(_ a: [(String, String)]) -> String {
        a.map { " \($0.0)=\"\(xmlEscape($0.1))\"" }.joined()
    }

    mutating func raw(_ s: String) { body.append(s) }

    mutating func element(_ name: String, _ a: [(String, String)], title: String? = nil) {
        if let title { body.append("<\(name)\(Self.attrs(a))><title>\(xmlEscape(title))</title></\(name)>") }
        else { body.append("<\(name)\(Self.attrs(a))/>") }
    }

    mutating func rect(x: Double, y: Double, w: Double, h: Double, fill: String, stroke: String? = nil, extra: [(String, String)] = [], title: String? = nil) {
        var a = [("x", Self.num(x)), ("y", Self.num(y)), ("width", Self.num(max(0, w))), ("height", Self.num(max(0, h))), ("fill", fill)]
        if let stroke { a.append(("stroke", stroke)) }
        element("rect", a + extra, title: title)
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1, dash: String? = nil) {
        var a = [("x1", Self.num(x1)), ("y1", Self.num(y1)), ("x2", Self.num(x2)), ("y2", Self.num(y2)), ("stroke", stroke), ("stroke-width", Self.num(width))]
        if let dash { a.append(("stroke-dasharray", dash)) }
        element("line", a)
    }

    mutating func polyline(_ pts: [(Double, Double)], stroke: String, width: Double = 1.5, dash: String? = nil) {
        guard pts.count > 1 else { return }
        var a = [("points", pts.map { "\(Self.num($0.0)),\(Self.num($0.1))" }.joined(separator: " ")), ("fill", "none"),
                 ("stroke", stroke), ("stroke-width", Self.num(width))]
        if let dash { a.append(("stroke-dasharray", dash)) }
        element("polyline", a)
    }

    mutating func circle(_ cx: Double, _ cy: Double, r: Double, fill: String, stroke: String? = nil, strokeWidth: Double = 1, title: String? = nil) {
        var a = [("cx", Self.num(cx)), ("cy", Self.num(cy)), ("r", Self.num(r)), ("fill", fill)]
        if let stroke { a += [("stroke", stroke), ("stroke-width", Self.num(strokeWidth))] }
        element("circle", a, title: title)
    }

    /// A marker shape centred at (x, y): "circle", "square", "cross", "triangle", "diamond".
    mutating func marker(_ shape: String, _ x: Double, _ y: Double, size s: Double, fill: String, stroke: String, title: String? = nil) {
        switch shape {
        case "square": rect(x: x - s, y: y - s, w: 2 * s, h: 2 * s, fill: fill, stroke: stroke, title: title)
        case "cross":
            let d = "M\(Self.num(x - s)),\(Self.num(y - s))L\(Self.num(x + s)),\(Self.num(y + s))M\(Self.num(x - s)),\(Self.num(y + s))L\(Self.num(x + s)),\(Self.num(y - s))"
            element("path", [("d", d), ("stroke", stroke), ("stroke-width", "2"), ("fill", "none")], title: title)
        case "triangle":
            let d = "M\(Self.num(x)),\(Self.num(y - s * 1.2))L\(Self.num(x + s * 1.1)),\(Self.num(y + s * 0.8))L\(Self.num(x - s * 1.1)),\(Self.num(y + s * 0.8))Z"
            element("path", [("d", d), ("stroke", stroke), ("fill", fill)], title: title)
        case "diamond":
            let d = "M\(Self.num(x)),\(Self.num(y - s * 1.3))L\(Self.num(x + s * 1.3)),\(Self.num(y))L\(Self.num(x)),\(Self.num(y + s * 1.3))L\(Self.num(x - s * 1.3)),\(Self.num(y))Z"
            element("path", [("d", d), ("stroke", stroke), ("stroke-width", "1.5"), ("fill", fill)], title: title)
        default: circle(x, y, r: s, fill: fill, stroke: stroke, title: title)
        }
    }

    /// Text; `anchor` is start / middle / end; `rotate` in degrees about (x, y).
    mutating func text(_ s: String, x: Double, y: Double, size: Double = 12, anchor: String = "start", weight: String? = nil,
                       fill: String = "#222", rotate: Double? = nil) {
        var a = [("x", Self.num(x)), ("y", Self.num(y)), ("font-size", Self.num(size)), ("text-anchor", anchor), ("fill", fill)]
        if let weight { a.append(("font-weight", weight)) }
        if let rotate { a.append(("transform", "rotate(\(Self.num(rotate)) \(Self.num(x)) \(Self.num(y)))")) }
        body.append("<text\(Self.attrs(a))>\(xmlEscape(s))</text>")
    }

    /// The standalone document (with the XML namespace, a white background and a font stack).
    func render(title: String) -> String {
        let w = Self.num(width), h = Self.num(height)
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(w)" height="\(h)" viewBox="0 0 \(w) \(h)" \
        font-family="DejaVu Sans, Helvetica, Arial, sans-serif" role="img" aria-label="\(xmlEscape(title))">
        <title>\(xmlEscape(title))</title>
        <rect x="0" y="0" width="\(w)" height="\(h)" fill="#ffffff"/>
        \(body.joined(separator: "\n"))
        </svg>
        """
    }

    /// Rough rendered width of `s` at `size` px (for layout: 0.6 em per character).
    static func textWidth(_ s: String, size: Double) -> Double { Double(s.count) * size * 0.6 }
}

// MARK: - Scales

/// A linear or log10 map from data values to pixels. Never divides by zero: a zero-width domain is widened.
struct Scale {
    var lo: Double
    var hi: Double
    var p0: Double
    var p1: Double
    var log: Bool

    init(domain: (Double, Double), range: (Double, Double), log: Bool = false) {
        var (a, b) = domain
        if log { a = Foundation.log10(max(a, 1e-300)); b = Foundation.log10(max(b, 1e-300)) }
        if !a.isFinite || !b.isFinite { a = 0; b = 1 }
        if a > b { swap(&a, &b) }
        if b - a < 1e-12 * max(1, abs(a)) { let d = log ? 0.5 : max(abs(a) * 0.1, 1); a -= d; b += d }
        lo = a; hi = b; p0 = range.0; p1 = range.1; self.log = log
    }

    func callAsFunction(_ v: Double) -> Double {
        let x = log ? Foundation.log10(max(v, 1e-300)) : v
        return p0 + (x - lo) / (hi - lo) * (p1 - p0)
    }

    /// Tick values: ~`count` "nice" steps (1, 2, 5 × 10^k) for linear; powers of ten for log (with 2 and 5 when few).
    func ticks(_ count: Int = 5) -> [Double] {
        if log {
            let a = Int(Foundation.floor(lo)), b = Int(Foundation.ceil(hi))
            var t = [Double]()
            let stride = max(1, (b - a) / 8)
            for e in Swift.stride(from: a, through: b, by: stride) {
                let p = Foundation.pow(10, Double(e))
                if Foundation.log10(p) >= lo - 1e-9 && Foundation.log10(p) <= hi + 1e-9 { t.append(p) }
                if b - a <= 2 {
                    for m in [2.0, 5.0] where Foundation.log10(m * p) >= lo - 1e-9 && Foundation.log10(m * p) <= hi + 1e-9 { t.append(m * p) }
                }
            }
            return t.isEmpty ? [Foundation.pow(10, lo), Foundation.pow(10, hi)] : t.sorted()
        }
        let step = Scale.niceStep((hi - lo) / Double(max(1, count)))
        var t = [Double]()
        var v = Foundation.ceil(lo / step - 1e-9) * step
        while v <= hi + step * 1e-9 { t.append(abs(v) < step * 1e-9 ? 0 : v); v += step }
        return t
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let e = Foundation.pow(10, Foundation.floor(Foundation.log10(raw)))
        let f = raw / e
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e
    }

    /// Domain padded to nice bounds (linear only), including zero when `zero`.
    static func niceDomain(_ values: [Double], zero: Bool = false, pad: Double = 0.05) -> (Double, Double) {
        let v = values.filter(\.isFinite)
        var a = v.min() ?? 0, b = v.max() ?? 1
        if zero { a = min(a, 0); b = max(b, 0) }
        if b - a <= 0 { let d = max(abs(a) * 0.1, 1e-9 + (a == 0 ? 1 : 0)); a -= zero && a >= 0 ? 0 : d; b += d }
        let span = b - a
        if !(zero && a == 0) { a -= span * pad }
        b += span * pad
        return (a, b)
    }
}

// MARK: - Number formatting

enum Fmt {
    /// Compact number with SI-like suffix: 1.23k, 4.5M, 8.89B.
    static func count(_ v: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "NaN" : (v > 0 ? "∞" : "−∞") }
        let a = abs(v)
        if a >= 1e9 { return trim(v / 1e9) + "B" }
        if a >= 1e6 { return trim(v / 1e6) + "M" }
        if a >= 1e4 { return trim(v / 1e3) + "k" }
        return trim(v)
    }

    /// Up to 3 significant digits, trailing zeros removed.
    static func trim(_ v: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "NaN" : (v > 0 ? "∞" : "−∞") }
        if v == 0 { return "0" }
        let a = abs(v)
        let s: String
        if a >= 100 { s = String(format: "%.0f", v) } else if a >= 10 { s = String(format: "%.1f", v) }
        else if a >= 1 { s = String(format: "%.2f", v) } else if a >= 0.001 { s = String(format: "%.3g", v) }
        else { return String(format: "%.1e", v) }
        guard s.contains(".") else { return s }
        var t = s
        while t.hasSuffix("0") { t.removeLast() }
        if t.hasSuffix(".") { t.removeLast() }
        return t
    }

    /// A metric value (4 significant digits) or "—".
    static func metric(_ v: Double?) -> String {
        guard let v else { return "—" }
        guard v.isFinite else { return v.isNaN ? "NaN" : (v > 0 ? "∞" : "−∞") }
        if v != 0 && (abs(v) < 1e-3 || abs(v) >= 1e5) { return String(format: "%.3e", v) }
        return String(format: "%.4g", v)
    }

    /// Bytes in GiB, or MiB / KiB when below 0.1 GiB / 0.1 MiB (tiny models), 2 decimals.
    static func gib(_ bytes: Int) -> String {
        let a = Double(bytes.magnitude)
        if a >= 0.1 * Double(1 << 30) { return String(format: "%.2f GiB", GiB.of(bytes)) }
        if a >= 0.1 * Double(1 << 20) { return String(format: "%.2f MiB", Double(bytes) / Double(1 << 20)) }
        return String(format: "%.2f KiB", Double(bytes) / 1024)
    }
    static func gibSigned(_ bytes: Int) -> String { (bytes >= 0 ? "+" : "−") + gib(Int(bytes.magnitude)) }
    static func seconds(_ s: Double?) -> String {
        guard let s, s.isFinite else { return "—" }
        return s >= 10 ? String(format: "%.0f", s) : String(format: "%.2g", s)
    }
    static func tps(_ v: Double) -> String { v.isFinite ? String(format: "%.1f", v) : "—" }

    /// Byte axis: GiB when large, else MiB / KiB.
    static func byteUnit(_ maxBytes: Double) -> (divisor: Double, name: String) {
        if maxBytes >= Double(1 << 30) / 4 { return (Double(1 << 30), "GiB") }
        if maxBytes >= Double(1 << 20) / 4 { return (Double(1 << 20), "MiB") }
        return (1024, "KiB")
    }

    /// Parameter axis unit: B, M or k.
    static func paramUnit(_ maxParams: Double) -> (divisor: Double, name: String) {
        if maxParams >= 1e9 { return (1e9, "B") }
        if maxParams >= 1e6 { return (1e6, "M") }
        return (1e3, "k")
    }
}

/// Colours and names of the layer kinds.
enum KindStyle {
    static func color(_ c: Character) -> String {
        switch c { case "M": return "#1b9e77"; case "*": return "#d95f02"; case "-": return "#7570b3"; default: return "#999999" }
    }
    static func name(_ c: Character) -> String {
        switch c { case "M": return "Mamba (M)"; case "*": return "attention (*)"; case "-": return "MLP (-)"; default: return "other" }
    }
}

/// Colours of trial states.
enum StateStyle {
    static func color(_ s: ReportInput.TrialState) -> String {
        switch s { case .complete: return "#1f77b4"; case .pruned: return "#9e9e9e"; case .fail: return "#d62728"; case .running, .waiting: return "#ff7f0e" }
    }
    static func shape(_ s: ReportInput.TrialState) -> String {
        switch s { case .complete: return "circle"; case .pruned: return "square"; case .fail: return "cross"; case .running, .waiting: return "triangle" }
    }
    static func label(_ s: ReportInput.TrialState) -> String {
        switch s { case .complete: return "feasible, evaluated (COMPLETE)"; case .pruned: return "infeasible (PRUNED)"
        case .fail: return "failed (FAIL)"; case .running: return "running (RUNNING)"; case .waiting: return "not started (WAITING)" }
    }
}

/// A chart that could not be drawn, as an SVG with the reason in it.
func placeholderSVG(title: String, message: String, width: Double = 900) -> String {
    var s = SVG(width: width, height: 120)
    s.text(title, x: 16, y: 28, size: 16, weight: "bold")
    s.rect(x: 16, y: 44, w: width - 32, h: 60, fill: "#fff8e1", stroke: "#e0c070")
    s.text(message, x: width / 2, y: 80, size: 14, anchor: "middle", fill: "#6d4c00")
    return s.render(title: title)
}
