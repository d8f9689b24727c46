import Foundation
import PostgresNIO
import PruneKit

/// The PostgreSQL store, for a study shared by workers on several machines (the conventional setup of Optuna's RDB
/// storage): the same schema and migration list as ``SQLiteStudyStore`` (``StoreMigrations``, PostgreSQL dialect),
/// through one ``PostgresSession``.
///
/// What holds across machines:
/// - **Claims** are one statement, `UPDATE … FROM (SELECT … ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED)`: two
///   workers never take the same trial, and a worker never waits for another's claim.
/// - **Leases** are on the database's clock (`clock_timestamp()`, Unix seconds in `trials.heartbeat`), never a
///   worker's: a RUNNING trial whose heartbeat is older than the lease is taken over by the next claim. On the
///   claimer's own host a trial whose worker pid is gone is taken over at once.
/// - **Unique architecture per study** (`UNIQUE (study_id, arch_hash)`, `INSERT … ON CONFLICT DO NOTHING`);
///   registration locks the study row, so concurrent workers number new trials without collisions.
/// - **One transaction** per method; every value is a bound parameter.
/// - **Migrations** run under a transaction-scoped advisory lock, recorded in `prunekit_migrations`; a database
///   that records a migration this PruneKit does not know is refused (``StoreError/newerSchema(location:unknown:)``).
/// - Connection loss is retried as ``PostgresSession`` describes, then ``PostgresStoreError/connectionLost(url:attempts:seconds:message:)``.
public final class PostgresStudyStore: StudyStore, @unchecked Sendable {
    public let url: PostgresURL
    public let mode: StoreMode
    public var location: StoreLocation { .postgres(url: url.redacted) }
    let session: PostgresSession

    /// Any constant shared by every PruneKit: the key of the advisory lock that serializes migrations.
    static let migrationLock: Int64 = 0x5072_756e_654b_6974  // "PruneKit"

    /// Connects to `url` and checks (read-only) or brings up to date (read-write) the schema.
    /// - Throws: ``PostgresStoreError`` (bad URL, unreachable, authentication, missing database, permission denied),
    ///   ``StoreError/notPruneKit(location:tables:)`` (other tables, or an empty database opened read-only),
    ///   ``StoreError/newerSchema(location:unknown:)``.
    public init(url text: String, mode: StoreMode = .readWrite) throws {
        url = try PostgresURL(text)
        self.mode = mode
        session = try PostgresSession(url: url)
        do {
            let tables = try session.query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()")
                .map { try $0[0].decode(String.self) }
            let known = Set(StoreMigrations.all.map(\.id))
            if !tables.isEmpty && !tables.contains("prunekit_migrations") {
                throw StoreError.notPruneKit(location: url.redacted, tables: tables.sorted())
            }
            switch mode {
            case .readOnly:
                if tables.isEmpty { throw StoreError.notPruneKit(location: url.redacted, tables: []) }
                let applied = try session.query("SELECT identifier FROM prunekit_migrations").map { try $0[0].decode(String.self) }
                let unknown = applied.filter { !known.contains($0) }
                if !unknown.isEmpty { throw StoreError.newerSchema(location: url.redacted, unknown: unknown) }
                // Pending migrations that only rewrite stored values (the readers accept the older form) do not stop
                // a reader; a pending schema change does: reading an older schema would need per-version queries, and
                // `prunekit` of this version migrates it on any write.
                let pendingSchema = StoreMigrations.all.filter { !applied.contains($0.id) && !$0.postgres.isEmpty }.map(\.id)
                if !pendingSchema.isEmpty {
                    throw StoreError.unavailable(location: url.redacted, message: "written by an older PruneKit (migrations \(pendingSchema.joined(separator: ", ")) pending); run a writing command (e.g. `prunekit search` on one of its studies) once to migrate it")
                }
            case .readWrite:
                try migrate(known: known)
            }
        } catch {
            session.close()
            throw error
        }
    }

    /// Applies pending migrations in one transaction, under an advisory lock so concurrent first openings wait.
    private func migrate(known: Set<String>) throws {
        try session.transaction { tx in
            try tx.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))")
            try tx.execute("""
                CREATE TABLE IF NOT EXISTS prunekit_migrations (identifier TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """)
            let applied = Set(try tx.query("SELECT identifier FROM prunekit_migrations").map { try $0[0].decode(String.self) })
            let unknown = applied.subtracting(known)
            if !unknown.isEmpty { throw StoreError.newerSchema(location: url.redacted, unknown: unknown.sorted()) }
            for m in StoreMigrations.all where !applied.contains(m.id) {
                // The statements are the migration list's constants, never built from input.
                for sql in m.postgres { try tx.execute(PostgresQuery(unsafeSQL: sql)) }
                for r in m.rewrites {
                    // Table and column are the migration list's constants; values are bound.
                    for row in try tx.query("SELECT id, \(unescaped: r.column) FROM \(unescaped: r.table) WHERE \(unescaped: r.column) IS NOT NULL") {
                        let id = try row[0].decode(Int64.self)
                        let value = try r.apply(try row[1].decode(String.self), id: id, location: url.redacted)
                        try tx.execute("UPDATE \(unescaped: r.table) SET \(unescaped: r.column) = \(value) WHERE id = \(id)")
                    }
                }
                try tx.execute("INSERT INTO prunekit_migrations (identifier) VALUES (\(m.id))")
            }
        }
    }

    private func writable() throws {
        guard mode == .readWrite else { throw StoreError.readOnlyMode(location: url.redacted) }
    }

    private func write<T>(_ body: (PostgresSession.Transaction) throws -> T) throws -> T {
        try writable()
        return try session.transaction(body)
    }

    // MARK: - Scores

    public func scores(_ key: ScoreKey) throws -> ScoreSet? {
        try session.query("""
            SELECT * FROM importance_scores WHERE checkpoint_fingerprint = \(key.checkpointFingerprint)
                AND calibration_fingerprint = \(key.calibrationFingerprint) AND options_key = \(key.optionsKey)
            """).first.map(scoreSet)
    }

    public func scoreKeys() throws -> [ScoreKey] {
        try session.query("SELECT checkpoint_fingerprint, calibration_fingerprint, options_key FROM importance_scores ORDER BY id").map { r in
            ScoreKey(checkpointFingerprint: try r.v("checkpoint_fingerprint"), calibrationFingerprint: try r.v("calibration_fingerprint"),
                     optionsKey: try r.v("options_key"))
        }
    }

    private func scoreSet(_ r: PostgresRandomAccessRow) throws -> ScoreSet {
        let key = ScoreKey(checkpointFingerprint: try r.v("checkpoint_fingerprint"), calibrationFingerprint: try r.v("calibration_fingerprint"),
                           optionsKey: try r.v("options_key"))
        let scores: ImportanceScores
        do { scores = try StoreJSON.decode(ImportanceScores.self, try r.v("scores_json")) } catch {
            throw StoreError.corrupt(path: url.redacted, message: "stored scores for \(key.checkpointFingerprint.prefix(12))… do not decode: \(error)")
        }
        return ScoreSet(key: key, checkpointPath: try r.v("checkpoint_path"), calibrationSource: try r.v("calibration_source"),
                        samples: try r.v("samples"), tokens: try r.v("tokens"), scores: scores, seconds: try r.v("seconds"),
                        layerEvaluations: try r.v("layer_evaluations"), toolVersion: try r.v("tool_version"), createdAt: try r.v("created_at"))
    }

    public func saveScores(_ s: ScoreSet) throws {
        let json = try StoreJSON.encode(s.scores)
        try write { tx in
            // SQLite's INSERT OR REPLACE is PostgreSQL's ON CONFLICT … DO UPDATE.
            try tx.execute("""
                INSERT INTO importance_scores
                (checkpoint_fingerprint, calibration_fingerprint, options_key, checkpoint_path, calibration_source,
                 samples, tokens, scores_json, seconds, layer_evaluations, tool_version, created_at)
                VALUES (\(s.key.checkpointFingerprint), \(s.key.calibrationFingerprint), \(s.key.optionsKey), \(s.checkpointPath),
                        \(s.calibrationSource), \(s.samples), \(s.tokens), \(json), \(s.seconds), \(s.layerEvaluations), \(s.toolVersion), \(s.createdAt))
                ON CONFLICT (checkpoint_fingerprint, calibration_fingerprint, options_key) DO UPDATE SET
                    checkpoint_path = EXCLUDED.checkpoint_path, calibration_source = EXCLUDED.calibration_source, samples = EXCLUDED.samples,
                    tokens = EXCLUDED.tokens, scores_json = EXCLUDED.scores_json, seconds = EXCLUDED.seconds,
                    layer_evaluations = EXCLUDED.layer_evaluations, tool_version = EXCLUDED.tool_version, created_at = EXCLUDED.created_at
                """)
        }
    }

    // MARK: - Studies

    public func listStudies() throws -> [StudyRecord] {
        try session.transaction { tx in try tx.query("SELECT * FROM studies ORDER BY id").map { try study(row: $0, tx) } }
    }

    public func study(named name: String) throws -> StudyRecord {
        let s = try session.transaction { tx in try tx.query("SELECT * FROM studies WHERE name = \(name)").first.map { try study(row: $0, tx) } }
        guard let s else { throw SearchError.unknownStudy(name: name, known: try studyNames()) }
        return s
    }

    private func study(row r: PostgresRandomAccessRow, _ tx: PostgresSession.Transaction) throws -> StudyRecord {
        let id: Int64 = try r.v("id")
        var counts = [TrialState: Int]()
        for row in try tx.query("SELECT state, COUNT(*) AS n FROM trials WHERE study_id = \(id) GROUP BY state") {
            if let s = TrialState(rawValue: try row.v("state")) { counts[s] = try row.v("n") }
        }
        let studyName: String = try r.v("name")
        let where_ = "study '\(studyName)'"
        let rejections = try StoreJSON.decode(RejectionCounts.self, try r.v("rejections_json"), location: url.redacted,
                                              column: "studies.rejections_json", row: where_).list
        let source: SourceSummary? = try (try r.v("source_json") as String?).map {
            try StoreJSON.decode(SourceSummary.self, $0, location: url.redacted, column: "studies.source_json", row: where_)
        }
        return StudyRecord(id: id, name: try r.v("name"), recipePath: try r.v("recipe_path"), recipeYAML: try r.v("recipe_yaml"),
                           recipeJSON: try r.v("recipe_json"), recipeHash: try r.v("recipe_hash"),
                           objective: Recipe.Metric(rawValue: try r.v("objective")) ?? .kl, direction: try r.v("direction"),
                           strategy: try r.v("strategy"), selection: try r.v("selection"), checkpointPath: try r.v("checkpoint_path"),
                           checkpointFingerprint: try r.v("checkpoint_fingerprint"), calibrationFingerprint: try r.v("calibration_fingerprint"),
                           heldoutFingerprint: try r.v("heldout_fingerprint"), calibrationPath: try r.v("calibration_path"),
                           heldoutPath: try r.v("heldout_path"), scoreOptionsKey: try r.v("score_options_key"), hardware: try r.v("hardware"),
                           context: try r.v("context"), batch: try r.v("batch"), budgetBytes: try r.v("budget_bytes"),
                           inputLength: try r.v("input_length"), outputLength: try r.v("output_length"), topK: try r.v("top_k"),
                           enumerated: try r.v("n_enumerated"), feasible: try r.v("n_feasible"), rejections: rejections, source: source,
                           fullLoss: try r.v("full_loss"), bestDepth: try r.v("best_depth"), seed: UInt64(bitPattern: try r.v("seed") as Int64),
                           toolVersion: try r.v("tool_version"), createdAt: try r.v("created_at"), counts: counts)
    }

    /// Inserts a study row (the name must be free); returns its id.
    private func insert(_ s: StudyRecord, _ tx: PostgresSession.Transaction) throws -> Int64 {
        let rejections = try StoreJSON.encode(RejectionCounts(list: s.rejections))
        let source = try s.source.map { try StoreJSON.encode($0) }
        let fullLoss = s.fullLoss.flatMap { $0.isFinite ? $0 : nil }
        return try tx.query("""
            INSERT INTO studies (name, recipe_path, recipe_yaml, recipe_json, recipe_hash, objective, direction, strategy, selection,
                checkpoint_path, checkpoint_fingerprint, calibration_fingerprint, heldout_fingerprint, hardware, context, batch,
                budget_bytes, n_enumerated, n_feasible, rejections_json, full_loss, best_depth, seed, tool_version, created_at,
                calibration_path, heldout_path, score_options_key, input_length, output_length, top_k, source_json)
            VALUES (\(s.name), \(s.recipePath), \(s.recipeYAML), \(s.recipeJSON), \(s.recipeHash), \(s.objective.rawValue), \(s.direction),
                \(s.strategy), \(s.selection), \(s.checkpointPath), \(s.checkpointFingerprint), \(s.calibrationFingerprint),
                \(s.heldoutFingerprint), \(s.hardware), \(s.context), \(s.batch), \(s.budgetBytes), \(s.enumerated), \(s.feasible),
                \(rejections), \(fullLoss), \(s.bestDepth), \(Int64(bitPattern: s.seed)), \(s.toolVersion), \(s.createdAt),
                \(s.calibrationPath), \(s.heldoutPath), \(s.scoreOptionsKey), \(s.inputLength), \(s.outputLength), \(s.topK), \(source))
            RETURNING id
            """)[0][0].decode(Int64.self)
    }

    public func openStudy(_ new: StudyRecord) throws -> StudyRecord {
        let source = try new.source.map { try StoreJSON.encode($0) }
        return try write { tx in
            // Serialize concurrent openings of the same new name: the UNIQUE (name) insert of the second would fail.
            try tx.query("SELECT pg_advisory_xact_lock(hashtextextended(\("prunekit study " + new.name), 0))")
            if let r = try tx.query("SELECT * FROM studies WHERE name = \(new.name) FOR UPDATE").first {
                let id: Int64 = try r.v("id")
                try StudyRecord.checkSame(existing: study(row: r, tx), new: new)
                let have: Int? = try r.v("top_k")
                if let k = new.topK, have.map({ k > $0 }) ?? true {
                    try tx.execute("UPDATE studies SET top_k = \(k) WHERE id = \(id)")
                }
                // Fill what an older PruneKit did not record.
                try tx.execute("""
                    UPDATE studies SET calibration_path = COALESCE(calibration_path, \(new.calibrationPath)),
                        heldout_path = COALESCE(heldout_path, \(new.heldoutPath)),
                        score_options_key = COALESCE(score_options_key, \(new.scoreOptionsKey)),
                        input_length = COALESCE(input_length, \(new.inputLength)), output_length = COALESCE(output_length, \(new.outputLength)),
                        source_json = COALESCE(source_json, \(source)) WHERE id = \(id)
                    """)
            } else {
                _ = try insert(new, tx)
            }
            return try study(row: try tx.query("SELECT * FROM studies WHERE name = \(new.name)")[0], tx)
        }
    }

    public func setBestDepth(study: Int64, depth: Int) throws {
        try write { try $0.execute("UPDATE studies SET best_depth = \(depth) WHERE id = \(study)") }
    }

    public func setFullLoss(study: Int64, loss: Double) throws {
        try write { try $0.execute("UPDATE studies SET full_loss = \(loss) WHERE id = \(study)") }
    }

    // MARK: - Blobs

    public func saveBlob(study: Int64, name: String, data: Data) throws {
        try write { tx in
            // SQLite's INSERT OR REPLACE is PostgreSQL's ON CONFLICT … DO UPDATE.
            try tx.execute("""
                INSERT INTO study_blobs (study_id, name, data, created_at) VALUES (\(study), \(name), \(data), \(timestampNow()))
                ON CONFLICT (study_id, name) DO UPDATE SET data = EXCLUDED.data, created_at = EXCLUDED.created_at
                """)
        }
    }

    public func blob(study: Int64, name: String) throws -> Data? {
        try session.query("SELECT data FROM study_blobs WHERE study_id = \(study) AND name = \(name)").first
            .map { Data(try $0[0].decode(ByteBuffer.self).readableBytesView) }
    }

    public func blobNames(study: Int64) throws -> [String] {
        try session.query("SELECT name FROM study_blobs WHERE study_id = \(study) ORDER BY name").map { try $0[0].decode(String.self) }
    }

    // MARK: - Trials

    private func trial(row r: PostgresRandomAccessRow) throws -> TrialRecord {
        let where_ = "trial \(try r.v("number") as Int) of study id \(try r.v("study_id") as Int64)"
        let kept: [Int]? = try (try r.v("kept_layers_json") as String?).map {
            try StoreJSON.decode([Int].self, $0, location: url.redacted, column: "trials.kept_layers_json", row: where_)
        }
        let arch = Architecture(numLayers: try r.v("num_layers"), hiddenSize: try r.v("hidden_size"), ffnHiddenSize: try r.v("ffn_hidden_size"),
                                mambaNumHeads: try r.v("mamba_num_heads"), mambaHeadDim: try r.v("mamba_head_dim"),
                                numAttentionHeads: try r.v("num_attention_heads"), pattern: try r.v("pattern"), keptLayers: kept)
        let stageText: String = try r.v("stage"), stateText: String = try r.v("state"), number: Int = try r.v("number")
        guard let stage = TrialStage(rawValue: stageText), let state = TrialState(rawValue: stateText) else {
            throw StoreError.corrupt(path: url.redacted, message: "trial \(number) has stage '\(stageText)' / state '\(stateText)'")
        }
        var t = TrialRecord(id: try r.v("id"), studyID: try r.v("study_id"), number: number, stage: stage, state: state, architecture: arch,
                            archHash: try r.v("arch_hash"))
        t.params = try r.v("params"); t.weightBytes = try r.v("weight_bytes"); t.memoryBytes = try r.v("memory_bytes")
        t.budgetBytes = try r.v("budget_bytes"); t.slackBytes = try r.v("slack_bytes"); t.fits = (try r.v("fits") as Int) != 0
        t.maxBatch = try r.v("max_batch"); t.tokensPerSecond = try r.v("tokens_per_second")
        t.cost = try (try r.v("cost_json") as String?).map {
            try StoreJSON.decode(CostFigures.self, $0, location: url.redacted, column: "trials.cost_json", row: where_)
        }
        t.prunedReason = try r.v("pruned_reason"); t.kl = try r.v("kl"); t.mse = try r.v("mse"); t.loss = try r.v("loss")
        t.objectiveValue = try r.v("objective_value"); t.error = try r.v("error"); t.seed = UInt64(bitPattern: try r.v("seed") as Int64)
        t.toolVersion = try r.v("tool_version"); t.workerID = try r.v("worker_id"); t.workerHost = try r.v("worker_host")
        t.workerPID = try r.v("worker_pid"); t.attempts = try r.v("attempts"); t.createdAt = try r.v("created_at")
        t.claimedAt = try r.v("claimed_at"); t.heartbeat = try r.v("heartbeat"); t.finishedAt = try r.v("finished_at")
        t.evalSeconds = try r.v("eval_seconds")
        return t
    }

    /// Inserts a trial unless the study has its architecture; returns whether it was inserted.
    /// (SQLite's `INSERT OR IGNORE` is `ON CONFLICT (study_id, arch_hash) DO NOTHING` here: only the architecture
    /// conflict is ignored, a number conflict is an error.)
    private func insert(_ t: TrialRecord, study: Int64, number: Int, _ tx: PostgresSession.Transaction) throws -> Bool {
        let a = t.architecture
        let kept = try a.keptLayers.map { try StoreJSON.encode($0) }, cost = try t.cost.map { try StoreJSON.encode($0) }
        let tps = t.tokensPerSecond.isFinite ? t.tokensPerSecond : 0
        return try tx.execute("""
            INSERT INTO trials (study_id, number, stage, state, arch_json, arch_hash, num_layers, hidden_size,
                ffn_hidden_size, mamba_num_heads, mamba_head_dim, num_attention_heads, pattern, params, weight_bytes,
                memory_bytes, budget_bytes, slack_bytes, fits, max_batch, tokens_per_second, pruned_reason, kl, mse, loss,
                objective_value, error, seed, tool_version, worker_id, worker_host, worker_pid, attempts, created_at, claimed_at,
                heartbeat, finished_at, eval_seconds, kept_layers_json, cost_json)
            VALUES (\(study), \(number), \(t.stage.rawValue), \(t.state.rawValue), \(a.candidateTarget.canonicalJSON), \(t.archHash),
                \(a.numLayers), \(a.hiddenSize), \(a.ffnHiddenSize), \(a.mambaNumHeads), \(a.mambaHeadDim), \(a.numAttentionHeads),
                \(a.pattern), \(t.params), \(t.weightBytes), \(t.memoryBytes), \(t.budgetBytes), \(t.slackBytes), \(t.fits ? 1 : 0),
                \(t.maxBatch), \(tps), \(t.prunedReason), \(t.kl), \(t.mse), \(t.loss), \(t.objectiveValue), \(t.error),
                \(Int64(bitPattern: t.seed)), \(t.toolVersion), \(t.workerID), \(t.workerHost), \(t.workerPID), \(t.attempts),
                \(t.createdAt), \(t.claimedAt), \(t.heartbeat), \(t.finishedAt), \(t.evalSeconds), \(kept), \(cost))
            ON CONFLICT (study_id, arch_hash) DO NOTHING
            """) > 0
    }

    @discardableResult
    public func register(study: Int64, trials: [TrialRecord]) throws -> Int {
        try write { tx in
            // Lock the study row: concurrent registrations number their trials one after the other.
            try tx.query("SELECT id FROM studies WHERE id = \(study) FOR UPDATE")
            var next = (try tx.query("SELECT MAX(number) FROM trials WHERE study_id = \(study)")[0][0].decode(Int?.self) ?? -1) + 1
            var added = 0
            for var t in trials {
                t.attempts = 0; t.workerID = nil; t.workerHost = nil; t.workerPID = nil; t.claimedAt = nil; t.heartbeat = nil
                if try insert(t, study: study, number: next, tx) { next += 1; added += 1 }
            }
            return added
        }
    }

    /// The database clock in Unix seconds: `clock_timestamp()` (the statement's time, not the transaction's start).
    static let nowSQL = "extract(epoch from clock_timestamp())::float8"

    public func claimNext(study: Int64, stages: [TrialStage], worker: WorkerIdentity, lease: Double) throws -> TrialClaim {
        let stageNames = stages.map(\.rawValue)
        return try write { tx in
            // Trials RUNNING on this host whose worker process is gone: taken over without waiting for the lease.
            var dead = [Int64]()
            for r in try tx.query("""
                SELECT id, worker_pid FROM trials WHERE study_id = \(study) AND stage = ANY(\(stageNames)) AND state = 'RUNNING'
                    AND worker_host = \(worker.host) AND worker_id IS DISTINCT FROM \(worker.id)
                """) {
                if let pid: Int = try r.v("worker_pid"), !WorkerIdentity.isAlive(pid: pid) { dead.append(try r.v("id")) }
            }
            // One statement: the lowest-numbered claimable trial, skipping rows another worker is claiming right now.
            let claimed = try tx.query("""
                UPDATE trials SET state = 'RUNNING', worker_id = \(worker.id), worker_host = \(worker.host), worker_pid = \(worker.pid),
                    claimed_at = \(timestampNow()), heartbeat = \(unescaped: Self.nowSQL), attempts = attempts + 1, error = NULL
                FROM (SELECT id FROM trials
                      WHERE study_id = \(study) AND stage = ANY(\(stageNames))
                        AND (state = 'WAITING'
                             OR (state = 'RUNNING' AND worker_id IS DISTINCT FROM \(worker.id)
                                 AND (heartbeat IS NULL OR heartbeat < \(unescaped: Self.nowSQL) - \(lease) OR id = ANY(\(dead)))))
                      ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED) AS next
                WHERE trials.id = next.id
                RETURNING trials.*
                """)
            if let row = claimed.first { return .claimed(try trial(row: row)) }
            // Nothing claimable: unfinished trials are running (or being claimed) elsewhere, or the stages are done.
            let open: Int = try tx.query("""
                SELECT COUNT(*) FROM trials WHERE study_id = \(study) AND stage = ANY(\(stageNames)) AND state IN ('WAITING', 'RUNNING')
                """)[0][0].decode(Int.self)
            return open > 0 ? .busy(running: open) : .done
        }
    }

    public func heartbeat(trial: Int64, worker: WorkerIdentity) throws {
        try write { tx in
            try tx.execute("""
                UPDATE trials SET heartbeat = \(unescaped: Self.nowSQL) WHERE id = \(trial) AND worker_id = \(worker.id) AND state = 'RUNNING'
                """)
        }
    }

    @discardableResult
    public func complete(trial: Int64, worker: WorkerIdentity, metrics: CandidateMetrics, objective: Recipe.Metric) throws -> Bool {
        try write { tx in
            try tx.execute("""
                UPDATE trials SET state = 'COMPLETE', kl = \(metrics.kl), mse = \(metrics.mse), loss = \(metrics.loss),
                    objective_value = \(metrics.value(objective)), finished_at = \(timestampNow()), eval_seconds = \(metrics.seconds),
                    heartbeat = \(unescaped: Self.nowSQL)
                WHERE id = \(trial) AND worker_id = \(worker.id) AND state = 'RUNNING'
                """) > 0
        }
    }

    public func fail(trial: Int64, worker: WorkerIdentity, error: String, seconds: Double) throws {
        _ = try write { tx in
            try tx.execute("""
                UPDATE trials SET state = 'FAIL', error = \(error), finished_at = \(timestampNow()), eval_seconds = \(seconds)
                WHERE id = \(trial) AND worker_id = \(worker.id) AND state = 'RUNNING'
                """)
        }
    }

    @discardableResult
    public func retryFailed(study: Int64) throws -> Int {
        try write { try $0.execute("UPDATE trials SET state = 'WAITING', error = NULL WHERE study_id = \(study) AND state = 'FAIL'") }
    }

    public func trials(study: Int64) throws -> [TrialRecord] {
        try session.query("SELECT * FROM trials WHERE study_id = \(study) ORDER BY number").map(trial(row:))
    }

    // MARK: - Metrics

    public func appendMetrics(study: StudyRecord, _ metrics: [TrialMetric]) throws {
        try write { tx in
            let known = try tx.query("SELECT number FROM trials WHERE study_id = \(study.id) ORDER BY number").map { try $0[0].decode(Int.self) }
            for t in Set(metrics.map(\.trialNumber)).sorted() where !known.contains(t) {
                throw AnnotateError.unknownTrial(study: study.name, trial: t, known: known)
            }
            for m in metrics { try insert(m, study: study.id, tx) }
        }
    }

    private func insert(_ m: TrialMetric, study: Int64, _ tx: PostgresSession.Transaction) throws {
        let provenance = try StoreJSON.encode(m.provenance)
        try tx.execute("""
            INSERT INTO trial_metrics (study_id, trial_number, student, name, value, kd_steps, note, provenance_json, tool_version, created_at)
            VALUES (\(study), \(m.trialNumber), \(m.student), \(m.name), \(m.value), \(m.kdSteps), \(m.note), \(provenance),
                    \(m.toolVersion), \(m.createdAt))
            """)
    }

    public func metrics(study: Int64) throws -> [TrialMetric] {
        try session.query("SELECT * FROM trial_metrics WHERE study_id = \(study) ORDER BY id").map { r in
            let p: String = try r.v("provenance_json")
            return TrialMetric(trialNumber: try r.v("trial_number"), student: try r.v("student"), name: try r.v("name"), value: try r.v("value"),
                               kdSteps: try r.v("kd_steps"), note: try r.v("note"),
                               provenance: try StoreJSON.tree(p, location: url.redacted, column: "trial_metrics.provenance_json",
                                                              row: "metric \(try r.v("name") as String) of trial \(try r.v("trial_number") as Int)"),
                               toolVersion: try r.v("tool_version"), createdAt: try r.v("created_at"))
        }
    }

    // MARK: - Copy

    /// The merge rules of ``SQLiteStudyStore/importStudy(_:)``, in one transaction.
    @discardableResult
    public func importStudy(_ e: StudyExport) throws -> StudyImportResult {
        try write { tx in
            try tx.query("SELECT pg_advisory_xact_lock(hashtextextended(\("prunekit study " + e.study.name), 0))")
            let id: Int64
            var created = false
            if let r = try tx.query("SELECT * FROM studies WHERE name = \(e.study.name) FOR UPDATE").first {
                do { try StudyRecord.checkSame(existing: study(row: r, tx), new: e.study) } catch let m as SearchError {
                    throw StoreError.copyConflict(study: e.study.name, location: url.redacted, message: "\(m)")
                }
                id = try r.v("id")
                if let b = e.study.bestDepth { try tx.execute("UPDATE studies SET best_depth = COALESCE(best_depth, \(b)) WHERE id = \(id)") }
                // SQLite's two-argument MAX is GREATEST here.
                if let k = e.study.topK { try tx.execute("UPDATE studies SET top_k = GREATEST(COALESCE(top_k, 0), \(k)) WHERE id = \(id)") }
            } else {
                id = try insert(e.study, tx)
                created = true
            }
            var changed = 0
            var have = [String: (number: Int, state: String)]()
            for r in try tx.query("SELECT arch_hash, number, state FROM trials WHERE study_id = \(id)") {
                have[try r.v("arch_hash")] = (try r.v("number"), try r.v("state"))
            }
            var numbers = Set(have.values.map(\.number))
            var next = (numbers.max() ?? -1) + 1
            let finished: Set<TrialState> = [.complete, .fail, .pruned]
            for t in e.trials.sorted(by: { $0.number < $1.number }) {
                if let (num, state) = have[t.archHash] {
                    // Bring an unfinished destination trial up to date with a finished source trial.
                    if !finished.contains(TrialState(rawValue: state) ?? .waiting) && finished.contains(t.state) {
                        try tx.execute("DELETE FROM trials WHERE study_id = \(id) AND number = \(num)")
                        _ = try insert(t, study: id, number: num, tx)
                        changed += 1
                    }
                    continue
                }
                // Keep the source's number when free, else the next one.
                let n = numbers.contains(t.number) ? next : t.number
                if try insert(t, study: id, number: n, tx) { changed += 1; numbers.insert(n); next = max(next, n + 1) }
            }
            var existing = Set<String>()
            for r in try tx.query("SELECT trial_number, student, name, kd_steps, created_at, value FROM trial_metrics WHERE study_id = \(id)") {
                existing.insert("\(try r.v("trial_number") as Int)|\(try r.v("student") as String)|\(try r.v("name") as String)|\(try r.v("kd_steps") as Int? ?? -1)|\(try r.v("created_at") as String)|\(try r.v("value") as Double)")
            }
            for m in e.metrics where !existing.contains("\(m.trialNumber)|\(m.student)|\(m.name)|\(m.kdSteps ?? -1)|\(m.createdAt)|\(m.value)") {
                try insert(m, study: id, tx)
            }
            return created ? .created(trials: changed) : .merged(trials: changed)
        }
    }
}

private extension PostgresRandomAccessRow {
    /// The value of column `name` (an optional type reads SQL NULL as nil).
    func v<T: PostgresDecodable>(_ name: String) throws -> T { try self[name].decode(T.self) }
}
