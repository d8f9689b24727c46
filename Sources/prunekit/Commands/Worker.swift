import ArgumentParser
import Foundation
import PruneKit

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute units of a distributed scoring job (from `score --submit`) or evaluate a study's search trials, until done.",
        discussion: """
        Scoring job (--job, MODEL and --data): claims a unit (a lease on the database clock, renewed by a heartbeat), \
        computes it, stores its partial result once, repeats; a unit whose worker died is re-leased when its lease \
        expires. The worker that completes a round's last unit picks the removed layer and creates the next round's \
        units. The local model folder and calibration data must have the job's fingerprints (the worker refuses \
        otherwise). When the job is done its scores are stored like `score`'s, so `score`, `prune --data` and `search` \
        read them. \
        Study (--study NAME): claims and evaluates the study's WAITING trials exactly as another `search` process of \
        the study would (same lease and heartbeat, same evaluation), reading the model and data at the paths the \
        study's recipe names (their fingerprints must be the study's). \
        With neither: the oldest unfinished scoring job of MODEL and --data when given, else the oldest study with \
        WAITING or RUNNING trials (the choice is printed). Exits 0 when nothing is waiting or running (or after \
        --idle-exit seconds without work to claim).
        """
    )

    @Argument(help: "Model folder (a scoring job's checkpoint, verified by fingerprint; not used with --study).")
    var model: String?

    @OptionGroup var dataOptions: WorkerDataOptions

    @Option(help: "Store: a SQLite file path or a postgresql:// URL (default: $PRUNEKIT_DB, else prunekit.sqlite).")
    var db: String?

    @Option(help: "Job id (default: the oldest unfinished job for this model and data).")
    var job: String?

    @Option(help: "Study name: evaluate its waiting search trials.")
    var study: String?

    @Option(parsing: .unconditional, help: "Compute threads of this worker: OpenBLAS and the work outside the products (default: all cores).")
    var threads: Int?

    @Option(name: .customLong("idle-exit"), help: "Exit 0 after this many seconds without a unit or trial to claim (default: wait until the job or study is done).")
    var idleExit: Double?

    @Option(name: .customLong("lease-seconds"), help: "Lease of a claimed unit or trial, renewed every sixth of it for units, every 5 s for trials (default 120).")
    var leaseSeconds: Double = 120

    @OptionGroup var memory: EngineMemoryOptions

    @Flag(name: .customLong("dry-run"), help: "Check the command line, print what the worker would do, open nothing.")
    var dryRun = false

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be ≥ 1, got \(t)") }
        if let i = idleExit, i < 0 { throw ValidationError("--idle-exit must be ≥ 0, got \(i)") }
        if leaseSeconds <= 0 { throw ValidationError("--lease-seconds must be > 0, got \(leaseSeconds)") }
        if job != nil, study != nil { throw ValidationError("give --job or --study, not both") }
        if study != nil, model != nil || dataOptions.data != nil {
            throw ValidationError("--study reads the model and data its recipe names; give no MODEL or --data with it")
        }
        if job != nil, model == nil || dataOptions.data == nil { throw ValidationError("--job needs MODEL and --data (the job's checkpoint and calibration data)") }
        if (model == nil) != (dataOptions.data == nil) { throw ValidationError("MODEL and --data go together (a scoring job's checkpoint and calibration data)") }
    }

    func run() throws {
        if dryRun {
            let what = study.map { "study \($0)" } ?? job.map { "job \($0)" } ?? "the oldest unfinished job of the model and data, else the oldest study with waiting trials"
            print("worker: model \(model ?? "(the study's)"), data \(dataOptions.data ?? "(the study's)"), store \(StoreLocation.resolve(option: db)), \(what), threads \(threads.map(String.init) ?? "all"), idle exit \(idleExit.map { "\($0) s" } ?? "never")")
            return
        }
        try runReportingErrors {
            if let threads { setComputeThreads(threads) }
            // A worker joins an existing job or study: a mistyped SQLite path is an error, not a new empty database.
            if case let .sqlite(path) = StoreLocation.resolve(option: db), !FileManager.default.fileExists(atPath: path) {
                throw StoreError.missing(location: path)
            }
            if let study { return try runStudy(study) }
            let store = try openStore(db: db, mode: .readWrite)
            guard let model, let data = try dataOptions.resolved() else {
                // No model: only studies can be worked on.
                if let pending = try openScoringQueue(store).status().first(where: { !$0.finished }) {
                    note("worker: scoring job \(pending.id) is unfinished but needs MODEL and --data; looking for a study instead")
                }
                guard let s = try ArchitectureSearch.pendingStudies(store: store).first else {
                    print("nothing to do in \(store.location): no unfinished scoring job of a given model and no study with waiting or running trials")
                    return
                }
                print("worker: chose study \(s.name) (\(s.counts[.waiting] ?? 0) waiting, \(s.counts[.running] ?? 0) running trials)")
                return try runStudy(s.name)
            }
            let folder = try ModelFolder(path: model)
            let set = try data.load(modelDir: model, vocabSize: folder.config.vocabSize)
            let queue = try openScoringQueue(store)
            let jobID: String
            if let job { jobID = job } else {
                let open = try queue.status().filter { !$0.finished }
                guard let mine = open.first(where: { $0.spec.checkpoint == folder.fingerprint && $0.spec.calibration == set.fingerprint }) else {
                    if let s = try ArchitectureSearch.pendingStudies(store: store).first {
                        print("worker: no unfinished scoring job of this model and data; chose study \(s.name) (\(s.counts[.waiting] ?? 0) waiting, \(s.counts[.running] ?? 0) running trials)")
                        return try runStudy(s.name)
                    }
                    if let other = open.first { try ScoringWorker.verify(other.spec, modelFingerprint: folder.fingerprint, modelPath: folder.path,
                                                                          calibrationFingerprint: set.fingerprint, dataPath: data.data) }
                    print("no unfinished scoring job and no study with waiting trials in \(store.location)")
                    return
                }
                jobID = mine.id
                if job == nil { print("worker: chose scoring job \(jobID) (\(mine.waiting) units waiting, round \(mine.currentRound)/\(mine.spec.rounds))") }
            }
            let spec = try queue.spec(job: jobID)
            try ScoringWorker.verify(spec, modelFingerprint: folder.fingerprint, modelPath: folder.path,
                                     calibrationFingerprint: set.fingerprint, dataPath: data.data)
            let net = try memory.model(folder)
            let me = WorkerIdentity.current()
            let worker = ScoringWorker(queue: queue, runner: ScoringUnitRunner(model: net, set: set, options: spec.options), id: "\(me.host):\(me.pid)")
            worker.leaseSeconds = leaseSeconds
            worker.heartbeatSeconds = leaseSeconds / 6
            let stats = try worker.run(job: jobID, idleExit: idleExit)
            if stats.finished, let scores = try queue.scores(job: jobID, config: folder.config) {
                try saveJobScores(scores, spec: spec, folder: folder, set: set, store: store)
            }
            let total = stats.computeSeconds + stats.queueSeconds
            print(String(format: "worker %@: job %@ %@; %d units stored, %d discarded, %d rounds closed; compute %.2f s, store traffic %.3f s (%.2f %%)",
                         worker.id, jobID, stats.finished ? "done" : "idle", stats.unitsStored, stats.unitsDiscarded, stats.roundsClosed,
                         stats.computeSeconds, stats.queueSeconds, total > 0 ? 100 * stats.queueSeconds / total : 0))
        }
    }

    /// Evaluates the study's trials as one more search process of it.
    func runStudy(_ name: String) throws {
        var o = SearchRunOptions(db: storeLocation(db), studyName: name)
        o.staleAfter = leaseSeconds
        o.idleExit = idleExit
        o.cacheBudgetBytes = try memory.cacheBytes
        o.batchBudgetBytes = try memory.batchBytes
        let out = try ArchitectureSearch.work(study: name, options: o)
        let c = out.study.counts
        print("worker \(o.worker.id): study \(name) \(out.finished ? "done" : "idle"); \(out.evaluatedHere) trials evaluated here; "
              + TrialState.allCases.map { "\($0.rawValue) \(c[$0] ?? 0)" }.joined(separator: ", "))
    }
}

/// Stores a finished job's scores under the same key as a local `score` run (idempotent upsert).
func saveJobScores(_ scores: ImportanceScores, spec: ScoringJobSpec, folder: ModelFolder, set: CalibrationSet, store: any StudyStore) throws {
    let key = ScoreKey(checkpointFingerprint: spec.checkpoint, calibrationFingerprint: spec.calibration, optionsKey: spec.options.key)
    try store.saveScores(ScoreSet(key: key, checkpointPath: absolutePath(folder.path), calibrationSource: set.source,
                                  samples: set.samples.count, tokens: set.tokenCount, scores: scores, seconds: 0,
                                  layerEvaluations: scores.layerRanking?.layerEvaluations ?? 0))
}

extension DataOptions {
    /// The options as command-line arguments (for worker processes started by `score --workers`).
    var arguments: [String] {
        ["--data", data] + (samples.map { ["--samples", String($0)] } ?? []) + (seqLen.map { ["--seq-len", String($0)] } ?? [])
            + (skip > 0 ? ["--skip", String(skip)] : [])
    }
}

/// ``DataOptions`` with `--data` optional: `worker --study` reads its data from the study's recipe.
struct WorkerDataOptions: ParsableArguments {
    @Option(help: "Calibration data of the scoring job (as for `score`); not used with --study.")
    var data: String?

    @Option(parsing: .unconditional, help: "Number of sequences N (as for `score`).")
    var samples: Int?

    @Option(name: .customLong("seq-len"), parsing: .unconditional, help: "Tokens per sequence T (as for `score`).")
    var seqLen: Int?

    @Option(parsing: .unconditional, help: "Skip the first K sequences (as for `score`).")
    var skip: Int = 0

    /// The same options as ``DataOptions`` (validated the same way), or nil without `--data`.
    func resolved() throws -> DataOptions? {
        guard let data else { return nil }
        var args: [String] = ["--data", data, "--skip", String(skip)]
        if let samples { args += ["--samples", String(samples)] }
        if let seqLen { args += ["--seq-len", String(seqLen)] }
        return try DataOptions.parse(args)
    }

    func validate() throws { _ = try resolved() }
}
