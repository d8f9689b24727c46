import Foundation

/// Width importance (pruning.md §2) as heat maps: one row per layer, its scores sorted from most to least
/// important and divided by the row's maximum, so each row shows how fast importance falls off; the row's
/// maximum is printed on the right so layers can be compared. A dashed line marks the fraction the chosen
/// trial keeps. Long rows are averaged into at most 80 bins.
enum WidthImportanceChart {
    struct Panel {
        var title: String
        var rows: [(label: String, scores: [Float])]
        /// Fraction kept by the chosen trial (nil: none chosen or not pruned).
        var keep: Double?
    }

    static func panels(pattern: String, scores: ImportanceScores, source: Architecture,
                       chosen: Architecture?) -> [Panel] {
        let kinds = Array(pattern)
        func rows(_ m: [Int: [Float]]) -> [(String, [Float])] {
            m.keys.sorted().map { l in ("layer \(l) \(l < kinds.count ? String(kinds[l]) : "")", m[l]!) }
        }
        func frac(_ a: Int?, _ b: Int) -> Double? { a.map { b > 0 ? Double($0) / Double(b) : 1 } }
        var p = [Panel]()
        if !scores.hidden.isEmpty {
            p.append(Panel(title: "Hidden (embedding) channels [\(scores.hidden.count)], summed over layers", rows: [("all layers", scores.hidden)],
                           keep: frac(chosen?.hiddenSize, source.hiddenSize)))
        }
        if !scores.ffn.isEmpty {
            p.append(Panel(title: "FFN neurons per MLP layer [\(source.ffnHiddenSize)]", rows: rows(scores.ffn),
                           keep: frac(chosen?.ffnHiddenSize, source.ffnHiddenSize)))
        }
        if !scores.mambaHeads.isEmpty {
            p.append(Panel(title: "Mamba heads per Mamba layer [\(source.mambaNumHeads)]", rows: rows(scores.mambaHeads),
                           keep: frac(chosen?.mambaNumHeads, source.mambaNumHeads)))
        }
        if !scores.mambaHeadDim.isEmpty {
            p.append(Panel(title: "Mamba head-dim channels per Mamba layer [\(source.mambaHeadDim)]", rows: rows(scores.mambaHeadDim),
                           keep: frac(chosen?.mambaHeadDim, source.mambaHeadDim)))
        }
        if !scores.attentionHeads.isEmpty {
            p.append(Panel(title: "Attention (query) heads per attention layer [\(source.numAttentionHeads)]", rows: rows(scores.attentionHeads),
                           keep: frac(chosen?.numAttentionHeads, source.numAttentionHeads)))
        }
        return p
    }

    /// Sorted (descending), normalised to the row maximum, averaged into ≤ `maxBins` bins. Non-finite scores count as 0.
    static func profile(_ v: [Float], maxBins: Int = 80) -> (bins: [Double], max: Double) {
        let d = v.map { $0.isFinite ? Double($0) : 0 }.sorted(by: >)
        guard let m = d.first, !d.isEmpty else { return ([], 0) }
        let norm = m > 0 ? d.map { $0 / m } : d.map { _ in 0 }
        let n = min(maxBins, norm.count)
        var bins = [Double]()
        for b in 0..<n {
            let lo = b * norm.count / n, hi = max(lo + 1, (b + 1) * norm.count / n)
            bins.append(norm[lo..<hi].reduce(0, +) / Double(hi - lo))
        }
        return (bins, m)
    }

    /// Viridis-like ramp, t in [0, 1].
    static func color(_ t: Double) -> String {
        let stops: [(Double, Double, Double)] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
        let u = min(max(t.isFinite ? t : 0, 0), 1) * Double(stops.count - 1)
        let i = min(Int(u), stops.count - 2), f = u - Double(i)
        let a = stops[i], b = stops[i + 1]
        func c(_ x: Double, _ y: Double) -> Int { Int((x + (y - x) * f).rounded()) }
        return String(format: "#%02x%02x%02x", c(a.0, b.0), c(a.1, b.1), c(a.2, b.2))
    }

    static func svg(panels: [Panel]) -> String? {
        guard !panels.isEmpty else { return nil }
        let W = 980.0, left = 110.0, right = 110.0, plotW = W - left - right, rowH = 14.0
        let header = 96.0, panelHead = 30.0, panelFoot = 42.0
        let H = header + panels.reduce(0) { $0 + panelHead + Double($1.rows.count) * rowH + panelFoot } + 10
        var s = SVG(width: W, height: H)
        s.text("Width importance: sorted, normalised scores per layer", x: 16, y: 26, size: 17, weight: "bold")
        s.text("Each row: one layer's scores, most important first, divided by the row's maximum (shown right).", x: 16, y: 46, size: 12, fill: "#444")
        // Colour bar.
        let cbX = 16.0, cbW = 240.0
        for i in 0..<48 { s.rect(x: cbX + Double(i) * cbW / 48, y: 58, w: cbW / 48 + 0.5, h: 12, fill: color(Double(i) / 47)) }
        s.text("0", x: cbX, y: 84, size: 11, anchor: "start")
        s.text("score / row max", x: cbX + cbW / 2, y: 84, size: 11, anchor: "middle")
        s.text("1", x: cbX + cbW, y: 84, size: 11, anchor: "end")
        s.line(300, 64, 330, 64, stroke: "#ff3b3b", width: 2, dash: "5 3")
        s.text("fraction kept by the chosen trial", x: 336, y: 68, size: 12)
        var y = header
        for p in panels {
            s.text(p.title, x: left, y: y + 18, size: 13, weight: "bold")
            y += panelHead
            let top = y
            for r in p.rows {
                let (bins, m) = profile(r.scores)
                let cw = bins.isEmpty ? 0 : plotW / Double(bins.count)
                for (i, b) in bins.enumerated() {
                    s.rect(x: left + Double(i) * cw, y: y, w: cw + 0.3, h: rowH - 1, fill: color(b))
                }
                s.text(r.label, x: left - 8, y: y + rowH - 3, size: 11, anchor: "end")
                s.text("max " + Fmt.trim(m), x: left + plotW + 8, y: y + rowH - 3, size: 11)
                y += rowH
            }
            s.line(left, y + 1, left + plotW, y + 1, stroke: "#333")
            for f in stride(from: 0.0, through: 1.0001, by: 0.25) {
                let x = left + f * plotW
                s.line(x, y + 1, x, y + 5, stroke: "#333")
                s.text("\(Int((f * 100).rounded()))%", x: x, y: y + 17, size: 11, anchor: "middle")
            }
            s.text("rank among the layer's channels / heads (most important first)", x: left + plotW / 2, y: y + 32, size: 11, anchor: "middle", fill: "#444")
            if let k = p.keep, k < 1 {
                let x = left + k * plotW
                s.line(x, top - 3, x, y + 3, stroke: "#ff3b3b", width: 2, dash: "5 3")
                s.text("keeps \(Int((k * 100).rounded()))%", x: x + 4, y: top - 4, size: 11, fill: "#c62828")
            }
            y += panelFoot
        }
        return s.render(title: "Width importance")
    }
}
