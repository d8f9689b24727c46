import ArgumentParser
import Foundation
import PruneKit

extension ScoreOptions.LayerMethod: ExpressibleByArgument {}
extension ScoreOptions.Metric: ExpressibleByArgument {}
extension ScoreOptions.SequenceAggregation: ExpressibleByArgument {}
extension ScoreOptions.SampleAggregation: ExpressibleByArgument {}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score the importance of layers, FFN neurons, hidden channels, attention and Mamba heads.",
        discussion: """
        Width scores come from activations on the calibration set (mean over the sequence, L2 over samples); \
        depth from the paper's iterative logit MSE (or KL) against the full model, plus block influence. \
        Scores are stored in the SQLite --db keyed by the checkpoint's and the calibration set's fingerprints; \
        a second run with the same inputs reuses them. Source: arXiv 2508.14444 §4.1, pruning.md §2–§3.
        """
    )

    @Argument(help: "Model folder.")
    var model: String

    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Depth scoring: iterative-mse, block-influence or none.")
    var layers: ScoreOptions.LayerMethod = .iterativeMSE

    @Option(help: "Distance to the full model's logits for the iterative ranking: mse or kl.")
    var metric: ScoreOptions.Metric = .mse

    @Option(parsing: .unconditional, help: "Layers the iterative ranking removes (default: all but one, a complete order).")
    var remove: Int?

    @Option(name: .customLong("seq-agg"), help: "Aggregation over the sequence: mean (default), l2, max.")
    var seqAgg: ScoreOptions.SequenceAggregation = .mean

    @Option(name: .customLong("sample-agg"), help: "Aggregation over samples: l2 (default), mean.")
    var sampleAgg: ScoreOptions.SampleAggregation = .l2

    @Option(help: "Store: a SQLite file path or a postgresql://user[:password]@host[:port]/db URL (default: $PRUNEKIT_DB, else prunekit.sqlite).")
    var db: String?

    @OptionGroup var engine: EngineOptions

    @OptionGroup var output: OutputOptions


    @Flag(help: "Register a distributed scoring job (its units) in the store, print its id, compute nothing; `prunekit worker` processes compute it.")
    var submit = false

    @Option(name: .customLong("unit-samples"), parsing: .unconditional, help: "Samples per unit of a distributed job (default \(ScoringJobSpec.defaultUnitSamples)).")
    var unitSamples: Int = ScoringJobSpec.defaultUnitSamples

    @Option(name: .customLong("unit-candidates"), parsing: .unconditional, help: "Candidate layers per ranking unit of a distributed job (default 0: all of the round).")
    var unitCandidates: Int = 0

    @Option(parsing: .unconditional, help: "Score through a distributed job computed by N local worker processes (the cores split between them).")
    var workers: Int?

    func validate() throws {
        if let r = remove, r < 1 { throw ValidationError("--remove must be ≥ 1, got \(r)") }
        if remove != nil, layers != .iterativeMSE {
            throw ValidationError("--remove applies to the iterative ranking (--layers iterative-mse); --layers \(layers.rawValue) ranks every layer in one pass")
        }
        if unitSamples < 1 { throw ValidationError("--unit-samples must be ≥ 1, got \(unitSamples)") }
        if unitCandidates < 0 { throw ValidationError("--unit-candidates must be ≥ 0, got \(unitCandidates)") }
        if let w = workers, w < 1 { throw ValidationError("--workers must be ≥ 1, got \(w)") }
    }

    /// `--submit` and `--workers`: registers the job; with workers, runs them here and waits.
    /// `--submit`: registers the job (or names the unfinished job of the same spec) and prints its id.
    /// `--workers N`: unless the scores are already stored, runs N local worker processes on the job (resuming an
    /// unfinished job of the same spec), after which `run` reads the stored scores. Ctrl-C / SIGTERM stop the workers too.
    enum Distributed { case no, submitted, computedByWorkers }
    /// - Throws: ``ExitCode`` 1 (after a message naming the worker) when a worker failed and the job is unfinished.
    func distributed(folder: ModelFolder, set: CalibrationSet, options: ScoreOptions, store: any StudyStore) throws -> Distributed {
        guard submit || workers != nil else { return .no }
        if !submit, try Importance.stored(folder: folder, calibration: set, options: options, store: store) != nil { return .no }
        let queue = try openScoringQueue(store)
        var spec = ScoringJobSpec(checkpoint: folder.fingerprint, calibration: set.fingerprint, options: options, numLayers: folder.config.numLayers,
                                  sampleCount: set.samples.count, unitSamples: unitSamples, unitCandidates: unitCandidates)
        spec.sampleTokens = set.samples.map(\.count)
        let id: String
        if let open = try queue.status().first(where: { !$0.finished && $0.spec == spec }) {
            id = open.id
            note("job \(id): resuming the unfinished job of the same model, data and options (\(open.done) of \(spec.totalUnits) units done)")
        } else {
            id = try queue.submit(spec)
        }
        if submit { print(id); return .submitted }
        let n = workers!
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let threads = max(1, cores / n)
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        // The store as given (a PostgreSQL URL keeps its password; the printed location is redacted). Passed in
        // the environment, not on the command line, where any local user could read it (`ps`).
        let dbArg = db ?? ProcessInfo.processInfo.environment["PRUNEKIT_DB"] ?? store.location.description
        let args = ["worker", model, "--job", id, "--threads", String(threads)]
            + engine.memory.arguments(share: n) + dataOptions.arguments
        FileHandle.standardError.write(Data("job \(id): \(spec.totalUnits) units, \(n) local workers × \(threads) threads\n".utf8))
        let procs = try (0..<n).map { _ -> Process in
            let p = Process()
            p.executableURL = exe
            p.arguments = args
            var env = ProcessInfo.processInfo.environment
            env["OPENBLAS_NUM_THREADS"] = String(threads)
            env["PRUNEKIT_DB"] = dbArg
            p.environment = env
            // The workers' reports go to stderr: stdout carries this command's own output (e.g. --format json).
            p.standardOutput = FileHandle.standardError
            try p.run()
            return p
        }
        let stop = LocalWorkers.stopOnSignals(procs)
        for p in procs { p.waitUntilExit() }
        stop.cancel()
        if let sig = stop.received {
            FileHandle.standardError.write(Data("score: stopped by signal \(sig) with its \(n) workers; job \(id) is unfinished: run the same command again to resume it\n".utf8))
            Foundation.exit(128 + sig)
        }
        let failed = procs.filter { $0.terminationStatus != 0 }
        if !failed.isEmpty {
            let what = failed.map { "worker pid \($0.processIdentifier) " + ($0.terminationReason == .uncaughtSignal ? "ended by signal \($0.terminationStatus)" : "exited \($0.terminationStatus)") }
            if let st = try queue.status().first(where: { $0.id == id }), st.finished {
                note("\(what.joined(separator: ", ")); the other workers finished job \(id)")
            } else {
                FileHandle.standardError.write(Data("error: \(what.joined(separator: ", ")); job \(id) is unfinished: run the same command again to resume it\n".utf8))
                throw ExitCode(1)
            }
        }
        return .computedByWorkers
    }

    func run() throws {
        try runReportingErrors {
            let folder = try ModelFolder(path: model)
            let set = try dataOptions.load(modelDir: model, vocabSize: folder.config.vocabSize)
            var opts = ScoreOptions()
            opts.layers = layers; opts.metric = metric; opts.remove = remove
            opts.sequenceAggregation = seqAgg; opts.sampleAggregation = sampleAgg; opts.dtFloor = engine.dtFloor
            if layers == .iterativeMSE, let r = remove, r >= folder.config.numLayers {
                throw ImportanceError.badRemove(r, numLayers: folder.config.numLayers)
            }
            let store = try openStore(db: db, mode: .readWrite)
            let how = try distributed(folder: folder, set: set, options: opts, store: store)
            if how == .submitted { return }
            let ranWorkers = how == .computedByWorkers
            let result = try Importance.loadOrCompute(folder: folder, calibration: set, options: opts, store: store,
                                                      cacheBudgetBytes: try engine.memory.cacheBytes, batchBudgetBytes: try engine.memory.batchBytes,
                                                      progress: makeProgress(quiet: output.quiet)?.callback(units: scoreProgressUnits))
            let s = result.scores
            let peak = peakResidentBytes(), budget = try engine.memory.batchBytes
            switch output.format {
            case .json:
                var o = s.json.objectValue!
                o.insert(contentsOf: [("model", .string(model)), ("checkpoint_fingerprint", .string(folder.fingerprint)),
                                      ("calibration_fingerprint", .string(set.fingerprint)), ("samples", .int(set.samples.count)),
                                      ("tokens", .int(set.tokenCount)), ("reused", .bool(result.reused && !ranWorkers)),
                                      ("seconds", .double(result.seconds)), ("db", .string(store.location.description)),
                                      ("peak_resident_bytes", .int(peak)), ("memory_budget_bytes", .int(budget))], at: 0)
                try printJSON(.object(o))
            case .table:
                print(ranWorkers ? "scores computed by \(workers ?? 0) local workers, stored in \(store.location)" : result.reused ? "scores reused from \(store.location)" : String(format: "scores computed in %.2f s, stored in %@", result.seconds, store.location.description))
                print("calibration  \(set.samples.count) samples, \(grouped(set.tokenCount)) tokens, fingerprint \(set.fingerprint.prefix(16))…")
                let cfg = folder.config
                if let r = s.layerRanking {
                    print("iterative \(r.metric) removal order (least important first):")
                    for (k, round) in r.rounds.enumerated() {
                        print(String(format: "  %2d. layer %2d (%@)  %@ %.6g", k + 1, round.removed, String(cfg.pattern[round.removed].rawValue), r.metric, round.score))
                    }
                    let S = cfg.numLayers
                    print("layer evaluations: \(grouped(r.layerEvaluations)) in all; at most \(r.maxEvaluationsPerRound) per round and sample (bound |S|(|S|+1)/2 = \(S * (S + 1) / 2))")
                }
                if let bi = s.blockInfluence {
                    print("block influence (1 − cos): " + bi.enumerated().map { String(format: "%d:%.4f", $0.offset, $0.element) }.joined(separator: " "))
                }
                print(String(format: "hidden channels: top score %.4g, median %.4g", s.hidden.max() ?? 0, s.hidden.sorted()[s.hidden.count / 2]))
                print(String(format: "peak memory  %.1f MiB resident (activation budget %@ per batch, --memory-gib)", Double(peak) / 1_048_576, gib(budget)))
            }
        }
    }
}
