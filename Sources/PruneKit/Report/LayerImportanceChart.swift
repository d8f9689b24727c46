import Foundation

/// Depth importance per layer (pruning.md §3): the iterative logit MSE (or KL) each layer had in the round it
/// was removed, with its removal rank above the bar, and the one-shot block influence; bars coloured by layer
/// kind. Returns nil when there is nothing to draw (no ranking and no block influence).
enum LayerImportanceChart {
    static func svg(pattern: String, scores: ImportanceScores) -> String? {
        let kinds = Array(pattern)
        let L = kinds.count
        guard L > 0, scores.layerRanking != nil || scores.blockInfluence != nil else { return nil }
        let slot = L <= 40 ? 22.0 : 16.0
        let left = 92.0, right = 24.0
        let W = max(900, left + right + Double(L) * slot)
        let plotW = W - left - right
        let x = { (l: Int) in left + (Double(l) + 0.5) * plotW / Double(L) }
        let barW = max(3, plotW / Double(L) * 0.7)
        var panels: [(String, Double)] = []
        if scores.layerRanking != nil { panels.append(("rank", 270)) }
        if scores.blockInfluence != nil { panels.append(("bi", 230)) }
        let top = 74.0, gap = 64.0, bottomAxis = 46.0
        let H = top + panels.reduce(0) { $0 + $1.1 } + Double(panels.count - 1) * gap + bottomAxis + 16
        var s = SVG(width: W, height: H)
        s.text("Layer importance (depth)", x: 16, y: 26, size: 17, weight: "bold")
        // Legend.
        var lx = 16.0
        for k in ["M", "*", "-"].map({ Character($0) }) where kinds.contains(k) {
            s.rect(x: lx, y: 40, w: 14, h: 14, fill: KindStyle.color(k))
            s.text(KindStyle.name(k), x: lx + 20, y: 52, size: 12)
            lx += 30 + SVG.textWidth(KindStyle.name(k), size: 12)
        }
        if scores.layerRanking != nil {
            s.text("number above a bar = removal order (1 = removed first, least important)", x: lx + 10, y: 52, size: 12, fill: "#555")
        }
        var y0 = top
        for (i, panel) in panels.enumerated() {
            let h = panel.1, plotTop = y0 + 22, plotBottom = y0 + h
            if panel.0 == "rank", let r = scores.layerRanking {
                var atRemoval = [Int: Double](), rank = [Int: Int]()
                for (j, round) in r.rounds.enumerated() { atRemoval[round.removed] = round.score; rank[round.removed] = j + 1 }
                let vals = atRemoval.values.filter { $0.isFinite }
                let pos = vals.filter { $0 > 0 }
                let useLog = (pos.min().map { (pos.max()! / $0) > 50 } ?? false) && pos.count == vals.count
                let metricName = r.metric == "kl" ? "KL divergence at removal (nats)" : "logit MSE at removal"
                s.text("Iterative \(r.metric.uppercased()) ranking: \(metricName)\(useLog ? ", log scale" : "")", x: left, y: y0 + 8, size: 13, weight: "bold")
                let domain: (Double, Double) = useLog ? (pos.min()! / 1.5, pos.max()! * 2.5) : Scale.niceDomain(vals, zero: true, pad: 0.12)
                let sc = Scale(domain: domain, range: (plotBottom, plotTop), log: useLog)
                axisY(&s, sc, left: left, right: W - right, label: r.metric == "kl" ? "nats" : "MSE", midY: (plotTop + plotBottom) / 2)
                let base = useLog ? plotBottom : sc(0)
                for l in 0..<L {
                    guard let v = atRemoval[l] else {
                        s.text("kept", x: x(l) + 4, y: plotBottom - 4, size: 11, anchor: "start", fill: "#777", rotate: -90)
                        continue
                    }
                    guard v.isFinite else {
                        s.text(Fmt.metric(v), x: x(l) + 4, y: plotBottom - 4, size: 11, fill: "#b00", rotate: -90)
                        continue
                    }
                    let yv = min(max(sc(v), plotTop), plotBottom)
                    s.rect(x: x(l) - barW / 2, y: min(yv, base), w: barW, h: abs(base - yv), fill: KindStyle.color(kinds[l]),
                           title: "layer \(l) (\(KindStyle.name(kinds[l]))): \(r.metric) \(Fmt.metric(v)), removed \(ordinal(rank[l]!))")
                    s.text("\(rank[l]!)", x: x(l), y: min(yv, base) - 4, size: 11, anchor: "middle", fill: "#333")
                }
            } else if let bi = scores.blockInfluence {
                s.text("Block influence 1 − cos(h_in, h_out) (ShortGPT, one shot)", x: left, y: y0 + 8, size: 13, weight: "bold")
                let vals = bi.map(Double.init)
                let sc = Scale(domain: Scale.niceDomain(vals, zero: true, pad: 0.08), range: (plotBottom, plotTop))
                axisY(&s, sc, left: left, right: W - right, label: "1 − cos", midY: (plotTop + plotBottom) / 2)
                let base = sc(0)
                for l in 0..<min(L, vals.count) {
                    let v = vals[l]
                    guard v.isFinite else { s.text(Fmt.metric(v), x: x(l) + 4, y: base - 4, size: 11, fill: "#b00", rotate: -90); continue }
                    let yv = min(max(sc(v), plotTop), plotBottom)
                    s.rect(x: x(l) - barW / 2, y: min(yv, base), w: barW, h: abs(base - yv), fill: KindStyle.color(kinds[l]),
                           title: "layer \(l) (\(KindStyle.name(kinds[l]))): block influence \(Fmt.metric(v))")
                }
            }
            // Layer axis under every panel: index and kind character.
            s.line(left, plotBottom, W - right, plotBottom, stroke: "#333")
            let every = plotW / Double(L) >= 15 ? 1 : 5
            for l in 0..<L {
                s.text(String(kinds[l]), x: x(l), y: plotBottom + 14, size: 12, anchor: "middle", weight: "bold", fill: KindStyle.color(kinds[l]))
                if l % every == 0 { s.text("\(l)", x: x(l), y: plotBottom + 28, size: 11, anchor: "middle", fill: "#333") }
            }
            if i == panels.count - 1 {
                s.text("layer (0-based, checkpoint numbering; kind below the axis)", x: left + plotW / 2, y: plotBottom + 46, size: 12, anchor: "middle")
            }
            y0 += h + gap
        }
        return s.render(title: "Layer importance")
    }

    static func ordinal(_ n: Int) -> String {
        let suffix = (11...13).contains(n % 100) ? "th" : [1: "st", 2: "nd", 3: "rd"][n % 10] ?? "th"
        return "\(n)\(suffix)"
    }
}

/// Y axis with ticks, grid lines and a rotated label, for a panel spanning `left`…`right`.
func axisY(_ s: inout SVG, _ sc: Scale, left: Double, right: Double, label: String, midY: Double, format: (Double) -> String = Fmt.trim) {
    s.line(left, min(sc.p0, sc.p1), left, max(sc.p0, sc.p1), stroke: "#333")
    for t in sc.ticks(5) {
        let y = sc(t)
        s.line(left, y, right, y, stroke: "#e3e3e3")
        s.line(left - 4, y, left, y, stroke: "#333")
        s.text(format(t), x: left - 7, y: y + 4, size: 11, anchor: "end")
    }
    s.text(label, x: 18, y: midY, size: 12, anchor: "middle", rotate: -90)
}

/// X axis with ticks and a label under `bottom`.
func axisX(_ s: inout SVG, _ sc: Scale, bottom: Double, top: Double, label: String, format: (Double) -> String = Fmt.trim) {
    s.line(min(sc.p0, sc.p1), bottom, max(sc.p0, sc.p1), bottom, stroke: "#333")
    for t in sc.ticks(6) {
        let x = sc(t)
        s.line(x, top, x, bottom, stroke: "#e3e3e3")
        s.line(x, bottom, x, bottom + 4, stroke: "#333")
        s.text(format(t), x: x, y: bottom + 17, size: 11, anchor: "middle")
    }
    s.text(label, x: (sc.p0 + sc.p1) / 2, y: bottom + 38, size: 12, anchor: "middle")
}
