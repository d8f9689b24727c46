import ArgumentParser
import Foundation
import PruneKit

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute units of a distributed scoring job (from `score --submit`) until the job is done.",
        discussion: """
        Claims a unit (a lease on the database clock, renewed by a heartbeat), computes it, stores its partial \
        result once, repeats; a unit whose worker died is re-leased when its lease expires. The worker that \
        completes a round's last unit picks the removed layer and creates the next round's units. The local model \
        folder and calibration data must have the job's fingerprints (the worker refuses otherwise). When the job \
        is done its scores are stored like `score`'s, so `score`, `prune --data` and `search` read them. Exits 0 \
        when the job is done (or after --idle-exit seconds without a unit).
        """
    )

    @Argument(help: "Model folder (the job's checkpoint, verified by fingerprint).")
    var model: String

    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Store: a SQLite file path or a postgresql:// URL (default: $PRUNEKIT_DB, else prunekit.sqlite).")
    var db: String?

    @Option(help: "Job id (default: the oldest unfinished job for this model and data).")
    var job: String?

    @Option(help: "OpenBLAS threads of this worker (default: all cores).")
    var threads: Int?

    @Option(name: .customLong("idle-exit"), help: "Exit 0 after this many seconds without a unit to claim (default: wait until the job is done).")
    var idleExit: Double?

    @Option(name: .customLong("lease-seconds"), help: "Lease of a claimed unit, renewed every sixth of it (default 120).")
    var leaseSeconds: Double = 120

    @OptionGroup var memory: EngineMemoryOptions

    @Flag(name: .customLong("dry-run"), help: "Check the command line, print what the worker would do, open nothing.")
    var dryRun = false

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be ≥ 1, got \(t)") }
        if let i = idleExit, i < 0 { throw ValidationError("--idle-exit must be ≥ 0, got \(i)") }
        if leaseSeconds <= 0 { throw ValidationError("--lease-seconds must be > 0, got \(leaseSeconds)") }
    }

    func run() throws {
        if dryRun {
            print("worker: model \(model), data \(dataOptions.data), store \(StoreLocation.resolve(option: db)), job \(job ?? "oldest unfinished"), threads \(threads.map(String.init) ?? "all"), idle exit \(idleExit.map { "\($0) s" } ?? "never")")
            return
        }
        try runReportingErrors {
            if let threads { setBLASMaxThreads(threads) }
            let folder = try ModelFolder(path: model)
            let set = try dataOptions.load(modelDir: model, vocabSize: folder.config.vocabSize)
            let store = try openStore(db: db, mode: .readWrite)
            let queue = try openScoringQueue(store)
            let jobID: String
            if let job { jobID = job } else {
                let open = try queue.status().filter { !$0.finished }
                guard let mine = open.first(where: { $0.spec.checkpoint == folder.fingerprint && $0.spec.calibration == set.fingerprint }) else {
                    if let other = open.first { try ScoringWorker.verify(other.spec, modelFingerprint: folder.fingerprint, modelPath: folder.path,
                                                                          calibrationFingerprint: set.fingerprint, dataPath: dataOptions.data) }
                    print("no unfinished scoring job in \(store.location)")
                    return
                }
                jobID = mine.id
            }
            let spec = try queue.spec(job: jobID)
            try ScoringWorker.verify(spec, modelFingerprint: folder.fingerprint, modelPath: folder.path,
                                     calibrationFingerprint: set.fingerprint, dataPath: dataOptions.data)
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
