import Foundation

/// Memory at the study's context × batch (pruning.md §5) as horizontal stacked bars — weights, KV cache,
/// Mamba state (conv + SSM) — for the source model and the top trials, against the budget line.
enum MemoryChart {
    /// Source first, then the top `limit` trials by objective (the chosen one included); when no trial is ranked,
    /// the trials with the highest predicted throughput, so infeasible studies still show why nothing fits.
    static func rows(_ input: ReportInput, limit: Int = 8) -> [(label: String, cost: CostFigures, chosen: Bool)] {
        var out: [(String, CostFigures, Bool)] = [("source", input.source.cost, false)]
        let chosen = input.chosen
        var picked = Array(input.ranked.prefix(limit))
        if picked.isEmpty {
            picked = Array(input.trials.sorted { ($0.cost.outputTokensPerSecond, -$0.number) > ($1.cost.outputTokensPerSecond, -$1.number) }.prefix(limit))
        }
        if let c = chosen, !picked.contains(where: { $0.number == c.number }) { picked.insert(c, at: 0) }
        for t in picked {
            let isChosen = t.number == chosen?.number
            out.append(("#\(t.number)" + (isChosen ? " chosen" : "") + (t.state == .complete ? "" : " (\(t.state.rawValue))"), t.cost, isChosen))
        }
        return out
    }

    static func svg(_ input: ReportInput) -> String {
        let rows = rows(input)
        let budget = Double(input.study.budgetBytes)
        let W = 960.0, left = 130.0, right = 120.0, top = 84.0, rowH = 34.0
        let plotR = W - right, plotB = top + Double(rows.count) * rowH
        let H = plotB + 64
        var s = SVG(width: W, height: H)
        let title = "Memory at \(input.study.context) tokens × batch \(input.study.batch) against the budget"
        s.text(title, x: 16, y: 26, size: 17, weight: "bold")
        // Legend.
        let parts: [(String, String)] = [("weights", "#4e79a7"), ("KV cache", "#f28e2b"), ("Mamba state (conv + SSM)", "#59a14f")]
        var lx = 16.0
        for (name, c) in parts {
            s.rect(x: lx, y: 40, w: 14, h: 14, fill: c)
            s.text(name, x: lx + 20, y: 52, size: 12)
            lx += 36 + SVG.textWidth(name, size: 12)
        }
        s.line(lx, 47, lx + 24, 47, stroke: "#d62728", width: 2, dash: "6 3")
        s.text("budget \(Fmt.gib(input.study.budgetBytes)) (\(input.study.hardware))", x: lx + 30, y: 52, size: 12)
        let totals = rows.map { Double($0.cost.weightBytes) + Double($0.cost.kvBytes) + Double($0.cost.mambaStateBytes) }
        let maxV = max(totals.max() ?? 0, budget)
        let unit = Fmt.byteUnit(maxV)
        // The scale works in display units so the ticks are round numbers of GiB (MiB, KiB).
        let su = Scale(domain: (0, maxV > 0 ? maxV * 1.04 / unit.divisor : 1), range: (left, plotR))
        axisX(&s, su, bottom: plotB, top: top - 6, label: "memory (\(unit.name))")
        let sx = { (v: Double) in su(v / unit.divisor) }
        for (i, r) in rows.enumerated() {
            let y = top + Double(i) * rowH + 6, h = rowH - 12
            var x = sx(0)
            for (v, (name, c)) in zip([r.cost.weightBytes, r.cost.kvBytes, r.cost.mambaStateBytes], parts) {
                let w = sx(Double(v)) - sx(0)
                s.rect(x: x, y: y, w: w, h: h, fill: c, title: "\(r.label): \(name) \(Fmt.gib(v))")
                x += w
            }
            if r.chosen { s.rect(x: sx(0) - 2, y: y - 3, w: x - sx(0) + 4, h: h + 6, fill: "none", stroke: "#e6194b", extra: [("stroke-width", "2")]) }
            s.text(r.label, x: left - 8, y: y + h / 2 + 4, size: 12, anchor: "end", weight: r.chosen ? "bold" : nil)
            let total = satAdd(satAdd(r.cost.weightBytes, r.cost.kvBytes), r.cost.mambaStateBytes)
            let over = Double(total) > budget
            s.text(Fmt.gib(total) + (over ? " over" : ""), x: x + 6, y: y + h / 2 + 4, size: 11, fill: over ? "#d62728" : "#333")
        }
        if budget > 0 {
            let bx = sx(budget)
            s.line(bx, top - 10, bx, plotB, stroke: "#d62728", width: 2, dash: "6 3")
        }
        return s.render(title: title)
    }
}
