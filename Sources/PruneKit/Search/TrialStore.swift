import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Trial states (Optuna's names, formats.md §4). WAITING: registered, not yet claimed; RUNNING: claimed by a
/// worker; COMPLETE: measured; PRUNED: infeasible, never evaluated (reason stored); FAIL: evaluation threw.
public enum TrialState: String, Sendable, CaseIterable, Codable { case waiting = "WAITING", running = "RUNNING", complete = "COMPLETE", pruned = "PRUNED", fail = "FAIL" }

/// Search stage a trial belongs to: `joint`, or `depth` / `width` for the paper's depth-then-width strategy.
public enum TrialStage: String, Sendable, CaseIterable, Codable { case joint, depth, width }

/// A stored search study: its recipe, fingerprints and candidate counts.
public struct StudyRecord: Sendable {
    public var id: Int64
    public var name: String
    public var recipePath: String
    /// The recipe file's text, as read.
    public var recipeYAML: String
    /// The parsed recipe with defaults (``Recipe/json``).
    public var recipeJSON: String
    /// The objective metric (minimized).
    public var objective: Recipe.Metric
    public var direction: String
    public var strategy: String
    public var selection: String
    public var checkpointPath: String
    public var checkpointFingerprint: String
    public var calibrationFingerprint: String
    public var heldoutFingerprint: String
    public var hardware: String
    /// Context (tokens) and batch of the memory budget; the budget in bytes.
    public var context: Int
    public var batch: Int
    public var budgetBytes: Int
    /// Candidates in the product of the search space, and those that satisfied every constraint.
    public var enumerated: Int
    public var feasible: Int
    /// Constraint → candidates it rejected (first failing constraint).
    public var rejections: [SearchError.Rejection]
    /// The full model's held-out loss, nats/token.
    public var fullLoss: Double?
    /// depth-then-width: the layer count chosen by the depth stage.
    public var bestDepth: Int?
    public var seed: UInt64
    public var toolVersion: String
    public var createdAt: String
    /// Trials per state.
    public var counts: [TrialState: Int]

    public var json: JSONValue {
        .object([("name", .string(name)), ("recipe_path", .string(recipePath)), ("objective", .string(objective.rawValue)),
                 ("direction", .string(direction)), ("strategy", .string(strategy)), ("selection", .string(selection)),
                 ("checkpoint_path", .string(checkpointPath)), ("checkpoint_fingerprint", .string(checkpointFingerprint)),
                 ("calibration_fingerprint", .string(calibrationFingerprint)), ("heldout_fingerprint", .string(heldoutFingerprint)),
                 ("hardware", .string(hardware)), ("context", .int(context)), ("batch", .int(batch)), ("budget_bytes", .int(budgetBytes)),
                 ("enumerated", .int(enumerated)), ("feasible", .int(feasible)),
                 ("rejections", .object(rejections.map { ($0.constraint, .int($0.count)) })),
                 ("full_loss", fullLoss.map { .double($0) } ?? .null), ("best_depth", bestDepth.map { .int($0) } ?? .null),
                 ("seed", .int(seed)), ("tool_version", .string(toolVersion)), ("created_at", .string(createdAt)),
                 ("trials", .object(TrialState.allCases.map { ($0.rawValue, .int(counts[$0] ?? 0)) }))])
    }
}

/// One stored trial: a candidate architecture, its cost-model figures, and (when COMPLETE) its metrics.
public struct TrialRecord: Sendable {
    public var id: Int64
    public var studyID: Int64
    /// Per-study trial number, from 0.
    public var number: Int
    public var stage: TrialStage
    public var state: TrialState
    public var architecture: TargetArchitecture
    public var archHash: String
    public var pattern: String
    public var params: Int
    public var weightBytes: Int
    /// Memory at the study's context × batch, its budget and the slack (budget − memory), bytes.
    public var memoryBytes: Int
    public var budgetBytes: Int
    public var slackBytes: Int
    public var fits: Bool
    public var maxBatch: Int
    /// Predicted output tokens/s per GPU at the recipe's ISL/OSL.
    public var tokensPerSecond: Double
    public var prunedReason: String?
    public var kl: Double?
    public var mse: Double?
    public var loss: Double?
    public var objectiveValue: Double?
    public var error: String?
    public var seed: UInt64
    public var toolVersion: String
    public var workerID: String?
    public var workerHost: String?
    public var workerPID: Int?
    public var attempts: Int
    public var createdAt: String
    public var claimedAt: String?
    /// Unix seconds of the last heartbeat.
    public var heartbeat: Double?
    public var finishedAt: String?
    public var evalSeconds: Double?

    init(row r: Row) throws {
        id = r["id"]; studyID = r["study_id"]; number = r["number"]
        stage = TrialStage(rawValue: r["stage"]) ?? .joint
        state = TrialState(rawValue: r["state"]) ?? .fail
        architecture = TargetArchitecture(numLayers: r["num_layers"], hiddenSize: r["hidden_size"], ffnHiddenSize: r["ffn_hidden_size"],
                                          mambaNumHeads: r["mamba_num_heads"], mambaHeadDim: r["mamba_head_dim"], numAttentionHeads: r["num_attention_heads"])
        archHash = r["arch_hash"]; pattern = r["pattern"]; params = r["params"]; weightBytes = r["weight_bytes"]
        memoryBytes = r["memory_bytes"]; budgetBytes = r["budget_bytes"]; slackBytes = r["slack_bytes"]
        fits = (r["fits"] as Int) != 0; maxBatch = r["max_batch"]; tokensPerSecond = r["tokens_per_second"]
        prunedReason = r["pruned_reason"]; kl = r["kl"]; mse = r["mse"]; loss = r["loss"]; objectiveValue = r["objective_value"]
        error = r["error"]; seed = UInt64(bitPattern: r["seed"] as Int64); toolVersion = r["tool_version"]
        workerID = r["worker_id"]; workerHost = r["worker_host"]; workerPID = r["worker_pid"]; attempts = r["attempts"]
        createdAt = r["created_at"]; claimedAt = r["claimed_at"]; heartbeat = r["heartbeat"]; finishedAt = r["finished_at"]
        evalSeconds = r["eval_seconds"]
    }

    public var json: JSONValue {
        func d(_ v: Double?) -> JSONValue { v.map { $0.isFinite ? .double($0) : .null } ?? .null }
        let a = architecture
        return .object([
            ("number", .int(number)), ("stage", .string(stage.rawValue)), ("state", .string(state.rawValue)),
            ("num_layers", .int(a.numLayers ?? 0)), ("hidden_size", .int(a.hiddenSize ?? 0)), ("ffn_hidden_size", .int(a.ffnHiddenSize ?? 0)),
            ("mamba_num_heads", .int(a.mambaNumHeads ?? 0)), ("mamba_head_dim", .int(a.mambaHeadDim ?? 0)),
            ("num_attention_heads", .int(a.numAttentionHeads ?? 0)), ("pattern", .string(pattern)),
            ("architecture_hash", .string(archHash)),
            ("params", .int(params)), ("weight_bytes", .int(weightBytes)), ("memory_bytes", .int(memoryBytes)),
            ("memory_gib", .double(GiB.of(memoryBytes))), ("budget_bytes", .int(budgetBytes)), ("slack_bytes", .int(slackBytes)),
            ("slack_gib", .double(GiB.of(slackBytes))), ("fits", .bool(fits)), ("max_batch", .int(maxBatch)),
            ("tokens_per_second", d(tokensPerSecond)), ("kl", d(kl)), ("mse", d(mse)), ("loss", d(loss)),
            ("objective_value", d(objectiveValue)), ("pruned_reason", prunedReason.map { .string($0) } ?? .null),
            ("error", error.map { .string($0) } ?? .null), ("seed", .int(seed)), ("tool_version", .string(toolVersion)),
            ("worker_id", workerID.map { .string($0) } ?? .null), ("attempts", .int(attempts)),
            ("created_at", .string(createdAt)), ("claimed_at", claimedAt.map { .string($0) } ?? .null),
            ("finished_at", finishedAt.map { .string($0) } ?? .null), ("eval_seconds", d(evalSeconds)),
        ])
    }
}

/// The identity of a worker process: host, pid and a per-run token.
public struct WorkerIdentity: Sendable, Equatable {
    public var host: String
    public var pid: Int
    /// Distinguishes workers in one process (threads) and runs reusing a pid.
    public var token: String
    public var id: String { "\(host):\(pid):\(token)" }

    public init(host: String, pid: Int, token: String) { self.host = host; self.pid = pid; self.token = token }

    public static func current() -> WorkerIdentity {
        WorkerIdentity(host: ProcessInfo.processInfo.hostName, pid: Int(ProcessInfo.processInfo.processIdentifier),
                       token: String(UUID().uuidString.prefix(8)).lowercased())
    }

    /// Whether process `pid` exists on this host and is not a zombie.
    public static func isAlive(pid: Int) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid_t(pid), 0) != 0 && errno == ESRCH { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let rest = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces)
            if rest.hasPrefix("Z") || rest.hasPrefix("X") { return false }
        }
        return true
    }
}

/// Studies and trials in the PruneKit database (formats.md §4). Short transactions; work is claimed with
/// `BEGIN IMMEDIATE`, so several `prunekit search` processes can share a study on one machine.
public struct TrialStore: Sendable {
    public let db: PruneKitDatabase
    public init(db: PruneKitDatabase) { self.db = db }
    /// Opens (creating and migrating if needed) the database at `path`.
    /// - Throws: ``StoreError``.
    public init(path: String) throws { self.db = try PruneKitDatabase(path: path) }

    func immediate<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try db.pool.writeWithoutTransaction { d in
                var out: T?
                try d.inTransaction(.immediate) { out = try body(d); return .commit }
                return out!
            }
        } catch let e as SearchError { throw e } catch { throw StoreError.wrap(error, path: db.path) }
    }

    // MARK: - Studies

    /// Names of all studies, oldest first.
    public func studyNames() throws -> [String] {
        try db.read { try String.fetchAll($0, sql: "SELECT name FROM studies ORDER BY id") }
    }

    /// Every study with its trial counts, oldest first.
    public func listStudies() throws -> [StudyRecord] {
        try db.read { d in try Row.fetchAll(d, sql: "SELECT * FROM studies ORDER BY id").map { try study(row: $0, d) } }
    }

    /// The study called `name`.
    /// - Throws: ``SearchError/unknownStudy(name:known:)``, ``StoreError``.
    public func study(named name: String) throws -> StudyRecord {
        let s = try db.read { d in try Row.fetchOne(d, sql: "SELECT * FROM studies WHERE name = ?", arguments: [name]).map { try study(row: $0, d) } }
        guard let s else { throw SearchError.unknownStudy(name: name, known: try studyNames()) }
        return s
    }

    private func study(row r: Row, _ d: Database) throws -> StudyRecord {
        let id: Int64 = r["id"]
        var counts = [TrialState: Int]()
        for row in try Row.fetchAll(d, sql: "SELECT state, COUNT(*) AS n FROM trials WHERE study_id = ? GROUP BY state", arguments: [id]) {
            if let s = TrialState(rawValue: row["state"]) { counts[s] = row["n"] }
        }
        let rj: String = r["rejections_json"]
        var rejections = [SearchError.Rejection]()
        if let j = try? JSONParser().parse(rj), let o = j.objectValue {
            rejections = o.map { SearchError.Rejection(constraint: $0.0, count: $0.1.intValue ?? 0) }
        }
        return StudyRecord(id: id, name: r["name"], recipePath: r["recipe_path"], recipeYAML: r["recipe_yaml"], recipeJSON: r["recipe_json"],
                           objective: Recipe.Metric(rawValue: r["objective"]) ?? .kl, direction: r["direction"], strategy: r["strategy"],
                           selection: r["selection"], checkpointPath: r["checkpoint_path"], checkpointFingerprint: r["checkpoint_fingerprint"],
                           calibrationFingerprint: r["calibration_fingerprint"], heldoutFingerprint: r["heldout_fingerprint"],
                           hardware: r["hardware"], context: r["context"], batch: r["batch"], budgetBytes: r["budget_bytes"],
                           enumerated: r["n_enumerated"], feasible: r["n_feasible"], rejections: rejections, fullLoss: r["full_loss"],
                           bestDepth: r["best_depth"], seed: UInt64(bitPattern: r["seed"] as Int64), toolVersion: r["tool_version"],
                           createdAt: r["created_at"], counts: counts)
    }

    /// What a search needs to open or create its study.
    public struct StudySpec: Sendable {
        public var name: String
        public var recipe: Recipe
        public var checkpointPath: String
        public var checkpointFingerprint: String
        public var calibrationFingerprint: String
        public var heldoutFingerprint: String
        public var plan: SearchPlan
        public var fullLoss: Double?
        public init(name: String, recipe: Recipe, checkpointPath: String, checkpointFingerprint: String, calibrationFingerprint: String,
                    heldoutFingerprint: String, plan: SearchPlan, fullLoss: Double?) {
            self.name = name; self.recipe = recipe; self.checkpointPath = checkpointPath; self.checkpointFingerprint = checkpointFingerprint
            self.calibrationFingerprint = calibrationFingerprint; self.heldoutFingerprint = heldoutFingerprint; self.plan = plan; self.fullLoss = fullLoss
        }
    }

    /// Returns the study `spec.name`, creating it if new. An existing study must have the same parsed recipe and
    /// the same checkpoint, calibration and held-out fingerprints.
    /// - Throws: ``SearchError/studyMismatch(study:message:)``, ``StoreError``.
    public func openStudy(_ spec: StudySpec) throws -> StudyRecord {
        let recipeJSON = JSONWriter(indent: nil).string(spec.recipe.json)
        let recipeHash = sha256Hex(Data(recipeJSON.utf8))
        try immediate { d in
            if let r = try Row.fetchOne(d, sql: "SELECT * FROM studies WHERE name = ?", arguments: [spec.name]) {
                func same(_ col: String, _ v: String, _ what: String) throws {
                    let have: String = r[col]
                    if have != v { throw SearchError.studyMismatch(study: spec.name, message: "it was created with a different \(what) (\(have.prefix(12))… vs \(v.prefix(12))…)") }
                }
                try same("recipe_hash", recipeHash, "recipe")
                try same("checkpoint_fingerprint", spec.checkpointFingerprint, "checkpoint")
                try same("calibration_fingerprint", spec.calibrationFingerprint, "calibration set")
                try same("heldout_fingerprint", spec.heldoutFingerprint, "held-out set")
                return
            }
            let rej = JSONWriter(indent: nil).string(.object(spec.plan.rejections.map { ($0.constraint, .int($0.count)) }))
            try d.execute(sql: """
                INSERT INTO studies (name, recipe_path, recipe_yaml, recipe_json, recipe_hash, objective, strategy, selection,
                    checkpoint_path, checkpoint_fingerprint, calibration_fingerprint, heldout_fingerprint, hardware, context, batch,
                    budget_bytes, n_enumerated, n_feasible, rejections_json, full_loss, seed, tool_version, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [spec.name, spec.recipe.path, spec.recipe.yaml, recipeJSON, recipeHash, spec.recipe.objective.rawValue,
                                 spec.recipe.strategy.rawValue, spec.recipe.selection.rawValue, spec.checkpointPath, spec.checkpointFingerprint,
                                 spec.calibrationFingerprint, spec.heldoutFingerprint, spec.recipe.hardwareDescription, spec.recipe.context,
                                 spec.recipe.batch, spec.plan.budgetBytes, spec.plan.candidates.count, spec.plan.feasible.count, rej,
                                 spec.fullLoss, Int64(bitPattern: spec.recipe.seed), PruneKitVersion.string, timestampNow()])
        }
        return try study(named: spec.name)
    }

    /// Records the depth chosen by the depth stage.
    public func setBestDepth(study: Int64, depth: Int) throws {
        try db.write { try $0.execute(sql: "UPDATE studies SET best_depth = ? WHERE id = ?", arguments: [depth, study]) }
    }

    // MARK: - Trials

    /// Registers candidates as trials in one `BEGIN IMMEDIATE` transaction: feasible ones WAITING (evaluated),
    /// infeasible ones PRUNED with their reason. Existing architectures (same hash) are left as they are.
    /// - Returns: the number of new trials.
    @discardableResult
    public func register(study: Int64, stage: TrialStage, evaluate: [Candidate], pruned: [Candidate], seed: UInt64) throws -> Int {
        try immediate { d in
            var next = (try Int.fetchOne(d, sql: "SELECT MAX(number) FROM trials WHERE study_id = ?", arguments: [study]) ?? -1) + 1
            var added = 0
            let now = timestampNow()
            for (c, state) in evaluate.map({ ($0, TrialState.waiting) }) + pruned.map({ ($0, TrialState.pruned) }) {
                let a = c.architecture, r = c.cost
                let json = String(decoding: try JSONEncoder().encode(a), as: UTF8.self)
                try d.execute(sql: """
                    INSERT OR IGNORE INTO trials (study_id, number, stage, state, arch_json, arch_hash, num_layers, hidden_size,
                        ffn_hidden_size, mamba_num_heads, mamba_head_dim, num_attention_heads, pattern, params, weight_bytes,
                        memory_bytes, budget_bytes, slack_bytes, fits, max_batch, tokens_per_second, pruned_reason, seed,
                        tool_version, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [study, next, stage.rawValue, state.rawValue, json, a.hash, a.numLayers, a.hiddenSize, a.ffnHiddenSize,
                                     a.mambaNumHeads, a.mambaHeadDim, a.numAttentionHeads, c.pattern, r.parameters, r.weightBytes,
                                     r.memoryBytes, r.budgetBytes, r.slackBytes, r.fits ? 1 : 0, r.maxBatch,
                                     r.outputTokensPerSecond.isFinite ? r.outputTokensPerSecond : 0,
                                     state == .pruned ? (c.rejection.map { "\($0.constraint): \($0.reason)" } ?? "infeasible") : nil,
                                     Int64(bitPattern: seed), PruneKitVersion.string, now])
                if d.changesCount > 0 { next += 1; added += 1 }
            }
            return added
        }
    }

    /// Result of trying to claim work.
    public enum Claim: Sendable {
        /// This worker now owns the trial (state RUNNING).
        case claimed(TrialRecord)
        /// Nothing to claim, but trials of the stage are RUNNING in live workers: wait and try again.
        case busy(running: Int)
        /// Every trial of the stage is finished (COMPLETE, FAIL or PRUNED).
        case done
    }

    /// Claims the next WAITING trial of `stages` (lowest number first), or a RUNNING one whose worker is dead
    /// (same host and its pid gone) or whose heartbeat is older than `staleAfter` seconds; in one
    /// `BEGIN IMMEDIATE` transaction, so two workers never claim the same trial.
    public func claimNext(study: Int64, stages: [TrialStage], worker: WorkerIdentity, staleAfter: Double) throws -> Claim {
        try immediate { d in
            let marks = stages.map { _ in "?" }.joined(separator: ", ")
            var args: [DatabaseValueConvertible] = [study]
            args += stages.map(\.rawValue)
            let rows = try Row.fetchAll(d, sql: """
                SELECT id, state, worker_host, worker_pid, worker_id, heartbeat FROM trials
                WHERE study_id = ? AND stage IN (\(marks)) AND state IN ('WAITING', 'RUNNING') ORDER BY number
                """, arguments: StatementArguments(args))
            let now = Date().timeIntervalSince1970
            var live = 0
            for r in rows {
                let id: Int64 = r["id"]
                if r["state"] as String == TrialState.running.rawValue {
                    let host: String? = r["worker_host"], pid: Int? = r["worker_pid"], hb: Double? = r["heartbeat"]
                    let dead = (host == worker.host && pid.map { !WorkerIdentity.isAlive(pid: $0) } == true)
                        || (hb.map { now - $0 > staleAfter } ?? true)
                    // A trial claimed by this very worker token (an earlier loop iteration) is never re-claimed here.
                    if !dead || (r["worker_id"] as String?) == worker.id { live += 1; continue }
                }
                try d.execute(sql: """
                    UPDATE trials SET state = 'RUNNING', worker_id = ?, worker_host = ?, worker_pid = ?, claimed_at = ?, heartbeat = ?,
                        attempts = attempts + 1, error = NULL WHERE id = ?
                    """, arguments: [worker.id, worker.host, worker.pid, timestampNow(), now, id])
                let row = try Row.fetchOne(d, sql: "SELECT * FROM trials WHERE id = ?", arguments: [id])!
                return .claimed(try TrialRecord(row: row))
            }
            return live > 0 ? .busy(running: live) : .done
        }
    }

    /// Updates the heartbeat of a trial this worker owns.
    public func heartbeat(trial: Int64, worker: WorkerIdentity) throws {
        try db.write { try $0.execute(sql: "UPDATE trials SET heartbeat = ? WHERE id = ? AND worker_id = ? AND state = 'RUNNING'",
                                      arguments: [Date().timeIntervalSince1970, trial, worker.id]) }
    }

    /// Stores the metrics of a trial this worker owns and marks it COMPLETE.
    /// - Returns: false when the trial was no longer this worker's (it was reclaimed as stale).
    @discardableResult
    public func complete(trial: Int64, worker: WorkerIdentity, metrics: CandidateMetrics, objective: Recipe.Metric) throws -> Bool {
        try db.write { d in
            try d.execute(sql: """
                UPDATE trials SET state = 'COMPLETE', kl = ?, mse = ?, loss = ?, objective_value = ?, finished_at = ?, eval_seconds = ?,
                    heartbeat = ? WHERE id = ? AND worker_id = ? AND state = 'RUNNING'
                """, arguments: [metrics.kl, metrics.mse, metrics.loss, metrics.value(objective), timestampNow(), metrics.seconds,
                                 Date().timeIntervalSince1970, trial, worker.id])
            return d.changesCount > 0
        }
    }

    /// Marks a trial this worker owns FAIL with the error text.
    public func fail(trial: Int64, worker: WorkerIdentity, error: String, seconds: Double) throws {
        try db.write { try $0.execute(sql: """
            UPDATE trials SET state = 'FAIL', error = ?, finished_at = ?, eval_seconds = ? WHERE id = ? AND worker_id = ? AND state = 'RUNNING'
            """, arguments: [error, timestampNow(), seconds, trial, worker.id]) }
    }

    /// Puts FAIL trials of a study back to WAITING (`--retry-failed`). Returns how many.
    @discardableResult
    public func retryFailed(study: Int64) throws -> Int {
        try db.write { d in
            try d.execute(sql: "UPDATE trials SET state = 'WAITING', error = NULL WHERE study_id = ? AND state = 'FAIL'", arguments: [study])
            return d.changesCount
        }
    }

    /// Every trial of a study (all states), by number.
    public func trials(study: Int64) throws -> [TrialRecord] {
        try db.read { d in try Row.fetchAll(d, sql: "SELECT * FROM trials WHERE study_id = ? ORDER BY number", arguments: [study]).map(TrialRecord.init(row:)) }
    }

    /// The trial numbered `number` in a study, or nil.
    public func trial(study: Int64, number: Int) throws -> TrialRecord? {
        try db.read { d in try Row.fetchOne(d, sql: "SELECT * FROM trials WHERE study_id = ? AND number = ?", arguments: [study, number]).map(TrialRecord.init(row:)) }
    }

    /// Feasible COMPLETE trials ranked by the objective (minimized), ties by predicted tokens/s then number.
    public static func leaderboard(_ trials: [TrialRecord]) -> [TrialRecord] {
        trials.filter { $0.state == .complete && $0.fits && $0.objectiveValue != nil }.sorted {
            ($0.objectiveValue!, -$0.tokensPerSecond, $0.number) < ($1.objectiveValue!, -$1.tokensPerSecond, $1.number)
        }
    }

    /// The best feasible COMPLETE trial of a study by its objective, or nil when none is complete.
    public func bestTrial(study: StudyRecord) throws -> TrialRecord? {
        Self.leaderboard(try trials(study: study.id)).first
    }

    /// The Pareto front of feasible COMPLETE trials for (predicted tokens/s: maximize, KL: minimize) — Optuna's
    /// multi-objective "best trials" with the memory constraint (memory − budget ≤ 0). Sorted by throughput,
    /// highest first. A trial is on the front when no other is at least as good in both and better in one.
    public static func paretoFront(_ trials: [TrialRecord]) -> [TrialRecord] {
        let ok = trials.filter { $0.state == .complete && $0.fits && $0.kl != nil }
        return ok.filter { t in
            !ok.contains { o in
                o.tokensPerSecond >= t.tokensPerSecond && o.kl! <= t.kl! && (o.tokensPerSecond > t.tokensPerSecond || o.kl! < t.kl!)
            }
        }.sorted { ($0.tokensPerSecond, $1.number) > ($1.tokensPerSecond, $0.number) }
    }
}
