import Foundation

/// Writes a study report (issue 9) to a folder: a self-contained `index.html` (inline SVG and CSS, no
/// scripts, no network; well-formed XHTML), `summary.md`, and the charts as SVG files beside them
/// (`layers.svg`, `width.svg`, `candidates.svg`, `candidates-params.svg`, `memory.svg`).
///
/// Degenerate studies still give a readable report: no trials, no feasible trial, failed trials (their
/// errors are listed), no importance scores (those sections are replaced by a note), non-finite metrics.
public enum ReportWriter {
    /// The chart files, in page order.
    public static let chartFiles = ["candidates.svg", "candidates-params.svg", "memory.svg", "layers.svg", "width.svg"]

    /// Renders every chart: file name → SVG text. Charts that cannot be drawn are placeholders saying why.
    public static func charts(_ input: ReportInput) -> [String: String] {
        var out = [String: String]()
        out["candidates.svg"] = CandidatesChart.svg(input, axis: .kl)
        out["candidates-params.svg"] = CandidatesChart.svg(input, axis: .params)
        out["memory.svg"] = MemoryChart.svg(input)
        let pattern = input.source.architecture.pattern
        if let sc = input.scores {
            out["layers.svg"] = LayerImportanceChart.svg(pattern: pattern, scores: sc)
                ?? placeholderSVG(title: "Layer importance (depth)", message: "The scores have no layer ranking and no block influence.")
            let panels = WidthImportanceChart.panels(pattern: pattern, scores: sc, source: input.source.architecture, chosen: input.chosen?.architecture)
            out["width.svg"] = WidthImportanceChart.svg(panels: panels)
                ?? placeholderSVG(title: "Width importance", message: "The scores have no width scores.")
        } else {
            out["layers.svg"] = placeholderSVG(title: "Layer importance (depth)", message: "No importance scores were given for this study.")
            out["width.svg"] = placeholderSVG(title: "Width importance", message: "No importance scores were given for this study.")
        }
        if let svg = DistillationChart.beforeAfterSVG(input) { out["kd-before-after.svg"] = svg }
        if let svg = DistillationChart.stepsSVG(input) { out["kd-steps.svg"] = svg }
        return out
    }

    /// Writes `index.html`, `summary.md` and the SVG files into `dir` (created if needed; files replaced).
    /// - Throws: ``ReportError/output(path:message:)`` when the folder or a file cannot be written.
    public static func write(_ input: ReportInput, to dir: String) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw ReportError.output(path: dir, message: "cannot create the folder (\(error.localizedDescription)); check permissions")
        }
        let charts = charts(input)
        var files = charts.mapValues { $0 + "\n" }
        files["index.html"] = ReportHTML.page(input, charts: charts)
        files["summary.md"] = ReportMarkdown.summary(input)
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            let path = (dir as NSString).appendingPathComponent(name)
            do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw ReportError.output(path: path, message: error.localizedDescription)
            }
        }
    }
}

extension ReportInput {
    /// COMPLETE trials best first, then the rest by trial number: the order of the trials table.
    var tableOrder: [Trial] {
        // Ranked trials, then the other evaluated ones (failed, unfinished); infeasible (PRUNED) candidates have
        // their own section and appear here only when nothing else exists.
        let r = ranked
        let rest = trials.filter { t in !r.contains { $0.number == t.number } }.sorted { $0.number < $1.number }
        let evaluated = rest.filter { $0.state != .pruned }
        return r.isEmpty && evaluated.isEmpty ? rest : r + evaluated
    }

    var failed: [Trial] { trials.filter { $0.state == .fail }.sorted { $0.number < $1.number } }
    var infeasible: [Trial] { trials.filter { $0.state == .pruned }.sorted { $0.number < $1.number } }

    /// One-line architecture: "56 layers, hidden 4480, FFN 15680, Mamba 128×80, attention 40".
    static func describe(_ a: Architecture) -> String {
        "\(a.numLayers) layers, hidden \(a.hiddenSize), FFN \(a.ffnHiddenSize), Mamba \(a.mambaNumHeads)×\(a.mambaHeadDim), attention heads \(a.numAttentionHeads)"
    }

    /// Counts of M / * / - in a pattern: "27 M, 4 *, 25 -".
    static func kindCounts(_ p: String) -> String {
        ["M", "*", "-"].map { k in "\(p.filter { String($0) == k }.count) \(k)" }.joined(separator: ", ")
    }

    /// "5/1/5": counts of M, *, - in a pattern.
    static func compactCounts(_ p: String) -> String {
        ["M", "*", "-"].map { k in "\(p.filter { String($0) == k }.count)" }.joined(separator: "/")
    }

    /// The headline sentence about the outcome.
    var verdict: String {
        let n = trials.count
        if n == 0 { return "The study has no trials yet." }
        guard let c = chosen else {
            let f = failed.count, p = infeasible.count, r = trials.filter { $0.state == .running }.count
            var parts = [String]()
            if p > 0 { parts.append("\(p) infeasible") }
            if f > 0 { parts.append("\(f) failed") }
            if r > 0 { parts.append("\(r) still running") }
            let complete = trials.filter { $0.state == .complete }.count
            if complete > 0 { parts.append("\(complete) complete without a finite \(study.objective)") }
            return "No feasible trial: none of the \(n) trial\(n == 1 ? "" : "s") produced a usable \(study.objective) (\(parts.joined(separator: ", ")))."
        }
        let src = source.cost
        let dp = src.parameters > 0 ? 100 * (1 - Double(c.cost.parameters) / Double(src.parameters)) : 0
        let speed = src.outputTokensPerSecond > 0 ? c.cost.outputTokensPerSecond / src.outputTokensPerSecond : .nan
        var s = "Chosen trial #\(c.number): \(Fmt.count(Double(c.cost.parameters))) parameters (\(String(format: "%.1f", dp))% fewer than the source)"
        s += ", \(Fmt.tps(c.cost.outputTokensPerSecond)) predicted output tokens/s"
        if speed.isFinite { s += " (\(String(format: "%.2f", speed))× the source)" }
        s += ", KL \(Fmt.metric(c.metrics.kl)) nats/token."
        return s
    }
}
