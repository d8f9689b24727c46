import Foundation
import GRDB

/// The embedded store: one SQLite file through GRDB, in WAL mode with a busy timeout; short transactions;
/// `BEGIN IMMEDIATE` to claim work, so several worker processes on one machine share a study (not over NFS:
/// use PostgreSQL for workers on several machines). Leases use SQLite's clock (`julianday('now')`), which
/// on one machine is the workers' clock.
///
/// Read-only mode opens the file with `SQLITE_OPEN_READONLY` and never migrates: it works on a read-only
/// file, and a database of an older PruneKit is read with the columns it has.
public final class SQLiteStudyStore: StudyStore, @unchecked Sendable {
    public let path: String
    public let mode: StoreMode
    public var location: StoreLocation { .sqlite(path: path) }
    /// The connection: a pool (concurrent reads, one writer) in read-write mode, a read-only queue otherwise.
    let writer: any DatabaseWriter
    /// Which optional tables and columns this database has (a read-only database may be at an older version).
    private let hasBlobs: Bool

    /// The GRDB migrator of ``StoreMigrations/all`` (SQLite dialect) for the database at `path` (named in errors).
    static func migrator(path: String) -> DatabaseMigrator {
        var m = DatabaseMigrator()
        for mig in StoreMigrations.all {
            m.registerMigration(mig.id) { db in
                for sql in mig.sqlite { try db.execute(sql: sql) }
                for r in mig.rewrites {
                    // Table and column are the migration list's constants; values are bound.
                    for row in try Row.fetchAll(db, sql: "SELECT id, \(r.column) AS value FROM \(r.table) WHERE \(r.column) IS NOT NULL") {
                        let id: Int64 = row["id"]
                        try db.execute(sql: "UPDATE \(r.table) SET \(r.column) = ? WHERE id = ?",
                                       arguments: [try r.apply(row["value"], id: id, location: path), id])
                    }
                }
            }
        }
        return m
    }

    /// Opens the database at `path`.
    /// - readWrite: creates the file if missing and applies pending migrations.
    /// - readOnly: the file must exist; nothing is created, migrated or written.
    /// - Throws: ``StoreError``: missing file (read-only), a directory, not SQLite, not a PruneKit database
    ///   (SQLite with other tables), written by a newer PruneKit, read-only file in read-write mode.
    public init(path: String, mode: StoreMode = .readWrite) throws {
        self.path = path
        self.mode = mode
        var isDir: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        if exists && isDir.boolValue { throw StoreError.isDirectory(path: path) }
        // A FIFO, device or socket would block or misbehave in SQLite's open: refuse it before opening.
        var st = stat()
        if exists, stat(path, &st) == 0, st.st_mode & S_IFMT != S_IFREG {
            throw StoreError.sqlite(path: path, message: "is not a regular file (a FIFO, device or socket); give a SQLite database file or a postgresql:// URL")
        }
        if mode == .readOnly && !exists { throw StoreError.missing(location: path) }
        let known = Set(StoreMigrations.all.map(\.id))
        /// Throws unless the schema is PruneKit's and not newer; returns whether study_blobs exists.
        func check(_ db: Database) throws -> Bool {
            let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
            if tables.isEmpty { return false }
            // Another process creating this database right now: the migrations table exists, no migration has
            // been committed yet (each runs in its own transaction). Writers go on and migrate (retried below).
            if mode == .readWrite, tables == ["grdb_migrations"],
               try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM grdb_migrations") == 0 { return false }
            guard tables.contains("grdb_migrations") && tables.contains("importance_scores") else {
                throw StoreError.notPruneKit(location: path, tables: tables.sorted())
            }
            let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            let unknown = applied.filter { !known.contains($0) }
            if !unknown.isEmpty { throw StoreError.newerSchema(location: path, unknown: unknown) }
            return tables.contains("study_blobs")
        }
        do {
            switch mode {
            case .readOnly:
                var config = Configuration()
                config.readonly = true
                config.busyMode = .timeout(30)
                let q = try DatabaseQueue(path: Self.readOnlyURI(path), configuration: config)
                let blobs = try q.read { db -> Bool in
                    let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
                    if tables.isEmpty { throw StoreError.notPruneKit(location: path, tables: []) }
                    return try check(db)
                }
                writer = q
                hasBlobs = blobs
            case .readWrite:
                var config = Configuration()
                config.busyMode = .timeout(30)
                config.journalMode = .wal
                // Two processes opening a new database at once can race on the switch to WAL mode or the first
                // migration, which SQLite reports as SQLITE_BUSY without waiting: retry those for up to ~10 s.
                var attempt = 0
                while true {
                    do {
                        // Refuse an unrelated or newer file before anything is written to it (WAL switch included).
                        if exists {
                            var ro = Configuration(); ro.readonly = true; ro.busyMode = .timeout(30)
                            _ = try DatabaseQueue(path: Self.readOnlyURI(path), configuration: ro).read(check)
                        }
                        let p = try DatabasePool(path: path, configuration: config)
                        try p.read { _ = try check($0) }
                        // Two processes opening an older or new database at once would both run a pending migration
                        // (GRDB checks, then migrates): serialise migrators with an flock on the database's
                        // directory, so each migration runs once. Never open and close another descriptor of the
                        // database file itself: POSIX drops every fcntl lock a process holds on a file when any of
                        // its descriptors of that file is closed, which would silently release the locks of
                        // SQLite's own connections (sqlite.org/howtocorrupt.html §2.2) and let another process
                        // checkpoint and delete the WAL under this one.
                        let fd = open(Self.directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                        if fd >= 0 { flock(fd, LOCK_EX) }
                        defer { if fd >= 0 { close(fd) } }
                        try Self.migrator(path: path).migrate(p)
                        writer = p
                        break
                    } catch let e as DatabaseError where attempt < 100 && (e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED
                                                                            || (e.message ?? "").contains("already exists")) {
                        attempt += 1
                        usleep(100_000)
                    }
                }
                hasBlobs = true
            }
        } catch {
            throw StoreError.wrap(error, path: path)
        }
    }

    /// The directory holding the database file `path` ("." for a bare file name).
    static func directory(of path: String) -> String {
        let dir = (absolutePath(path) as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    /// The name to open `path` read-only with. A WAL database needs its `-shm` index, which a read-only
    /// connection would create (and leave behind); when no `-wal` file exists no writer is active and the
    /// main file holds every committed transaction, so it is opened as an immutable URI (`immutable=1`: no
    /// locks, no side files). With a `-wal` file present (a writer is running) the plain path is used, whose
    /// side files already exist. An immutable connection reads the file as it was when opened: a reading
    /// command sees a snapshot; a long-lived read-only store does not see later writes (open a new one).
    static func readOnlyURI(_ path: String) -> String {
        guard !FileManager.default.fileExists(atPath: path + "-wal") else { return path }
        let abs = absolutePath(path)
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        return "file:\(abs.addingPercentEncoding(withAllowedCharacters: allowed) ?? abs)?immutable=1"
    }

    // MARK: - Transactions

    /// Runs `body` with read access to the GRDB database (maintenance and tests); errors as ``StoreError``.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try writer.read(body) } catch { throw StoreError.wrap(error, path: path) }
    }

    /// One write transaction (`BEGIN IMMEDIATE`: the write lock is taken first, so a transaction that reads
    /// then writes never fails half-way on a concurrent writer).
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        guard mode == .readWrite else { throw StoreError.readOnlyMode(location: path) }
        do {
            return try writer.writeWithoutTransaction { d in
                var out: T?
                try d.inTransaction(.immediate) { out = try body(d); return .commit }
                return out!
            }
        } catch { throw StoreError.wrap(error, path: path) }
    }

    // MARK: - Scores

    public func scores(_ key: ScoreKey) throws -> ScoreSet? {
        try read { d in
            try Row.fetchOne(d, sql: """
                SELECT * FROM importance_scores WHERE checkpoint_fingerprint = ? AND calibration_fingerprint = ? AND options_key = ?
                """, arguments: [key.checkpointFingerprint, key.calibrationFingerprint, key.optionsKey]).map(scoreSet)
        }
    }

    public func scoreKeys() throws -> [ScoreKey] {
        try read { d in
            try Row.fetchAll(d, sql: "SELECT checkpoint_fingerprint, calibration_fingerprint, options_key FROM importance_scores ORDER BY id").map { r in
                ScoreKey(checkpointFingerprint: r["checkpoint_fingerprint"], calibrationFingerprint: r["calibration_fingerprint"], optionsKey: r["options_key"])
            }
        }
    }

    private func scoreSet(_ r: Row) throws -> ScoreSet {
        let key = ScoreKey(checkpointFingerprint: r["checkpoint_fingerprint"], calibrationFingerprint: r["calibration_fingerprint"], optionsKey: r["options_key"])
        let json: String = r["scores_json"]
        let scores: ImportanceScores
        do { scores = try StoreJSON.decode(ImportanceScores.self, json) } catch {
            throw StoreError.corrupt(path: path, message: "stored scores for \(key.checkpointFingerprint.prefix(12))… do not decode: \(error)")
        }
        return ScoreSet(key: key, checkpointPath: r["checkpoint_path"], calibrationSource: r["calibration_source"], samples: r["samples"],
                        tokens: r["tokens"], scores: scores, seconds: r["seconds"], layerEvaluations: r["layer_evaluations"],
                        toolVersion: r["tool_version"], createdAt: r["created_at"])
    }

    public func saveScores(_ s: ScoreSet) throws {
        let json = try StoreJSON.encode(s.scores)
        try write { d in
            try d.execute(sql: """
                INSERT OR REPLACE INTO importance_scores
                (checkpoint_fingerprint, calibration_fingerprint, options_key, checkpoint_path, calibration_source,
                 samples, tokens, scores_json, seconds, layer_evaluations, tool_version, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [s.key.checkpointFingerprint, s.key.calibrationFingerprint, s.key.optionsKey, s.checkpointPath,
                                 s.calibrationSource, s.samples, s.tokens, json, s.seconds, s.layerEvaluations, s.toolVersion, s.createdAt])
        }
    }

    // MARK: - Studies

    public func listStudies() throws -> [StudyRecord] {
        try read { d in try Row.fetchAll(d, sql: "SELECT * FROM studies ORDER BY id").map { try study(row: $0, d) } }
    }

    public func study(named name: String) throws -> StudyRecord {
        let s = try read { d in try Row.fetchOne(d, sql: "SELECT * FROM studies WHERE name = ?", arguments: [name]).map { try study(row: $0, d) } }
        guard let s else { throw SearchError.unknownStudy(name: name, known: try studyNames()) }
        return s
    }

    private func study(row r: Row, _ d: Database) throws -> StudyRecord {
        let id: Int64 = r["id"]
        var counts = [TrialState: Int]()
        for row in try Row.fetchAll(d, sql: "SELECT state, COUNT(*) AS n FROM trials WHERE study_id = ? GROUP BY state", arguments: [id]) {
            if let s = TrialState(rawValue: row["state"]) { counts[s] = row["n"] }
        }
        let where_ = "study '\(r["name"] as String? ?? "?")'"
        let rejections = try StoreJSON.decode(RejectionCounts.self, r["rejections_json"] as String, location: path, column: "studies.rejections_json", row: where_).list
        let source: SourceSummary? = try (r["source_json"] as String?).map {
            try StoreJSON.decode(SourceSummary.self, $0, location: path, column: "studies.source_json", row: where_)
        }
        return StudyRecord(id: id, name: r["name"], recipePath: r["recipe_path"], recipeYAML: r["recipe_yaml"], recipeJSON: r["recipe_json"],
                           recipeHash: r["recipe_hash"], objective: Recipe.Metric(rawValue: r["objective"]) ?? .kl, direction: r["direction"],
                           strategy: r["strategy"], selection: r["selection"], checkpointPath: r["checkpoint_path"],
                           checkpointFingerprint: r["checkpoint_fingerprint"], calibrationFingerprint: r["calibration_fingerprint"],
                           heldoutFingerprint: r["heldout_fingerprint"], calibrationPath: r["calibration_path"], heldoutPath: r["heldout_path"],
                           scoreOptionsKey: r["score_options_key"], hardware: r["hardware"], context: r["context"], batch: r["batch"],
                           budgetBytes: r["budget_bytes"], inputLength: r["input_length"], outputLength: r["output_length"], topK: r["top_k"],
                           enumerated: r["n_enumerated"], feasible: r["n_feasible"], rejections: rejections, source: source,
                           fullLoss: r["full_loss"], bestDepth: r["best_depth"], seed: UInt64(bitPattern: r["seed"] as Int64),
                           toolVersion: r["tool_version"], createdAt: r["created_at"], counts: counts)
    }

    /// Inserts a study row (the name must be free).
    private func insert(_ s: StudyRecord, _ d: Database) throws -> Int64 {
        try d.execute(sql: """
            INSERT INTO studies (name, recipe_path, recipe_yaml, recipe_json, recipe_hash, objective, direction, strategy, selection,
                checkpoint_path, checkpoint_fingerprint, calibration_fingerprint, heldout_fingerprint, hardware, context, batch,
                budget_bytes, n_enumerated, n_feasible, rejections_json, full_loss, best_depth, seed, tool_version, created_at,
                calibration_path, heldout_path, score_options_key, input_length, output_length, top_k, source_json)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [s.name, s.recipePath, s.recipeYAML, s.recipeJSON, s.recipeHash, s.objective.rawValue, s.direction, s.strategy,
                             s.selection, s.checkpointPath, s.checkpointFingerprint, s.calibrationFingerprint, s.heldoutFingerprint,
                             s.hardware, s.context, s.batch, s.budgetBytes, s.enumerated, s.feasible,
                             try StoreJSON.encode(RejectionCounts(list: s.rejections)), s.fullLoss.flatMap { $0.isFinite ? $0 : nil },
                             s.bestDepth, Int64(bitPattern: s.seed), s.toolVersion, s.createdAt, s.calibrationPath, s.heldoutPath,
                             s.scoreOptionsKey, s.inputLength, s.outputLength, s.topK, try s.source.map { try StoreJSON.encode($0) }])
        return d.lastInsertedRowID
    }

    public func openStudy(_ new: StudyRecord) throws -> StudyRecord {
        try write { d in
            if let r = try Row.fetchOne(d, sql: "SELECT * FROM studies WHERE name = ?", arguments: [new.name]) {
                try StudyRecord.checkSame(existing: study(row: r, d), new: new)
                let have: Int? = r["top_k"]
                if let k = new.topK, have.map({ k > $0 }) ?? true {
                    try d.execute(sql: "UPDATE studies SET top_k = ? WHERE id = ?", arguments: [k, r["id"] as Int64])
                }
                // Fill what an older PruneKit did not record.
                try d.execute(sql: """
                    UPDATE studies SET calibration_path = COALESCE(calibration_path, ?), heldout_path = COALESCE(heldout_path, ?),
                        score_options_key = COALESCE(score_options_key, ?), input_length = COALESCE(input_length, ?),
                        output_length = COALESCE(output_length, ?), source_json = COALESCE(source_json, ?) WHERE id = ?
                    """, arguments: [new.calibrationPath, new.heldoutPath, new.scoreOptionsKey, new.inputLength, new.outputLength,
                                     try new.source.map { try StoreJSON.encode($0) }, r["id"] as Int64])
            } else {
                _ = try insert(new, d)
            }
            let r = try Row.fetchOne(d, sql: "SELECT * FROM studies WHERE name = ?", arguments: [new.name])!
            return try study(row: r, d)
        }
    }

    public func setBestDepth(study: Int64, depth: Int) throws {
        try write { try $0.execute(sql: "UPDATE studies SET best_depth = ? WHERE id = ?", arguments: [depth, study]) }
    }

    public func setFullLoss(study: Int64, loss: Double) throws {
        try write { try $0.execute(sql: "UPDATE studies SET full_loss = ? WHERE id = ?", arguments: [loss, study]) }
    }

    // MARK: - Blobs

    public func saveBlob(study: Int64, name: String, data: Data) throws {
        try write { try $0.execute(sql: "INSERT OR REPLACE INTO study_blobs (study_id, name, data, created_at) VALUES (?, ?, ?, ?)",
                                   arguments: [study, name, data, timestampNow()]) }
    }

    public func blob(study: Int64, name: String) throws -> Data? {
        guard hasBlobs else { return nil }
        return try read { try Data.fetchOne($0, sql: "SELECT data FROM study_blobs WHERE study_id = ? AND name = ?", arguments: [study, name]) }
    }

    public func blobNames(study: Int64) throws -> [String] {
        guard hasBlobs else { return [] }
        return try read { try String.fetchAll($0, sql: "SELECT name FROM study_blobs WHERE study_id = ? ORDER BY name", arguments: [study]) }
    }

    // MARK: - Trials

    private func trial(row r: Row) throws -> TrialRecord {
        let where_ = "trial \(r["number"] as Int? ?? -1) of study id \(r["study_id"] as Int64? ?? -1)"
        let kept: [Int]? = try (r["kept_layers_json"] as String?).map {
            try StoreJSON.decode([Int].self, $0, location: path, column: "trials.kept_layers_json", row: where_)
        }
        let arch = Architecture(numLayers: r["num_layers"], hiddenSize: r["hidden_size"], ffnHiddenSize: r["ffn_hidden_size"],
                                mambaNumHeads: r["mamba_num_heads"], mambaHeadDim: r["mamba_head_dim"], numAttentionHeads: r["num_attention_heads"],
                                pattern: r["pattern"], keptLayers: kept)
        guard let stage = TrialStage(rawValue: r["stage"]), let state = TrialState(rawValue: r["state"]) else {
            throw StoreError.corrupt(path: path, message: "trial \(r["number"] as Int? ?? -1) has stage '\(r["stage"] as String? ?? "")' / state '\(r["state"] as String? ?? "")'")
        }
        var t = TrialRecord(id: r["id"], studyID: r["study_id"], number: r["number"], stage: stage, state: state, architecture: arch,
                            archHash: r["arch_hash"])
        t.params = r["params"]; t.weightBytes = r["weight_bytes"]; t.memoryBytes = r["memory_bytes"]; t.budgetBytes = r["budget_bytes"]
        t.slackBytes = r["slack_bytes"]; t.fits = (r["fits"] as Int) != 0; t.maxBatch = r["max_batch"]; t.tokensPerSecond = r["tokens_per_second"]
        t.cost = try (r["cost_json"] as String?).map { try StoreJSON.decode(CostFigures.self, $0, location: path, column: "trials.cost_json", row: where_) }
        t.prunedReason = r["pruned_reason"]; t.kl = r["kl"]; t.mse = r["mse"]; t.loss = r["loss"]; t.objectiveValue = r["objective_value"]
        t.error = r["error"]; t.seed = UInt64(bitPattern: r["seed"] as Int64); t.toolVersion = r["tool_version"]
        t.workerID = r["worker_id"]; t.workerHost = r["worker_host"]; t.workerPID = r["worker_pid"]; t.attempts = r["attempts"]
        t.createdAt = r["created_at"]; t.claimedAt = r["claimed_at"]; t.heartbeat = r["heartbeat"]; t.finishedAt = r["finished_at"]
        t.evalSeconds = r["eval_seconds"]
        return t
    }

    /// Inserts a trial unless the study has its architecture; returns whether it was inserted.
    private func insert(_ t: TrialRecord, study: Int64, number: Int, _ d: Database) throws -> Bool {
        let a = t.architecture
        try d.execute(sql: """
            INSERT OR IGNORE INTO trials (study_id, number, stage, state, arch_json, arch_hash, num_layers, hidden_size,
                ffn_hidden_size, mamba_num_heads, mamba_head_dim, num_attention_heads, pattern, params, weight_bytes,
                memory_bytes, budget_bytes, slack_bytes, fits, max_batch, tokens_per_second, pruned_reason, kl, mse, loss,
                objective_value, error, seed, tool_version, worker_id, worker_host, worker_pid, attempts, created_at, claimed_at,
                heartbeat, finished_at, eval_seconds, kept_layers_json, cost_json)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [study, number, t.stage.rawValue, t.state.rawValue, a.candidateTarget.canonicalJSON, t.archHash, a.numLayers,
                             a.hiddenSize, a.ffnHiddenSize, a.mambaNumHeads, a.mambaHeadDim, a.numAttentionHeads, a.pattern, t.params,
                             t.weightBytes, t.memoryBytes, t.budgetBytes, t.slackBytes, t.fits ? 1 : 0, t.maxBatch,
                             t.tokensPerSecond.isFinite ? t.tokensPerSecond : 0, t.prunedReason, t.kl, t.mse, t.loss, t.objectiveValue,
                             t.error, Int64(bitPattern: t.seed), t.toolVersion, t.workerID, t.workerHost, t.workerPID, t.attempts,
                             t.createdAt, t.claimedAt, t.heartbeat, t.finishedAt, t.evalSeconds,
                             try a.keptLayers.map { try StoreJSON.encode($0) }, try t.cost.map { try StoreJSON.encode($0) }])
        return d.changesCount > 0
    }

    @discardableResult
    public func register(study: Int64, trials: [TrialRecord]) throws -> Int {
        try write { d in
            var next = (try Int.fetchOne(d, sql: "SELECT MAX(number) FROM trials WHERE study_id = ?", arguments: [study]) ?? -1) + 1
            var added = 0
            for var t in trials {
                t.attempts = 0; t.workerID = nil; t.workerHost = nil; t.workerPID = nil; t.claimedAt = nil; t.heartbeat = nil
                if try insert(t, study: study, number: next, d) { next += 1; added += 1 }
            }
            return added
        }
    }

    /// SQLite's clock in Unix seconds (fractional).
    static let nowSQL = "((julianday('now') - 2440587.5) * 86400.0)"

    public func claimNext(study: Int64, stages: [TrialStage], worker: WorkerIdentity, lease: Double) throws -> TrialClaim {
        try write { d in
            let marks = stages.map { _ in "?" }.joined(separator: ", ")
            var args: [DatabaseValueConvertible] = [study]
            args += stages.map(\.rawValue)
            let now = try Double.fetchOne(d, sql: "SELECT \(Self.nowSQL)")!
            let rows = try Row.fetchAll(d, sql: """
                SELECT id, state, worker_host, worker_pid, worker_id, heartbeat FROM trials
                WHERE study_id = ? AND stage IN (\(marks)) AND state IN ('WAITING', 'RUNNING') ORDER BY number
                """, arguments: StatementArguments(args))
            var live = 0
            for r in rows {
                let id: Int64 = r["id"]
                if r["state"] as String == TrialState.running.rawValue {
                    let host: String? = r["worker_host"], pid: Int? = r["worker_pid"], hb: Double? = r["heartbeat"]
                    let dead = (host == worker.host && pid.map { !WorkerIdentity.isAlive(pid: $0) } == true)
                        || (hb.map { now - $0 > lease } ?? true)
                    // A trial claimed by this very worker token (an earlier loop iteration) is never re-claimed here.
                    if !dead || (r["worker_id"] as String?) == worker.id { live += 1; continue }
                }
                try d.execute(sql: """
                    UPDATE trials SET state = 'RUNNING', worker_id = ?, worker_host = ?, worker_pid = ?, claimed_at = ?, heartbeat = \(Self.nowSQL),
                        attempts = attempts + 1, error = NULL WHERE id = ?
                    """, arguments: [worker.id, worker.host, worker.pid, timestampNow(), id])
                let row = try Row.fetchOne(d, sql: "SELECT * FROM trials WHERE id = ?", arguments: [id])!
                return .claimed(try trial(row: row))
            }
            return live > 0 ? .busy(running: live) : .done
        }
    }

    public func heartbeat(trial: Int64, worker: WorkerIdentity) throws {
        try write { try $0.execute(sql: "UPDATE trials SET heartbeat = \(Self.nowSQL) WHERE id = ? AND worker_id = ? AND state = 'RUNNING'",
                                   arguments: [trial, worker.id]) }
    }

    @discardableResult
    public func complete(trial: Int64, worker: WorkerIdentity, metrics: CandidateMetrics, objective: Recipe.Metric) throws -> Bool {
        try write { d in
            try d.execute(sql: """
                UPDATE trials SET state = 'COMPLETE', kl = ?, mse = ?, loss = ?, objective_value = ?, finished_at = ?, eval_seconds = ?,
                    heartbeat = \(Self.nowSQL) WHERE id = ? AND worker_id = ? AND state = 'RUNNING'
                """, arguments: [metrics.kl, metrics.mse, metrics.loss, metrics.value(objective), timestampNow(), metrics.seconds,
                                 trial, worker.id])
            return d.changesCount > 0
        }
    }

    public func fail(trial: Int64, worker: WorkerIdentity, error: String, seconds: Double) throws {
        try write { try $0.execute(sql: """
            UPDATE trials SET state = 'FAIL', error = ?, finished_at = ?, eval_seconds = ? WHERE id = ? AND worker_id = ? AND state = 'RUNNING'
            """, arguments: [error, timestampNow(), seconds, trial, worker.id]) }
    }

    @discardableResult
    public func retryFailed(study: Int64) throws -> Int {
        try write { d in
            try d.execute(sql: "UPDATE trials SET state = 'WAITING', error = NULL WHERE study_id = ? AND state = 'FAIL'", arguments: [study])
            return d.changesCount
        }
    }

    public func trials(study: Int64) throws -> [TrialRecord] {
        try read { d in try Row.fetchAll(d, sql: "SELECT * FROM trials WHERE study_id = ? ORDER BY number", arguments: [study]).map(trial(row:)) }
    }

    // MARK: - Metrics

    public func appendMetrics(study: StudyRecord, _ metrics: [TrialMetric]) throws {
        try write { d in
            for t in Set(metrics.map(\.trialNumber)).sorted() {
                guard try Int.fetchOne(d, sql: "SELECT COUNT(*) FROM trials WHERE study_id = ? AND number = ?", arguments: [study.id, t]) ?? 0 > 0 else {
                    let known = try Int.fetchAll(d, sql: "SELECT number FROM trials WHERE study_id = ? ORDER BY number", arguments: [study.id])
                    throw AnnotateError.unknownTrial(study: study.name, trial: t, known: known)
                }
            }
            for m in metrics { try insert(m, study: study.id, d) }
        }
    }

    private func insert(_ m: TrialMetric, study: Int64, _ d: Database) throws {
        try d.execute(sql: """
            INSERT INTO trial_metrics (study_id, trial_number, student, name, value, kd_steps, note, provenance_json, tool_version, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [study, m.trialNumber, m.student, m.name, m.value, m.kdSteps, m.note, try StoreJSON.encode(m.provenance),
                             m.toolVersion, m.createdAt])
    }

    public func metrics(study: Int64) throws -> [TrialMetric] {
        try read { d in
            try Row.fetchAll(d, sql: "SELECT * FROM trial_metrics WHERE study_id = ? ORDER BY id", arguments: [study]).map { r in
                let p: String = r["provenance_json"]
                return TrialMetric(trialNumber: r["trial_number"], student: r["student"], name: r["name"], value: r["value"], kdSteps: r["kd_steps"],
                                   note: r["note"],
                                   provenance: try StoreJSON.tree(p, location: path, column: "trial_metrics.provenance_json",
                                                                  row: "metric \(r["name"] as String? ?? "?") of trial \(r["trial_number"] as Int? ?? -1)"),
                                   toolVersion: r["tool_version"],
                                   createdAt: r["created_at"])
            }
        }
    }

    // MARK: - Copy

    @discardableResult
    public func importStudy(_ e: StudyExport) throws -> StudyImportResult {
        try write { d in
            let id: Int64
            var created = false
            if let r = try Row.fetchOne(d, sql: "SELECT * FROM studies WHERE name = ?", arguments: [e.study.name]) {
                do { try StudyRecord.checkSame(existing: study(row: r, d), new: e.study) } catch let m as SearchError {
                    throw StoreError.copyConflict(study: e.study.name, location: path, message: "\(m)")
                }
                id = r["id"]
                if let b = e.study.bestDepth { try d.execute(sql: "UPDATE studies SET best_depth = COALESCE(best_depth, ?) WHERE id = ?", arguments: [b, id]) }
                if let k = e.study.topK { try d.execute(sql: "UPDATE studies SET top_k = MAX(COALESCE(top_k, 0), ?) WHERE id = ?", arguments: [k, id]) }
            } else {
                id = try insert(e.study, d)
                created = true
            }
            var changed = 0
            let have = Dictionary(uniqueKeysWithValues: try Row.fetchAll(d, sql: "SELECT arch_hash, number, state FROM trials WHERE study_id = ?",
                                                                          arguments: [id]).map { ($0["arch_hash"] as String, ($0["number"] as Int, $0["state"] as String)) })
            var next = (have.values.map(\.0).max() ?? -1) + 1
            for t in e.trials.sorted(by: { $0.number < $1.number }) {
                if let (num, state) = have[t.archHash] {
                    // Bring an unfinished destination trial up to date with a finished source trial.
                    let finished: Set<TrialState> = [.complete, .fail, .pruned]
                    if !finished.contains(TrialState(rawValue: state) ?? .waiting) && finished.contains(t.state) {
                        try d.execute(sql: "DELETE FROM trials WHERE study_id = ? AND number = ?", arguments: [id, num])
                        _ = try insert(t, study: id, number: num, d)
                        changed += 1
                    }
                    continue
                }
                // Keep the source's number when free, else the next one.
                let taken = try Int.fetchOne(d, sql: "SELECT COUNT(*) FROM trials WHERE study_id = ? AND number = ?", arguments: [id, t.number]) ?? 0 > 0
                let n = taken ? next : t.number
                if try insert(t, study: id, number: n, d) { changed += 1; next = max(next, n + 1) }
            }
            let existing = Set(try Row.fetchAll(d, sql: "SELECT trial_number, student, name, kd_steps, created_at, value FROM trial_metrics WHERE study_id = ?",
                                                arguments: [id]).map { r in
                "\(r["trial_number"] as Int)|\(r["student"] as String)|\(r["name"] as String)|\(r["kd_steps"] as Int? ?? -1)|\(r["created_at"] as String)|\(r["value"] as Double)"
            })
            for m in e.metrics where !existing.contains("\(m.trialNumber)|\(m.student)|\(m.name)|\(m.kdSteps ?? -1)|\(m.createdAt)|\(m.value)") {
                try insert(m, study: id, d)
            }
            return created ? .created(trials: changed) : .merged(trials: changed)
        }
    }
}

extension StudyRecord {
    /// Throws unless `new` describes the same study as `existing`: same recipe (``recipeHash``) and the same
    /// checkpoint, calibration and held-out fingerprints.
    /// - Throws: ``SearchError/studyMismatch(study:message:)``.
    public static func checkSame(existing: StudyRecord, new: StudyRecord) throws {
        try checkSame(existing: existing, ("recipe", new.recipeHash))
        try existing.checkInputs(checkpoint: new.checkpointFingerprint, calibration: new.calibrationFingerprint, heldout: new.heldoutFingerprint)
    }

    /// Throws unless this study was created from the checkpoint, calibration set and held-out set with these
    /// fingerprints (cheap: a search checks it before scoring).
    /// - Throws: ``SearchError/studyMismatch(study:message:)``.
    public func checkInputs(checkpoint: String, calibration: String, heldout: String) throws {
        try Self.checkSame(existing: self, ("checkpoint", checkpoint), ("calibration set", calibration), ("held-out set", heldout))
    }

    private static func checkSame(existing: StudyRecord, _ pairs: (what: String, value: String)...) throws {
        let have = ["recipe": existing.recipeHash, "checkpoint": existing.checkpointFingerprint,
                    "calibration set": existing.calibrationFingerprint, "held-out set": existing.heldoutFingerprint]
        for (what, v) in pairs where have[what] != v {
            throw SearchError.studyMismatch(study: existing.name, message: "it was created with a different \(what) (\(have[what]!.prefix(12))… vs \(v.prefix(12))…)")
        }
    }
}

/// JSON of PruneKit's own records in the store: ``PruneKitJSON``, compact.
public enum StoreJSON {
    public static func encode<T: Encodable>(_ v: T) throws -> String { try PruneKitJSON.string(v) }
    public static func decode<T: Decodable>(_ t: T.Type, _ s: String) throws -> T { try PruneKitJSON.decode(t, from: Data(s.utf8)) }

    /// Decodes a stored JSON column; a value that does not read is ``StoreError/corrupt(path:message:)`` naming
    /// the store (`location`: file path or redacted URL), the table and column, and the row (`row`, e.g.
    /// "study 'demo'" or "trial 3 of study id 1").
    public static func decode<T: Decodable>(_ t: T.Type, _ s: String, location: String, column: String, row: String) throws -> T {
        do { return try decode(t, s) } catch {
            throw StoreError.corrupt(path: location, message: "\(column) of \(row) cannot be read (\(describe(error))); the database was changed outside PruneKit or is damaged")
        }
    }

    /// A stored JSON column read as a ``JSONValue`` tree (no schema), located like ``decode(_:_:location:column:row:)``.
    public static func tree(_ s: String, location: String, column: String, row: String) throws -> JSONValue {
        do { return try JSONParser().parse(s) } catch {
            throw StoreError.corrupt(path: location, message: "\(column) of \(row) is not valid JSON (\(error)); the database was changed outside PruneKit or is damaged")
        }
    }

    /// A short account of a decoding error: what is wrong and where in the value.
    static func describe(_ e: Error) -> String {
        func at(_ path: [CodingKey]) -> String { path.isEmpty ? "the value" : path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        guard let d = e as? DecodingError else { return "\(e)" }
        switch d {
        case let .dataCorrupted(c): return c.codingPath.isEmpty ? "not valid JSON" : "bad value at \(at(c.codingPath)): \(c.debugDescription)"
        case let .keyNotFound(k, c): return "missing key \(at(c.codingPath + [k]))"
        case let .typeMismatch(_, c), let .valueNotFound(_, c): return "wrong type at \(at(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(d)"
        }
    }
}
