import Foundation

/// The candidates of a study in objective space: predicted output tokens/s (pruning.md §5) against the
/// measured KL divergence (``Axis/kl``) or against parameters (``Axis/params``). Trial states get distinct
/// marker shapes and colours; the Pareto front (max tokens/s, min KL) is a step line; the chosen trial is
/// ringed and labelled; a dashed line marks the source model's throughput.
enum CandidatesChart {
    enum Axis { case kl, params }

    /// The study's Pareto front (``StudyRanking/paretoFront(_:)``), by KL ascending for the step line.
    static func paretoFront(_ trials: [ReportInput.Trial]) -> [ReportInput.Trial] {
        StudyRanking.paretoFront(trials).sorted { ($0.metrics.kl!, $0.number) < ($1.metrics.kl!, $1.number) }
    }

    static func svg(_ input: ReportInput, axis: Axis) -> String {
        let title = axis == .kl ? "Candidates: predicted throughput against KL divergence" : "Candidates: predicted throughput against parameters"
        let trials = input.trials
        guard !trials.isEmpty else { return placeholderSVG(title: title, message: "The study has no trials.") }
        let W = 960.0, H = 540.0, left = 84.0, right = 250.0, top = 70.0, bottom = 72.0
        let plotR = W - right, plotB = H - bottom
        let chosen = input.chosen
        let front = paretoFront(trials)
        let frontSet = Set(front.map(\.number))
        func xValue(_ t: ReportInput.Trial) -> Double? {
            switch axis {
            case .kl: return t.metrics.kl.flatMap { $0.isFinite ? $0 : nil }
            case .params: return Double(t.cost.parameters)
            }
        }
        let plotted = trials.filter { xValue($0) != nil && $0.cost.outputTokensPerSecond.isFinite }
        let missing = trials.filter { xValue($0) == nil || !$0.cost.outputTokensPerSecond.isFinite }
        if axis == .kl && plotted.isEmpty {
            let n = trials.filter { $0.state == .complete }.count
            let msg = n == 0 ? "No feasible trial was evaluated (\(trials.count) trial\(trials.count == 1 ? "" : "s"), none COMPLETE): there is no KL to plot."
                             : "No COMPLETE trial has a finite KL divergence: there is nothing to plot."
            return placeholderSVG(title: title, message: msg, width: W)
        }
        var s = SVG(width: W, height: H)
        s.text(title, x: 16, y: 26, size: 17, weight: "bold")
        var sub = "\(input.study.hardware), ISL \(input.study.inputLength) / OSL \(input.study.outputLength) tokens; \(plotted.count) of \(trials.count) trials plotted"
        if !missing.isEmpty {
            let why = axis == .kl ? "no finite KL" : "no finite throughput"
            let byState = Dictionary(grouping: missing, by: \.state).sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.value.count) \($0.key.rawValue)" }.joined(separator: ", ")
            sub += "; \(missing.count) with \(why) (\(byState))"
        }
        s.text(sub, x: 16, y: 46, size: 12, fill: "#444")

        let xs = plotted.compactMap(xValue)
        let ys = plotted.map(\.cost.outputTokensPerSecond) + [input.source.cost.outputTokensPerSecond].filter(\.isFinite)
        let xPos = xs.filter { $0 > 0 }
        let useLog = axis == .kl && xPos.count == xs.count && (xPos.min().map { xPos.max()! / $0 > 100 } ?? false)
        let unit = Fmt.paramUnit(xs.max() ?? 1)
        let xsForDomain = axis == .params ? xs + [Double(input.source.cost.parameters)] : xs
        let xDomain: (Double, Double) = useLog ? (xPos.min()! / 1.6, xPos.max()! * 1.6) : Scale.niceDomain(xsForDomain, zero: axis == .kl, pad: 0.06)
        let sx = Scale(domain: xDomain, range: (left, plotR), log: useLog)
        let sy = Scale(domain: Scale.niceDomain(ys, zero: true, pad: 0.08), range: (plotB, top))
        axisY(&s, sy, left: left, right: plotR, label: "predicted output tokens/s per GPU", midY: (top + plotB) / 2)
        let xLabel = axis == .kl ? "KL divergence to the source model on held-out text (nats/token)\(useLog ? ", log scale" : "")"
                                 : "parameters (\(unit.name == "B" ? "billions" : unit.name == "M" ? "millions" : "thousands"))"
        axisX(&s, sx, bottom: plotB, top: top, label: xLabel,
              format: axis == .params ? { Fmt.trim($0 / unit.divisor) + unit.name } : Fmt.trim)

        // Source throughput reference.
        let srcT = input.source.cost.outputTokensPerSecond
        if srcT.isFinite {
            let y = sy(srcT)
            s.line(left, y, plotR, y, stroke: "#555", width: 1.2, dash: "6 4")
            let label = "source: \(Fmt.tps(srcT)) tokens/s"
            let above = y - 20 > top
            s.rect(x: left + 4, y: above ? y - 17 : y + 3, w: SVG.textWidth(label, size: 11) + 6, h: 15, fill: "#ffffff", extra: [("fill-opacity", "0.85")])
            s.text(label, x: left + 7, y: above ? y - 5 : y + 15, size: 11, fill: "#555")
            if axis == .params { s.marker("diamond", sx(Double(input.source.cost.parameters)), y, size: 6, fill: "#ffffff", stroke: "#222", title: "source model") }
        }
        // Pareto front as a step line (KL chart only: it is defined in KL).
        if axis == .kl, !front.isEmpty {
            var pts = [(Double, Double)]()
            for (i, t) in front.enumerated() {
                let p = (sx(t.metrics.kl!), sy(t.cost.outputTokensPerSecond))
                if i > 0 { pts.append((p.0, pts.last!.1)) }
                pts.append(p)
            }
            pts.append((plotR, pts.last!.1))
            s.polyline(pts, stroke: "#2ca02c", width: 2)
        }
        // Points: infeasible first, chosen last.
        let order: [ReportInput.TrialState] = [.pruned, .waiting, .running, .fail, .complete]
        for st in order {
            for t in plotted where t.state == st {
                let x = sx(xValue(t)!), y = sy(t.cost.outputTokensPerSecond)
                let tip = "trial \(t.number) \(t.state.rawValue): \(Fmt.tps(t.cost.outputTokensPerSecond)) tokens/s, KL \(Fmt.metric(t.metrics.kl)), \(Fmt.count(Double(t.cost.parameters))) params"
                let c = StateStyle.color(st)
                s.marker(StateStyle.shape(st), x, y, size: 4.5, fill: st == .complete ? c : "#ffffff", stroke: c, title: tip)
                if axis == .kl, frontSet.contains(t.number) { s.circle(x, y, r: 7, fill: "none", stroke: "#2ca02c", strokeWidth: 1.5) }
            }
        }
        // Front labels when few.
        if axis == .kl, front.count <= 10 {
            for t in front where t.number != chosen?.number {
                s.text("#\(t.number)", x: sx(t.metrics.kl!) + 8, y: sy(t.cost.outputTokensPerSecond) + 14, size: 11, fill: "#2a7a2a")
            }
        }
        if let c = chosen, let xv = xValue(c), c.cost.outputTokensPerSecond.isFinite {
            let x = sx(xv), y = sy(c.cost.outputTokensPerSecond)
            s.circle(x, y, r: 10, fill: "none", stroke: "#e6194b", strokeWidth: 2.5)
            let label = "chosen #\(c.number): \(Fmt.tps(c.cost.outputTokensPerSecond)) tok/s, KL \(Fmt.metric(c.metrics.kl))"
            let w = SVG.textWidth(label, size: 12)
            let lx = x + 14 + w > plotR ? x - 14 - w : x + 14
            let ly = y - 14 < top + 12 ? y + 26 : y - 14
            s.rect(x: lx - 3, y: ly - 12, w: w + 6, h: 16, fill: "#ffffff", extra: [("fill-opacity", "0.85")])
            s.text(label, x: lx, y: ly, size: 12, weight: "bold", fill: "#b0123a")
        }
        // Legend.
        var ly = top + 6
        let lx = plotR + 22
        s.text("Legend", x: lx, y: ly, size: 12, weight: "bold"); ly += 20
        let present = Set(plotted.map(\.state))
        for st in [ReportInput.TrialState.complete, .pruned, .fail, .running, .waiting] where present.contains(st) {
            let c = StateStyle.color(st)
            s.marker(StateStyle.shape(st), lx + 6, ly - 4, size: 4.5, fill: st == .complete ? c : "#ffffff", stroke: c)
            s.text(StateStyle.label(st), x: lx + 18, y: ly, size: 11); ly += 20
        }
        if axis == .kl && !front.isEmpty {
            s.line(lx, ly - 4, lx + 14, ly - 4, stroke: "#2ca02c", width: 2)
            s.text("Pareto front (KL, tokens/s)", x: lx + 18, y: ly, size: 11); ly += 20
        }
        if chosen != nil {
            s.circle(lx + 6, ly - 4, r: 6, fill: "none", stroke: "#e6194b", strokeWidth: 2.5)
            s.text("chosen (best \(input.study.objective), \(input.study.direction))", x: lx + 18, y: ly, size: 11); ly += 20
        }
        s.line(lx, ly - 4, lx + 14, ly - 4, stroke: "#555", width: 1.2, dash: "6 4")
        s.text("source model throughput", x: lx + 18, y: ly, size: 11); ly += 20
        if axis == .params {
            s.marker("diamond", lx + 6, ly - 4, size: 5, fill: "#ffffff", stroke: "#222")
            s.text("source model", x: lx + 18, y: ly, size: 11); ly += 20
        }
        return s.render(title: title)
    }
}
