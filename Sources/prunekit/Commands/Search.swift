import ArgumentParser
import Foundation
import PruneKit

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search pruned architectures: enumerate, cost, pick K, evaluate each for real (arXiv 2508.14444 §4.2).",
        discussion: """
        Reads a YAML recipe (Searches/*.yaml; unknown keys are errors; relative paths are resolved against the \
        recipe's directory). Enumerates the product of the search space, drops candidates that break the structure \
        rules (Mamba heads a multiple of G, attention heads a multiple of the KV heads), the width/depth pruning \
        ratios or the memory budget at the recipe's context × batch, keeps the top K by predicted tokens/s (or \
        closeness to target_params), prunes each in memory with the stored importance scores and measures KL \
        divergence to the full model, logit MSE and LM loss on held-out text. The K picked candidates (and every \
        infeasible one, as PRUNED) are trials in the --db store: a killed search resumes where it stopped, and several processes can work on \
        the same study (on one machine with a SQLite file; on several with a postgresql:// URL). --top-k N on an existing study adds the next \
        candidates as new trials. --dry-run prints the plan from the config alone (the model may be a config.json), with the depth of the \
        study's stored scores when --db has the study. \
        Exit codes: 2 bad recipe, 3 database, 4 nothing feasible.
        """
    )

    @Argument(help: "Recipe file (YAML).")
    var recipe: String

    @Option(help: "Store: a SQLite file path or a postgresql://user[:password]@host[:port]/db URL (default: $PRUNEKIT_DB, else prunekit.sqlite).")
    var db: String?

    @Option(help: "Study name (default: the recipe file's base name).")
    var study: String?

    @Flag(name: .customLong("dry-run"), help: "Print the plan (candidates, memory, throughput, the K picked); read no weights, write nothing.")
    var dryRun = false

    @OptionGroup var output: OutputOptions


    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Evaluate the top K candidates per stage (default: the recipe's top_k); raising it on an existing study adds the next candidates as trials.")
    var topK: Int?

    @Option(name: .customLong("max-trials"), parsing: .unconditional, help: "Evaluate at most this many trials in this process, then stop (resume later).")
    var maxTrials: Int?

    @Option(name: .customLong("stale-after"), parsing: .unconditional, help: "Seconds without a heartbeat after which another worker's RUNNING trial is retried (default 600; a dead pid on this host is detected at once).")
    var staleAfter: Double = 600

    @Flag(name: .customLong("retry-failed"), help: "Evaluate FAIL trials again.")
    var retryFailed = false

    @OptionGroup var memory: EngineMemoryOptions

    func validate() throws {
        if let m = maxTrials, m <= 0 { throw ValidationError("--max-trials must be > 0, got \(m)") }
        if let k = topK, k <= 0 { throw ValidationError("--top-k must be > 0, got \(k)") }
        if !(staleAfter > 0) || !staleAfter.isFinite { throw ValidationError("--stale-after must be > 0, got \(staleAfter)") }
    }

    func run() throws {
        try runReportingErrors {
            var r = try Recipe.load(path: recipe)
            if let topK { r.topK = max(r.topK, topK) }
            if dryRun {
                // Stored scores make the counts match a real run; a dry run never creates or writes a store.
                let store: (any StudyStore)?
                if case let .sqlite(path) = storeLocation(db), !FileManager.default.fileExists(atPath: path) { store = nil } else {
                    store = try openStore(db: db, mode: .readOnly)
                }
                let plan = try ArchitectureSearch.dryRun(recipe: r, store: store, studyName: study)
                switch output.format {
                case .json: try printJSON(SearchPlanOutput(plan, recipe: r))
                case .table: print(SearchOutput.planTable(plan, recipe: r))
                }
                return
            }
            var o = SearchRunOptions(db: storeLocation(db), studyName: study)
            o.topK = topK
            o.maxTrials = maxTrials; o.staleAfter = staleAfter; o.retryFailed = retryFailed
            o.cacheBudgetBytes = try memory.cacheBytes
            o.batchBudgetBytes = try memory.batchBytes
            o.progress = makeProgress(quiet: output.quiet)
            if !output.quiet { o.log = { note($0) } }
            let out = try ArchitectureSearch.run(recipe: r, options: o)
            switch output.format {
            case .json:
                try printJSON(.object([
                    ("study", out.study.json), ("finished", .bool(out.finished)), ("evaluated_here", .int(out.evaluatedHere)),
                    ("worker", .string(o.worker.id)), ("scores_reused", .bool(out.scoresReused)),
                    ("score_seconds", .double(out.scoreSeconds)), ("full_model_seconds", .double(out.fullModelSeconds)),
                    ("total_seconds", .double(out.totalSeconds)), ("depth", .string(out.plan.depthSource.description)),
                    ("leaderboard", .array(StudyRanking.leaderboard(out.trials).map(\.json))),
                    ("trials", .array(out.trials.filter { $0.state != .pruned }.map(\.json))),
                ]))
            case .table:
                let s = out.study
                print("study        \(s.name) in \(o.db)  (\(s.strategy), objective \(s.objective.rawValue), minimize)")
                print("candidates   \(s.enumerated) enumerated, \(s.feasible) feasible" + SearchOutput.rejectionText(s.rejections))
                print(String(format: "this run     %d trials evaluated in %.1f s (scores %@, full model on held-out %.2f s, loss %.4f)",
                             out.evaluatedHere, out.totalSeconds, out.scoresReused ? "reused" : String(format: "computed in %.1f s", out.scoreSeconds),
                             out.fullModelSeconds, s.fullLoss ?? .nan))
                if let d = s.bestDepth { print("best depth   \(d) layers (depth stage)") }
                print("state        " + TrialState.allCases.map { "\($0.rawValue) \(s.counts[$0] ?? 0)" }.joined(separator: ", ")
                      + (out.finished ? "" : "  — not finished; run again to resume"))
                print("")
                print(LeaderboardTable.render(StudyRanking.leaderboard(out.trials), pareto: Set(StudyRanking.paretoFront(out.trials).map(\.number)), mib: out.study.budgetBytes < 1 << 30))
            }
        }
    }
}

/// Text and JSON renderings of a search plan.
enum SearchOutput {
    static func mix(_ pattern: String) -> String { layerMix(pattern) }

    static func rejectionText(_ r: [SearchError.Rejection]) -> String {
        r.isEmpty ? "" : "; rejected by " + r.map { "\($0.constraint) \($0.count)" }.joined(separator: ", ")
    }

    /// - Parameter mib: memory columns in MiB (budgets under 1 GiB, e.g. the bundled tiny model) instead of GiB.
    static func row(_ c: Candidate, mark: String, mib: Bool = false) -> [String] {
        let a = c.architecture, r = c.cost
        let scale = mib ? 1_048_576.0 : 1_073_741_824.0
        return [mark, "\(a.numLayers)", mix(c.pattern), "\(a.hiddenSize)", widthCell(c.pattern, .mlp, "\(a.ffnHiddenSize)"),
                widthCell(c.pattern, .mamba, "\(a.mambaNumHeads)×\(a.mambaHeadDim)"), widthCell(c.pattern, .attention, "\(a.numAttentionHeads)"), grouped(r.parameters), String(format: "%.3f", Double(r.memoryBytes) / scale),
                String(format: "%+.3f", Double(r.slackBytes) / scale), r.fits ? "yes" : "NO", "\(r.maxBatch)", String(format: "%.2f", r.outputTokensPerSecond)]
    }

    static let header = ["", "layers", "mix M/*/-", "hidden", "FFN", "Mamba", "attn", "params", "mem GiB", "slack GiB", "fits", "batch", "tok/s"]

    static func planTable(_ p: SearchPlan, recipe: Recipe) -> String {
        var out = [String]()
        let s = p.source
        let mib = p.budgetBytes < 1 << 30
        let header = mib ? SearchOutput.header.map { $0.replacingOccurrences(of: "GiB", with: "MiB") } : SearchOutput.header
        out.append("recipe       \(recipe.path)  (dry run: no weights read, nothing written)")
        out.append("source       \(s.numLayers) layers (\(mix(s.patternString))), hidden \(s.hiddenSize), FFN \(s.ffnHiddenSize), \(s.mambaNumHeads)×\(s.mambaHeadDim) Mamba heads, \(s.numAttentionHeads) attention heads: \(grouped(s.parameterCount)) parameters")
        out.append(String(format: "budget       %@: %@ at %@ tokens × batch %d; workload ISL %d / OSL %d", recipe.hardware.name, byteString(p.budgetBytes),
                          grouped(recipe.context), recipe.batch, recipe.workload.inputLength, recipe.workload.outputLength))
        if let cm = try? recipe.costModel() { out.append("throughput   \(cm.throughputBasis)") }
        out.append("depth        \(p.depthSource.description)")
        for n in recipe.notes { out.append("note         \(n)") }
        out.append("candidates   \(p.candidates.count) enumerated, \(p.feasible.count) feasible" + rejectionText(p.rejections))
        var rows = [[String]]()
        switch recipe.strategy {
        case .joint:
            out.append("selection    top \(recipe.topK) by \(recipe.selection == .throughput ? "predicted tokens/s" : "closeness to \(grouped(recipe.targetParams ?? 0)) parameters") (marked *)")
            let picked = Set(p.picked)
            rows = p.picked.map { row(p.candidates[$0], mark: "*", mib: mib) }
            rows.append([])
            rows += p.candidates.indices.filter { p.candidates[$0].isFeasible && !picked.contains($0) }.map { row(p.candidates[$0], mark: "", mib: mib) }
        case .depthThenWidth:
            out.append("strategy     depth-then-width: evaluate the depth probes (D, source widths, memory not checked), keep the best depth, then evaluate the top \(recipe.topK) width candidates at that depth by \(recipe.selection == .throughput ? "predicted tokens/s" : "closeness to \(grouped(recipe.targetParams ?? 0)) parameters") (marked *)")
            rows = p.depthProbes.map { row($0, mark: "D", mib: mib) }
            for n in p.pickedPerDepth.keys.sorted() {
                rows.append([])
                let picked = Set(p.pickedPerDepth[n]!)
                rows += p.pickedPerDepth[n]!.map { row(p.candidates[$0], mark: "*", mib: mib) }
                rows += p.candidates.indices.filter { p.candidates[$0].isFeasible && p.candidates[$0].numLayers == n && !picked.contains($0) }.map { row(p.candidates[$0], mark: "", mib: mib) }
            }
        }
        out.append("feasible candidates:")
        out.append(renderTable(header: header, rows: rows))
        return out.joined(separator: "\n")
    }
}

/// Right-aligned columns (first column left); an empty row prints as a blank line.
func renderTable(header: [String], rows: [[String]]) -> String {
    let w = header.indices.map { i in ([header] + rows).map { i < $0.count ? $0[i].count : 0 }.max() ?? 0 }
    func line(_ r: [String]) -> String {
        guard !r.isEmpty else { return "" }
        return r.enumerated().map { i, s in i == 0 ? s.padding(toLength: w[i], withPad: " ", startingAt: 0) : String(repeating: " ", count: w[i] - s.count) + s }
            .joined(separator: "  ")
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}

