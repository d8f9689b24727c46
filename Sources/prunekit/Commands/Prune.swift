import ArgumentParser
import Foundation
import PruneKit

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune a Nemotron-H checkpoint to a target architecture and export it (pruning.md §4, §7).",
        discussion: """
        Keep-sets come from importance scores (--scores, a `prunekit score --format json` file) or, with --random-seed, \
        are random (the baseline importance must beat). Options left out keep the source's size. Writes shards, \
        index, config.json (new sizes, pattern, mamba_num_heads; every other key unchanged), the tokenizer files and \
        pruning.json (kept channels, heads and layers in the source's numbering). Never writes into MODEL_DIR; refuses \
        a non-empty OUT_DIR unless --force. --dry-run prints the plan and writes nothing. Exit 2 for bad input.
        """
    )

    @Argument(help: "Source Hugging Face model folder (never modified).")
    var model: String

    @Argument(help: "Output folder for the pruned model.")
    var out: String

    @Option(parsing: .unconditional, help: "Target hidden size H (embedding channels).")
    var hiddenSize: Int?

    @Option(parsing: .unconditional, help: "Target FFN hidden size F (intermediate_size).")
    var ffnHiddenSize: Int?

    @Option(parsing: .unconditional, help: "Target Mamba heads per Mamba layer (a multiple of n_groups).")
    var mambaNumHeads: Int?

    @Option(parsing: .unconditional, help: "Target Mamba head dim P.")
    var mambaHeadDim: Int?

    @Option(parsing: .unconditional, help: "Target attention heads (a multiple of num_key_value_heads).")
    var numAttentionHeads: Int?

    @Option(parsing: .unconditional, help: "Target layer count; drops the layers the iterative ranking removes first.")
    var numLayers: Int?

    @Option(help: "Layers to drop, comma-separated, 0-based source numbering (e.g. 3,8).")
    var dropLayers: LayerList?

    @Option(help: "Importance scores JSON (`prunekit score --format json`).")
    var scores: String?

    @Option(help: "Calibration data for the importance scores (stored scores in --db are reused; computed first if missing).")
    var data: String?

    @Option(parsing: .unconditional, help: "Calibration sequences N (with --data).")
    var samples: Int?

    @Option(name: .customLong("seq-len"), parsing: .unconditional, help: "Calibration tokens per sequence T (with --data).")
    var seqLen: Int?

    @Option(help: "Store: a SQLite file path or a postgresql://user[:password]@host[:port]/db URL (default: $PRUNEKIT_DB, else prunekit.sqlite).")
    var db: String?

    @Option(help: "Export a trial of this search study (from --db): its architecture and the study's calibration scores.")
    var study: String?

    @Option(help: "Trial number in --study, or `best` (the best feasible complete trial by the study's objective).")
    var trial: TrialSelector?


    @Option(help: "Output dtype: bf16, f16, f32 or same (each tensor keeps the source's dtype).")
    var dtype: ExportDType = .same

    @Option(help: "Largest shard: a byte count with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 5GB, 500MB, 2GiB).")
    var maxShardSize: ByteSize = ByteSize(bytes: 5_000_000_000)

    @Flag(help: "Print the plan (architecture, parameters, tensor shapes, shards) and write nothing.")
    var dryRun = false

    @Flag(help: "Allow a non-empty OUT_DIR: the new export is written next to it and replaces the old one only when complete (other files in it are kept).")
    var force = false

    @Option(parsing: .unconditional, help: "Random keep-sets from this seed instead of importance scores (baseline).")
    var randomSeed: UInt64?

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if numLayers != nil && dropLayers != nil { throw ValidationError("give either --num-layers or --drop-layers, not both") }
        if scores != nil && randomSeed != nil { throw ValidationError("give either --scores or --random-seed, not both") }
        if scores != nil && data != nil { throw ValidationError("give either --scores or --data, not both") }
        if let n = samples, n <= 0 || n > DataOptions.maxSamples { throw ValidationError("--samples must be in 1...\(DataOptions.maxSamples), got \(n)") }
        if let t = seqLen, t <= 0 || t > DataOptions.maxSeqLen { throw ValidationError("--seq-len must be in 1...\(DataOptions.maxSeqLen), got \(t)") }
        if (study == nil) != (trial == nil) { throw ValidationError("--study and --trial go together") }
        if study != nil && (hiddenSize != nil || ffnHiddenSize != nil || mambaNumHeads != nil || mambaHeadDim != nil
                            || numAttentionHeads != nil || numLayers != nil || dropLayers != nil || scores != nil || data != nil) {
            throw ValidationError("--study/--trial take the architecture and scores from the study; do not combine them with size options, --scores or --data")
        }
    }

    func run() throws {
        try runReportingErrors {
            let exportDType = dtype
            let shardBytes = maxShardSize.bytes
            let drop = dropLayers?.layers
            var target = TargetArchitecture(numLayers: numLayers, dropLayers: drop, hiddenSize: hiddenSize, ffnHiddenSize: ffnHiddenSize,
                                            mambaNumHeads: mambaNumHeads, mambaHeadDim: mambaHeadDim, numAttentionHeads: numAttentionHeads)
            let folder = try ModelFolder(path: model, strict: true)
            let plan: PruningPlan
            var calibrationFingerprint: String?
            var recipe = PruningManifest.Recipe(target: target)
            if let study, let trial {
                let store = try openStore(db: db, mode: .readOnly)
                let (arch, sc, fp, rec) = try trialArchitecture(folder: folder, studyName: study, trial: trial, store: store)
                target = arch.target(sourceLayers: folder.config.numLayers)
                calibrationFingerprint = fp
                recipe = rec
                plan = try randomSeed.map { try PruningPlan.random(source: folder.config, target: target, seed: $0, layerRanking: sc.layerRanking) }
                    ?? PruningPlan(source: folder.config, scores: sc, architecture: arch)
                if let randomSeed {
                    recipe.keepSets = "random width keep-sets; depth from the study's layer ranking"
                    recipe.seed = randomSeed
                }
            } else if let randomSeed {
                plan = try PruningPlan.random(source: folder.config, target: target, seed: randomSeed)
                recipe.keepSets = "random"; recipe.seed = randomSeed
            } else {
                let (scoresValue, fingerprint) = try obtainScores(folder: folder, options: self, compute: !dryRun)
                calibrationFingerprint = fingerprint
                if dryRun, data != nil, scoresValue == nil {
                    // A dry run never computes scores: the shapes do not depend on which channels are kept, but the
                    // layers --num-layers drops come from the ranking.
                    if numLayers != nil {
                        throw PruneError.needsScores("--dry-run does not compute importance scores, and none are stored in \(storeLocation(db)) for --data \(data!) with these options; the layers --num-layers drops come from the iterative ranking: run `prunekit score \(model) --data \(data!)\(samples.map { " --samples \($0)" } ?? "")\(seqLen.map { " --seq-len \($0)" } ?? "") --db \(storeLocation(db))` first, or give --drop-layers")
                    }
                    note("note: dry run: no importance scores for --data are stored in \(storeLocation(db)) and a dry run does not compute them; the shapes below do not depend on them")
                    plan = try PruningPlan.random(source: folder.config, target: target, seed: 0)
                } else {
                    do {
                        plan = try PruningPlan(source: folder.config, scores: scoresValue, target: target)
                    } catch PruneError.needsScores(let m) where scoresValue == nil {
                        throw PruneError.needsScores("\(m); pass --data FILE (calibration text, scored and stored in --db), --scores FILE.json, or --random-seed S for a random baseline")
                    }
                }
                recipe.keepSets = scoresValue == nil ? "none (no width pruned)" : "importance"
                recipe.scores = scores; recipe.calibrationData = data; recipe.samples = samples; recipe.seqLen = seqLen
            }
            let options = Exporter.Options(dtype: exportDType, maxShardBytes: shardBytes, force: force,
                                           calibrationFingerprint: calibrationFingerprint, recipe: recipe)
            if dryRun {
                let p = try Exporter.plan(folder: folder, plan: plan, options: options)
                switch output.format {
                case .json: try printJSON(ExportPlanOutput(p, plan: plan))
                case .table: print(dryRunTable(p, plan: plan))
                }
                return
            }
            if plan.target.count(.attention) == 0 && plan.source.count(.attention) > 0 {
                FileHandle.standardError.write(Data("warning: the pruned model has no attention layers; transformers 5.24 then fails in generate()/forward with its default cache (pass use_cache=False)\n".utf8))
            }
            let leftovers = CheckpointWriter.leftovers(outputDir: out)
            if !leftovers.isEmpty { note("removing the leftovers of an interrupted export: \(leftovers.joined(separator: ", "))") }
            let shards = try Exporter.export(folder: folder, plan: plan, to: out, options: options, progress: makeProgress(quiet: output.quiet))
            switch output.format {
            case .json:
                try printJSON(ExportResultOutput(outputDir: out, target: .init(plan.target),
                                                 parameters: .init(source: plan.source.parameterCount, target: plan.target.parameterCount),
                                                 weightFiles: shards.shards.count, weightBytes: shards.totalBytes))
            case .table:
                print("wrote \(out): \(plan.target.patternString) (\(plan.target.numLayers) layers), \(grouped(plan.target.parameterCount)) parameters " +
                      "(source \(grouped(plan.source.parameterCount))), \(shards.shards.count) weight file(s), \(gib(shards.totalBytes))")
            }
        }
    }

    private func dryRunTable(_ p: Exporter.Plan, plan: PruningPlan) -> String {
        let t = p.target, s = plan.source
        var lines = [
            "target architecture: \(t.patternString) (\(t.numLayers) layers, source \(s.numLayers))",
            "  hidden_size \(s.hiddenSize) → \(t.hiddenSize)   intermediate_size \(s.ffnHiddenSize) → \(t.ffnHiddenSize)",
            "  num_attention_heads \(s.numAttentionHeads) → \(t.numAttentionHeads) (kv \(t.numKeyValueHeads))   mamba_num_heads \(s.mambaNumHeads) → \(t.mambaNumHeads)   mamba_head_dim \(s.mambaHeadDim) → \(t.mambaHeadDim)",
            "parameters: \(grouped(p.targetParameters)) (source \(grouped(p.sourceParameters)), \(String(format: "%.1f", 100 * Double(p.targetParameters) / Double(p.sourceParameters)))%)",
            "tensors (source → target):",
        ]
        for r in p.tensors {
            let same = r.name == r.sourceName ? "" : "  (from \(r.sourceName))"
            lines.append("  \(r.name)  \(r.sourceShape) → \(r.targetShape)  \(r.dtype.rawValue)\(same)")
        }
        lines.append("shards:")
        lines.append(p.shards.table.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        lines.append("dry run: nothing written to \(out)")
        return lines.joined(separator: "\n")
    }
}

/// `prune --format json` after an export: where it went, the pruned sizes, parameters and weight files (bytes).
struct ExportResultOutput: Encodable {
    var outputDir: String
    var target: PruningManifest.ConfigSizes
    var parameters: PruningManifest.ParameterCounts
    var weightFiles: Int
    var weightBytes: Int
    enum CodingKeys: String, CodingKey {
        case outputDir = "output_dir", target, parameters, weightFiles = "weight_files", weightBytes = "weight_bytes"
    }
}

/// `--trial`: a trial number or `best`.
enum TrialSelector: ExpressibleByArgument, Equatable {
    case best
    case number(Int)
    init?(argument: String) {
        if argument == "best" { self = .best } else if let n = Int(argument), n >= 0 { self = .number(n) } else { return nil }
    }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// The architecture of a study's trial, the score set the study pruned with, its calibration fingerprint and the
/// recipe record for pruning.json — read from the store alone (nothing re-parsed, tokenized or recomputed).
func trialArchitecture(folder: ModelFolder, studyName: String, trial: TrialSelector, store: any StudyStore)
    throws -> (Architecture, ImportanceScores, String, PruningManifest.Recipe)
{
    let study = try store.study(named: studyName)
    let record: TrialRecord
    switch trial {
    case .best:
        guard let best = try store.bestTrial(study: study) else {
            throw PruneError.invalidTarget("study '\(studyName)' has no feasible complete trial yet")
        }
        record = best
    case let .number(n):
        guard let t = try store.trial(study: study.id, number: n) else {
            throw PruneError.badOption("--trial \(n): study '\(studyName)' has no such trial (see `prunekit leaderboard --study \(studyName)`)")
        }
        record = t
    }
    guard folder.fingerprint == study.checkpointFingerprint else {
        throw PruneError.invalidTarget("\(folder.path) is not the checkpoint study '\(studyName)' was run on (\(study.checkpointPath), fingerprint \(study.checkpointFingerprint.prefix(12))…)")
    }
    guard let key = study.scoreKey else {
        throw PruneError.needsScores("study '\(studyName)' was stored by an older PruneKit and does not record its score set; run `prunekit search` on it once (it resumes and records it)")
    }
    guard let scores = try store.scores(key) else {
        throw PruneError.needsScores("the score set of study '\(studyName)' (checkpoint \(key.checkpointFingerprint.prefix(12))…, calibration \(key.calibrationFingerprint.prefix(12))…, options \(key.optionsKey)) is not in \(store.location); copy it with `prunekit db copy` or run `prunekit search` again")
    }
    return (record.architecture, scores.scores, key.calibrationFingerprint, trialRecipe(record, study: study, name: studyName, sourceLayers: folder.config.numLayers))
}

/// The `recipe` record of pruning.json for a study's trial.
func trialRecipe(_ record: TrialRecord, study: StudyRecord, name studyName: String, sourceLayers: Int) -> PruningManifest.Recipe {
    PruningManifest.Recipe(target: record.architecture.target(sourceLayers: sourceLayers), keepSets: "importance", study: studyName,
                           trial: record.number,
                           trialMetrics: .init(kl: record.kl, mse: record.mse, loss: record.loss, predictedTokensPerSecond: record.tokensPerSecond,
                                               memoryBytes: record.memoryBytes, budgetBytes: record.budgetBytes),
                           recipeYAML: study.recipeYAML)
}

/// Importance scores for `prune`: from `--scores FILE.json`, or from the store in `--db` for `--data`
/// (computed and stored first if missing); nil when neither is given (no width pruning possible).
/// - Returns: the scores and the calibration set's fingerprint (when --data is given).
/// With `compute` false (a dry run) only stored scores are returned (nil when none are stored).
func obtainScores(folder: ModelFolder, options: Prune, compute: Bool = true) throws -> (ImportanceScores?, String?) {
    if let path = options.scores { return (try ImportanceScores.load(path: path), nil) }
    guard let data = options.data else { return (nil, nil) }
    let tokPath = (folder.path as NSString).appendingPathComponent("tokenizer.json")
    let tokenizer = FileManager.default.fileExists(atPath: tokPath) ? try Tokenizer.load(modelDir: folder.path) : nil
    let set = try CalibrationSet.load(path: data, tokenizer: tokenizer, samples: options.samples, seqLen: options.seqLen,
                                     vocabSize: folder.config.vocabSize)
    var opts = ScoreOptions()
    if let n = options.numLayers { opts.remove = max(1, folder.config.numLayers - n) } else { opts.remove = nil }
    if options.numLayers == nil { opts.layers = .blockInfluence }
    // Reuse a complete ranking when one is stored; otherwise compute what this target needs.
    var full = ScoreOptions()
    // A dry run never creates or writes a store.
    let store: (any StudyStore)?
    if !compute, case let .sqlite(path) = storeLocation(options.db), !FileManager.default.fileExists(atPath: path) { store = nil } else {
        store = try openStore(db: options.db, mode: compute ? .readWrite : .readOnly)
    }
    if let r = try? Importance.stored(folder: folder, calibration: set, options: full, store: store) {
        return (r, set.fingerprint)
    }
    if options.numLayers == nil { full = opts }
    guard compute else {
        return (try Importance.stored(folder: folder, calibration: set, options: options.numLayers == nil ? full : opts, store: store), set.fingerprint)
    }
    let result = try Importance.loadOrCompute(folder: folder, calibration: set, options: options.numLayers == nil ? full : opts,
                                              store: store!, progress: makeProgress(quiet: options.output.quiet)?.callback(units: scoreProgressUnits))
    if !result.reused { note(String(format: "importance scores computed in %.1f s and stored in %@", result.seconds, store!.location.description)) }
    return (result.scores, set.fingerprint)
}
