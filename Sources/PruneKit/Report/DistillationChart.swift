import Foundation

extension ReportInput {
    /// A post-hoc figure of one of a trial's students (``TrialMetric``), for the distillation section.
    public struct PostHocMetric: Codable, Sendable, Equatable {
        public var trial: Int
        /// `pruned` (the trial's importance-pruned export) or a baseline label such as `random-seed-1`.
        public var student: String
        public var name: String
        @FiniteOrNull public var value: Double
        /// Distillation steps the figure was measured after (0 = before), nil when not tied to KD.
        public var kdSteps: Int?
        public init(trial: Int, student: String, name: String, value: Double, kdSteps: Int?) {
            self.trial = trial; self.student = student; self.name = name; self.value = value; self.kdSteps = kdSteps
        }
        enum CodingKeys: String, CodingKey { case trial, student, name, value, kdSteps = "kd_steps" }
        /// Reads the snake_case form or the camelCase one of an older PruneKit's report inputs.
        public init(from decoder: Decoder) throws {
            let c = try LenientKeyedContainer(decoder)
            self.init(trial: try c.decode("trial"), student: try c.decode("student"), name: try c.decode("name"),
                      value: try c.finiteOrNull("value") ?? .nan, kdSteps: try c.decodeIfPresent("kd_steps"))
        }
    }

    /// The metric the distillation charts plot: held-out loss of the student (nats/token), as written by
    /// `Scripts/kd/distill.py` and recorded with `prunekit annotate --metric kd_loss=… --kd-steps N`.
    public static let kdLossMetric = "kd_loss"

    /// One student's curve of `name` against KD steps, steps ascending.
    struct KDSeries {
        var trial: Int
        var student: String
        var points: [(steps: Int, value: Double)]
        var label: String { "#\(trial) \(student)" }
        var before: Double? { points.first { $0.steps == 0 }?.value }
        var after: (steps: Int, value: Double)? { points.last.flatMap { $0.steps > 0 ? $0 : nil } }
    }

    /// Students with `name` at known KD steps, ordered by their figure after the most steps (best first).
    func kdSeries(_ name: String = ReportInput.kdLossMetric) -> [KDSeries] {
        var by = [String: KDSeries](), order = [String]()
        for m in postHoc ?? [] where m.name == name && m.value.isFinite {
            guard let k = m.kdSteps else { continue }
            let key = "\(m.trial)|\(m.student)"
            if by[key] == nil { order.append(key); by[key] = KDSeries(trial: m.trial, student: m.student, points: []) }
            by[key]!.points.removeAll { $0.steps == k }
            by[key]!.points.append((k, m.value))
        }
        return order.map { k in var s = by[k]!; s.points.sort { $0.steps < $1.steps }; return s }
            .sorted { ($0.points.last?.value ?? .infinity, $0.trial, $0.student) < ($1.points.last?.value ?? .infinity, $1.trial, $1.student) }
    }
}

/// Distillation results (arXiv 2508.14444 §4.2: candidates compared after a short distillation): held-out loss
/// before → after KD per student (a dumbbell chart), and loss against KD steps per student (a line chart).
enum DistillationChart {
    static let palette = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#76b7b2", "#b07aa1", "#edc948", "#9c755f"]

    /// Before (steps 0) → after (most steps) per student; nil when no student has both.
    static func beforeAfterSVG(_ input: ReportInput) -> String? {
        let rows = input.kdSeries().filter { $0.before != nil && $0.after != nil }
        guard !rows.isEmpty else { return nil }
        let W = 960.0, left = 200.0, right = 150.0, top = 84.0, rowH = 34.0
        let plotR = W - right, plotB = top + Double(rows.count) * rowH
        var s = SVG(width: W, height: plotB + 64)
        let title = "Held-out loss before → after distillation, per student"
        s.text(title, x: 16, y: 26, size: 17, weight: "bold")
        s.circle(22, 47, r: 5, fill: "#ffffff", stroke: "#555", strokeWidth: 1.5)
        s.text("before KD (0 steps)", x: 32, y: 52, size: 12)
        s.circle(182, 47, r: 5, fill: "#4e79a7")
        s.text("after KD (most steps recorded; label gives the steps)", x: 192, y: 52, size: 12)
        let values = rows.flatMap { [$0.before!, $0.after!.value] }
        let sc = Scale(domain: Scale.niceDomain(values, pad: 0.08), range: (left, plotR))
        axisX(&s, sc, bottom: plotB, top: top - 6, label: "held-out loss (nats/token)", format: { String(format: "%.2f", $0) })
        for (i, r) in rows.enumerated() {
            let y = top + Double(i) * rowH + rowH / 2
            let b = r.before!, a = r.after!
            let c = palette[i % palette.count]
            s.line(sc(b), y, sc(a.value), y, stroke: c, width: 2.5)
            s.circle(sc(b), y, r: 5, fill: "#ffffff", stroke: c, strokeWidth: 1.5, title: "\(r.label): \(String(format: "%.4f", b)) before KD")
            s.circle(sc(a.value), y, r: 5, fill: c, title: "\(r.label): \(String(format: "%.4f", a.value)) after \(a.steps) steps")
            s.text(r.label, x: left - 10, y: y + 4, size: 12, anchor: "end")
            s.text(String(format: "%.3f → %.3f (%d steps)", b, a.value, a.steps), x: max(sc(b), sc(a.value)) + 10, y: y + 4, size: 11, fill: "#333")
        }
        return s.render(title: title)
    }

    /// Loss against KD steps, one line per student; nil when no student has two points.
    static func stepsSVG(_ input: ReportInput) -> String? {
        let series = input.kdSeries().filter { $0.points.count >= 2 }
        guard !series.isEmpty else { return nil }
        let W = 960.0, H = 460.0, left = 80.0, right = 220.0, top = 60.0, bottom = H - 60
        var s = SVG(width: W, height: H)
        let title = "Held-out loss against distillation steps"
        s.text(title, x: 16, y: 26, size: 17, weight: "bold")
        let steps = series.flatMap { $0.points.map { Double($0.steps) } }, values = series.flatMap { $0.points.map(\.value) }
        let sx = Scale(domain: (0, max(steps.max() ?? 1, 1)), range: (left, W - right))
        let sy = Scale(domain: Scale.niceDomain(values, pad: 0.08), range: (bottom, top))
        axisX(&s, sx, bottom: bottom, top: top, label: "KD steps")
        axisY(&s, sy, left: left, right: W - right, label: "held-out loss (nats/token)", midY: (top + bottom) / 2, format: { String(format: "%.2f", $0) })
        for (i, r) in series.enumerated() {
            let c = palette[i % palette.count]
            let dash = r.student == TrialMetric.prunedStudent ? nil : "6 3"
            s.polyline(r.points.map { (sx(Double($0.steps)), sy($0.value)) }, stroke: c, width: 2, dash: dash)
            for p in r.points {
                s.circle(sx(Double(p.steps)), sy(p.value), r: 3.5, fill: c, title: "\(r.label): \(String(format: "%.4f", p.value)) after \(p.steps) steps")
            }
            let ly = top + 10 + Double(i) * 20
            s.line(W - right + 16, ly, W - right + 40, ly, stroke: c, width: 2)
            s.text(r.label, x: W - right + 46, y: ly + 4, size: 12)
        }
        s.text("solid: importance-pruned student; dashed: baseline", x: W - right + 16, y: top + 24 + Double(series.count) * 20, size: 11, fill: "#555")
        return s.render(title: title)
    }
}

extension ReportInput {
    /// Rows of the distillation table: per student, the search's figures and `kd_loss` / `kd_kl` before KD, at
    /// every recorded budget, and after the most steps.
    func kdTable() -> (budgets: [Int], rows: [(series: KDSeries, trial: Trial?, klBefore: Double?, klAfter: Double?)]) {
        let series = kdSeries()
        let budgets = Array(Set(series.flatMap { $0.points.map(\.steps) })).sorted()
        let kl = kdSeries("kd_kl")
        return (budgets, series.map { s in
            let k = kl.first { $0.trial == s.trial && $0.student == s.student }
            return (s, trials.first { $0.number == s.trial }, k?.before, k?.after?.value)
        })
    }
}

extension ReportHTML {
    static func distillationSection(_ input: ReportInput, charts: [String: String]) -> [String] {
        let (budgets, rows) = input.kdTable()
        guard !rows.isEmpty else { return [] }
        let e = xmlEscape
        var h = ["<h2>After distillation</h2>"]
        h.append("<p>Held-out loss (<code>\(ReportInput.kdLossMetric)</code>, nats/token) of each student after the given number of knowledge-distillation steps (0 = before KD), recorded with <code>prunekit annotate</code>; best after the most steps first. The paper compares candidates after a short distillation (arXiv 2508.14444 §4.2).</p>")
        var head = "<table><tr><th>rank</th><th>trial</th><th class=\"l\">student</th><th>params</th><th>search KL</th>"
        head += budgets.map { "<th>loss @\($0)</th>" }.joined() + "<th>KL to teacher before → after</th></tr>"
        h.append(head)
        for (i, r) in rows.enumerated() {
            var row = "<tr><td>\(i + 1)</td><td>#\(r.series.trial)</td><td class=\"l\">\(e(r.series.student))</td>"
            // The search measured the trial's importance-pruned student only; a baseline has no search KL.
            let searchKL = r.series.student == TrialMetric.prunedStudent ? Fmt.metric(r.trial?.metrics.kl) : "—"
            row += "<td>\(r.trial.map { Fmt.count(Double($0.cost.parameters)) } ?? "—")</td><td>\(searchKL)</td>"
            row += budgets.map { b in "<td>\(r.series.points.first { $0.steps == b }.map { String(format: "%.4f", $0.value) } ?? "—")</td>" }.joined()
            row += "<td>\(Fmt.metric(r.klBefore)) → \(Fmt.metric(r.klAfter))</td></tr>"
            h.append(row)
        }
        h.append("</table>")
        if let svg = charts["kd-before-after.svg"] {
            h.append(figure(svg, caption: "Each row is a student: open circle its held-out loss before distillation, filled circle after the most KD steps recorded (same data, seed and steps for all)."))
        }
        if let svg = charts["kd-steps.svg"] {
            h.append(figure(svg, caption: "Held-out loss against KD steps: whether a lead before distillation survives it, and until which budget."))
        }
        return h
    }
}

extension ReportMarkdown {
    static func distillationLines(_ input: ReportInput) -> [String] {
        let (budgets, rows) = input.kdTable()
        guard !rows.isEmpty else { return [] }
        var m = ["", "## After distillation", "",
                 "Held-out loss (`\(ReportInput.kdLossMetric)`, nats/token) after N knowledge-distillation steps (0 = before KD); best after the most steps first.", ""]
        m.append("| rank | trial | student | params | search KL | " + budgets.map { "loss @\($0)" }.joined(separator: " | ") + " | KL to teacher before → after |")
        m.append("|---:|---:|---|---:|---:|" + budgets.map { _ in "---:|" }.joined() + "---|")
        for (i, r) in rows.enumerated() {
            let cells = budgets.map { b in r.series.points.first { $0.steps == b }.map { String(format: "%.4f", $0.value) } ?? "—" }
            let searchKL = r.series.student == TrialMetric.prunedStudent ? Fmt.metric(r.trial?.metrics.kl) : "—"
            m.append("| \(i + 1) | #\(r.series.trial) | \(cell(r.series.student)) | \(r.trial.map { Fmt.count(Double($0.cost.parameters)) } ?? "—") | \(searchKL) | "
                     + cells.joined(separator: " | ") + " | \(Fmt.metric(r.klBefore)) → \(Fmt.metric(r.klAfter)) |")
        }
        if input.kdSeries().contains(where: { $0.before != nil && $0.after != nil }) { m += ["", "![Loss before → after distillation](kd-before-after.svg)"] }
        if input.kdSeries().contains(where: { $0.points.count >= 2 }) { m += ["", "![Loss against KD steps](kd-steps.svg)"] }
        return m
    }
}
