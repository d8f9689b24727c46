import Foundation

/// `summary.md`: the report's facts as Markdown, linking the SVG charts written beside it.
enum ReportMarkdown {
    /// Escapes the characters that break a table cell.
    static func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }

    static func summary(_ input: ReportInput) -> String {
        let st = input.study, src = input.source
        var m = [String]()
        m.append("# Study \u{201C}\(st.name)\u{201D}")
        m.append("")
        m.append("Objective: \(st.direction) `\(st.objective)` · \(st.hardware), context \(st.context) tokens × batch \(st.batch), ISL/OSL \(st.inputLength)/\(st.outputLength) · \(st.enumeratedCandidates) candidates enumerated, \(st.feasibleCandidates) feasible, \(input.trials.count) trials · created \(st.created) · PruneKit \(st.toolVersion)")
        m.append("")
        m.append("**\(input.verdict)**")
        m.append("")
        m.append("Open `index.html` for the full page. Charts:")
        m.append("")
        m.append("![Candidates: tokens/s against KL](candidates.svg)")
        m.append("")
        m.append("![Candidates: tokens/s against parameters](candidates-params.svg)")
        m.append("")
        m.append("![Memory against the budget](memory.svg)")
        m.append("")
        if input.scores == nil {
            m.append("_No importance scores were given: the layer and width importance charts are omitted._")
        } else {
            m.append("![Layer importance](layers.svg)")
            m.append("")
            m.append("![Width importance](width.svg)")
        }
        m.append("")
        m.append("## Top trials")
        m.append("")
        let rows = Array(input.tableOrder.prefix(15))
        if rows.isEmpty { m.append("No trials.") } else {
            m.append("| trial | state | layers | M/*/- | hidden | FFN | Mamba heads × dim | attn heads | params | memory | slack | tokens/s | KL | MSE | loss |")
            m.append("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            let chosen = input.chosen?.number
            for t in rows {
                let a = t.architecture
                let num = t.number == chosen ? "**#\(t.number) chosen**" : "#\(t.number)"
                m.append("| \(num) | \(t.state.rawValue) | \(a.numLayers) | \(ReportInput.compactCounts(a.pattern)) | \(a.hiddenSize) | \(a.ffnHiddenSize) | \(a.mambaNumHeads)×\(a.mambaHeadDim) | \(a.numAttentionHeads) | \(Fmt.count(Double(t.cost.parameters))) | \(Fmt.gib(t.cost.memoryBytes)) | \(Fmt.gibSigned(t.budgetSlackBytes)) | \(Fmt.tps(t.cost.outputTokensPerSecond)) | \(Fmt.metric(t.metrics.kl)) | \(Fmt.metric(t.metrics.mse)) | \(Fmt.metric(t.metrics.loss)) |")
            }
        }
        m.append(contentsOf: distillationLines(input))
        if let c = input.chosen {
            m.append("")
            m.append("Chosen pattern: `\(c.architecture.pattern)`; target `\(c.target.canonicalJSON)`")
        }
        let failed = input.failed
        if !failed.isEmpty {
            m.append("")
            m.append("## Failed trials (\(failed.count))")
            m.append("")
            for t in failed { m.append("- #\(t.number) (\(ReportInput.describe(t.architecture))): \(cell(t.error ?? "(no error text recorded)"))") }
        }
        let inf = input.infeasible
        if !inf.isEmpty {
            m.append("")
            m.append("## Infeasible trials (\(inf.count))")
            m.append("")
            let reasons = Dictionary(grouping: inf, by: { $0.infeasibleReason ?? "no reason recorded" }).sorted { ($0.value.count, $1.key) > ($1.value.count, $0.key) }   // most frequent first, ties by reason: the same report every run
            for (r, ts) in reasons.prefix(20) { m.append("- \(ts.count) × \(cell(r))") }
        }
        m.append("")
        m.append("## Source model")
        m.append("")
        m.append("\(ReportInput.describe(src.architecture)); \(ReportInput.kindCounts(src.architecture.pattern)); \(Fmt.count(Double(src.cost.parameters))) parameters; weights \(Fmt.gib(src.cost.weightBytes)), KV \(Fmt.gib(src.cost.kvBytes)), Mamba state \(String(format: "%.1f MiB", Double(src.cost.mambaStateBytes) / Double(1 << 20))), total \(Fmt.gib(src.cost.memoryBytes)); \(Fmt.tps(src.cost.outputTokensPerSecond)) predicted output tokens/s.")
        m.append("")
        m.append("Pattern: `\(src.architecture.pattern)`")
        m.append("")
        m.append("## Provenance")
        m.append("")
        m.append("| | |")
        m.append("|---|---|")
        m.append("| checkpoint | `\(cell(st.checkpointPath))` |")
        m.append("| checkpoint fingerprint | `\(st.checkpointFingerprint)` |")
        m.append("| calibration fingerprint | `\(st.calibrationFingerprint)` |")
        m.append("| held-out fingerprint | `\(st.heldOutFingerprint ?? "—")` |")
        m.append("| budget | \(Fmt.gib(st.budgetBytes)) (\(st.budgetBytes) bytes) |")
        m.append("")
        m.append("### Recipe")
        m.append("")
        m.append("```yaml")
        m.append(st.recipeYAML.isEmpty ? "# (no recipe recorded)" : st.recipeYAML.replacingOccurrences(of: "```", with: "` ` `"))
        m.append("```")
        return m.joined(separator: "\n") + "\n"
    }
}
