import Foundation

/// The report page: XHTML-compatible HTML (every tag closed, attributes quoted, text escaped) with the
/// charts inline, so it parses as XML and needs no network or scripts.
enum ReportHTML {
    static let css = """
    body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; margin: 0; background: #f4f5f7; font-size: 14px; }
    main { max-width: 1000px; margin: 0 auto; padding: 24px; background: #ffffff; }
    h1 { font-size: 26px; margin: 0 0 4px 0; }
    h2 { font-size: 19px; margin: 34px 0 8px 0; border-bottom: 2px solid #e3e6ea; padding-bottom: 4px; }
    .sub { color: #555; margin: 0 0 16px 0; }
    .verdict { font-size: 16px; padding: 12px 14px; border-radius: 6px; background: #eef6ee; border-left: 5px solid #2ca02c; }
    .verdict.bad { background: #fdecea; border-left-color: #d62728; }
    .cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
    .card { flex: 1 1 170px; border: 1px solid #e3e6ea; border-radius: 6px; padding: 10px 12px; }
    .card .k { color: #666; font-size: 12px; }
    .card .v { font-size: 20px; font-weight: bold; }
    .card .d { color: #444; font-size: 12px; }
    figure { margin: 12px 0; }
    figure svg { max-width: 100%; height: auto; border: 1px solid #eceef1; }
    figcaption { color: #555; font-size: 13px; margin-top: 4px; }
    table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 8px 0; }
    th, td { border-bottom: 1px solid #e3e6ea; padding: 4px 6px; text-align: right; vertical-align: top; }
    table.trials td { white-space: nowrap; }
    th { background: #f0f2f5; }
    td.l, th.l { text-align: left; }
    tr.chosen td { background: #fff1f3; font-weight: bold; }
    code, pre { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
    pre { background: #f6f8fa; padding: 10px; overflow-x: auto; border-radius: 4px; }
    .pattern { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 11.5px; word-break: break-all; }
    .note { background: #fff8e1; border-left: 5px solid #e0c070; padding: 8px 12px; }
    .err { color: #b00020; white-space: pre-wrap; text-align: left; }
    """

    static func e(_ s: String) -> String { xmlEscape(s) }

    static func page(_ input: ReportInput, charts: [String: String]) -> String {
        let st = input.study, src = input.source
        var h = [String]()
        h.append("<!DOCTYPE html>")
        h.append("<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">")
        h.append("<head><meta charset=\"utf-8\"/><title>\(e("PruneKit study: " + st.name))</title><style>\n\(css)\n</style></head>")
        h.append("<body><main>")
        h.append("<h1>Study \u{201C}\(e(st.name))\u{201D}</h1>")
        h.append("<p class=\"sub\">Objective: \(e(st.direction)) \(e(st.objective)) · \(e(st.hardware)), context \(st.context) tokens × batch \(st.batch), ISL/OSL \(st.inputLength)/\(st.outputLength) · \(st.enumeratedCandidates) candidates enumerated, \(st.feasibleCandidates) feasible, \(input.trials.count) trials · created \(e(st.created)) · PruneKit \(e(st.toolVersion))</p>")
        h.append("<p class=\"verdict\(input.chosen == nil ? " bad" : "")\">\(e(input.verdict))</p>")
        h.append(cards(input))

        h.append("<h2>Candidates</h2>")
        h.append(figure(charts["candidates.svg"]!, caption: "Each marker is a trial. Throughput is the cost model's prediction (pruning.md §5); KL is measured on held-out text after pruning, before any distillation. The Pareto front joins the trials no other trial beats on both."))
        h.append(figure(charts["candidates-params.svg"]!, caption: "All trials, including infeasible (PRUNED) ones the cost model rejected before evaluation."))

        h.append("<h2>Top trials</h2>")
        h.append(trialTable(input, limit: 15))
        h.append(contentsOf: distillationSection(input, charts: charts))
        let failed = input.failed
        if !failed.isEmpty {
            h.append("<h2>Failed trials (\(failed.count))</h2>")
            h.append("<table><tr><th>trial</th><th class=\"l\">architecture</th><th class=\"l\">error</th></tr>")
            for t in failed {
                h.append("<tr><td>#\(t.number)</td><td class=\"l\">\(e(ReportInput.describe(t.architecture)))</td><td class=\"err\">\(e(t.error ?? "(no error text recorded)"))</td></tr>")
            }
            h.append("</table>")
        }
        let inf = input.infeasible
        if !inf.isEmpty {
            h.append("<h2>Infeasible trials (\(inf.count))</h2>")
            h.append("<table><tr><th>trial</th><th class=\"l\">architecture</th><th>memory</th><th>slack</th><th class=\"l\">reason</th></tr>")
            for t in inf.sorted(by: { $0.budgetSlackBytes > $1.budgetSlackBytes }).prefix(20) {
                h.append("<tr><td>#\(t.number)</td><td class=\"l\">\(e(ReportInput.describe(t.architecture)))</td><td>\(Fmt.gib(t.cost.memoryBytes))</td><td>\(Fmt.gibSigned(t.budgetSlackBytes))</td><td class=\"l\">\(e(t.infeasibleReason ?? "no reason recorded"))</td></tr>")
            }
            h.append("</table>")
            if inf.count > 20 { h.append("<p class=\"sub\">\(inf.count - 20) more infeasible trials not shown (those closest to the budget are listed).</p>") }
        }

        h.append("<h2>Memory</h2>")
        h.append(figure(charts["memory.svg"]!, caption: "Weights + batch × (KV cache at the context length + Mamba conv and SSM state), against the budget gpu_memory × (1 − framework fraction) − reserved."))

        h.append("<h2>Importance</h2>")
        if input.scores == nil {
            h.append("<p class=\"note\">No importance scores were given for this study, so the layer and width importance charts are omitted.</p>")
        } else {
            h.append(figure(charts["layers.svg"]!, caption: "Depth: the iterative ranking removes, each round, the layer whose removal changes the logits least (paper §4.1); the bar is that layer's score in the round it was removed. Block influence is the one-shot alternative."))
            h.append(figure(charts["width.svg"]!, caption: "Width: channel scores from activations (pruning.md §2). A steep fall-off means most channels matter little."))
        }

        h.append("<h2>Source model</h2>")
        h.append(sourceTable(src))
        h.append("<h2>Study settings and provenance</h2>")
        var rows: [(String, String)] = [
            ("checkpoint", st.checkpointPath), ("checkpoint fingerprint", st.checkpointFingerprint),
            ("calibration fingerprint", st.calibrationFingerprint),
            ("held-out fingerprint", st.heldOutFingerprint ?? "—"),
            ("hardware", st.hardware), ("budget", Fmt.gib(st.budgetBytes) + " (\(st.budgetBytes) bytes)"),
            ("memory check", "\(st.context) tokens × batch \(st.batch)"), ("workload", "ISL \(st.inputLength), OSL \(st.outputLength) tokens"),
            ("objective", "\(st.direction) \(st.objective)"), ("tool version", st.toolVersion), ("created", st.created),
        ]
        if let sc = input.scores {
            rows.append(("score aggregation", sc.aggregation))
            if let r = sc.layerRanking { rows.append(("layer ranking", "\(r.metric), \(r.rounds.count) rounds, \(r.layerEvaluations) layer evaluations")) }
        }
        h.append("<table>" + rows.map { "<tr><th class=\"l\">\(e($0.0))</th><td class=\"l\"><code>\(e($0.1))</code></td></tr>" }.joined() + "</table>")
        h.append("<h3>Recipe</h3>")
        h.append("<pre>\(e(st.recipeYAML.isEmpty ? "(no recipe recorded)" : st.recipeYAML))</pre>")
        h.append("</main></body></html>")
        return h.joined(separator: "\n") + "\n"
    }

    static func figure(_ svg: String, caption: String) -> String {
        "<figure>\n\(svg)\n<figcaption>\(e(caption))</figcaption></figure>"
    }

    static func cards(_ input: ReportInput) -> String {
        let src = input.source.cost
        let c = input.chosen
        func card(_ k: String, _ v: String, _ d: String) -> String {
            "<div class=\"card\"><div class=\"k\">\(e(k))</div><div class=\"v\">\(e(v))</div><div class=\"d\">\(e(d))</div></div>"
        }
        var out = [String]()
        out.append(card("parameters", c.map { Fmt.count(Double($0.cost.parameters)) } ?? "—", "source \(Fmt.count(Double(src.parameters)))"))
        out.append(card("predicted output tokens/s", c.map { Fmt.tps($0.cost.outputTokensPerSecond) } ?? "—", "source \(Fmt.tps(src.outputTokensPerSecond))"))
        out.append(card("memory at context", c.map { Fmt.gib($0.cost.memoryBytes) } ?? "—", "source \(Fmt.gib(src.memoryBytes)); budget \(Fmt.gib(input.study.budgetBytes))"))
        out.append(card("KL to source (nats/token)", Fmt.metric(c?.metrics.kl), c.map { "loss \(Fmt.metric($0.metrics.loss)), MSE \(Fmt.metric($0.metrics.mse))" } ?? "no trial chosen"))
        let counts = ReportInput.TrialState.allCases.map { s in (s, input.trials.filter { $0.state == s }.count) }.filter { $0.1 > 0 }
        out.append(card("trials", "\(input.trials.count)", counts.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ")))
        return "<div class=\"cards\">\(out.joined())</div>"
    }

    static func trialTable(_ input: ReportInput, limit: Int) -> String {
        let rows = Array(input.tableOrder.prefix(limit))
        guard !rows.isEmpty else { return "<p class=\"note\">No trials.</p>" }
        let chosen = input.chosen?.number
        var h = ["<table class=\"trials\"><tr><th>trial</th><th class=\"l\">state</th><th>layers</th><th class=\"l\">M/*/-</th><th>hidden</th><th>FFN</th><th>Mamba heads × dim</th><th>attn heads</th><th>params</th><th>memory</th><th>slack</th><th>tokens/s</th><th>KL</th><th>MSE</th><th>loss</th><th>seconds</th></tr>"]
        for t in rows {
            let a = t.architecture
            h.append("<tr\(t.number == chosen ? " class=\"chosen\"" : "")><td>#\(t.number)</td><td class=\"l\">\(t.state.rawValue)\(t.number == chosen ? " ★" : "")</td><td>\(a.numLayers)</td><td class=\"l\">\(e(ReportInput.compactCounts(a.pattern)))</td><td>\(a.hiddenSize)</td><td>\(a.ffnHiddenSize)</td><td>\(a.mambaNumHeads)×\(a.mambaHeadDim)</td><td>\(a.numAttentionHeads)</td><td>\(Fmt.count(Double(t.cost.parameters)))</td><td>\(Fmt.gib(t.cost.memoryBytes))</td><td>\(Fmt.gibSigned(t.budgetSlackBytes))</td><td>\(Fmt.tps(t.cost.outputTokensPerSecond))</td><td>\(Fmt.metric(t.metrics.kl))</td><td>\(Fmt.metric(t.metrics.mse))</td><td>\(Fmt.metric(t.metrics.loss))</td><td>\(Fmt.seconds(t.seconds))</td></tr>")
        }
        h.append("</table>")
        let listed = input.tableOrder.count
        if listed > limit { h.append("<p class=\"sub\">\(listed - limit) more evaluated trials not shown.</p>") }
        let pruned = input.trials.filter { $0.state == .pruned }.count
        if pruned > 0 && !rows.contains(where: { $0.state == .pruned }) {
            h.append("<p class=\"sub\">\(pruned) infeasible candidates (PRUNED by the cost model, never evaluated) are listed below.</p>")
        }
        if let c = input.chosen {
            h.append("<p>★ marks the chosen trial. Chosen trial #\(c.number) pattern (\(e(ReportInput.kindCounts(c.architecture.pattern)))): <span class=\"pattern\">\(e(c.architecture.pattern))</span></p>")
            h.append("<p>Target: <code>\(e(c.target.canonicalJSON))</code></p>")
        }
        return h.joined(separator: "\n")
    }

    static func sourceTable(_ s: SourceSummary) -> String {
        let a = s.architecture, c = s.cost
        let rows: [(String, String)] = [
            ("architecture", ReportInput.describe(a) + (a.numKeyValueHeads.map { ", KV heads \($0)" } ?? "")),
            ("layer kinds", ReportInput.kindCounts(a.pattern)),
            ("parameters", "\(Fmt.count(Double(c.parameters))) (\(c.parameters))"),
            ("weights", Fmt.gib(c.weightBytes)), ("KV cache at context", Fmt.gib(c.kvBytes)),
            ("Mamba state (conv + SSM)", String(format: "%.1f MiB", Double(c.mambaStateBytes) / Double(1 << 20))),
            ("total memory", Fmt.gib(c.memoryBytes)), ("predicted output tokens/s", Fmt.tps(c.outputTokensPerSecond)),
        ]
        return "<table>" + rows.map { "<tr><th class=\"l\">\(e($0.0))</th><td class=\"l\">\(e($0.1))</td></tr>" }.joined()
            + "<tr><th class=\"l\">pattern</th><td class=\"l pattern\">\(e(a.pattern))</td></tr></table>"
    }
}
