import Foundation

/// Where a PruneKit store lives: a SQLite file (the embedded default) or a PostgreSQL server (a study shared
/// by workers on several machines). Parsed from `--db` / `PRUNEKIT_DB`.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    /// A SQLite database file (GRDB). Created and migrated by writing commands; never by reading ones.
    case sqlite(path: String)
    /// `postgresql://user[:password]@host[:port]/db[?sslmode=…]` (also `postgres://`).
    case postgres(url: String)

    /// The database used when neither `--db` nor `PRUNEKIT_DB` is given.
    public static let defaultPath = "prunekit.sqlite"

    /// `--db` when given, else `PRUNEKIT_DB` when set and non-empty, else ``defaultPath``.
    public static func resolve(option: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> StoreLocation {
        if let option { return parse(option) }
        if let e = environment["PRUNEKIT_DB"], !e.isEmpty { return parse(e) }
        return .sqlite(path: defaultPath)
    }

    /// A `postgresql://` or `postgres://` URL (scheme case-insensitive) is PostgreSQL; anything else is a SQLite path.
    public static func parse(_ text: String) -> StoreLocation {
        let lower = text.lowercased()
        if lower.hasPrefix("postgresql://") || lower.hasPrefix("postgres://") { return .postgres(url: text) }
        return .sqlite(path: text)
    }

    /// The path, or the URL with its password replaced by `***`: safe for error messages and logs.
    public var description: String {
        switch self {
        case let .sqlite(p): return Self.redact(p)
        case let .postgres(u): return Self.redact(u)
        }
    }

    /// `scheme://user:***@host…` for `scheme://user:password@host…` (``PostgresURL/redact(_:)``); other text unchanged.
    public static func redact(_ url: String) -> String { PostgresURL.redact(url) }
}

/// How a command opens its store.
public enum StoreMode: Sendable, Equatable {
    /// Writing commands (`score`, `search`, `prune`, `annotate`, `db copy` destination): creates the SQLite file
    /// if missing and applies pending migrations.
    case readWrite
    /// Reading commands (`studies`, `leaderboard`, `report`, `db copy` source): the store must exist and be at
    /// the current schema version or older; nothing is created, migrated or written (works on a read-only file).
    case readOnly
}

/// Opens the store at `location`.
/// - Throws: ``StoreError`` (no such database in read-only mode, not a PruneKit database, newer schema,
///   unreachable server…, naming the path or the redacted URL).
public func openStore(_ location: StoreLocation, mode: StoreMode) throws -> any StudyStore {
    switch location {
    case let .sqlite(path):
        // A URL of another scheme (`pg://`, `postgres:/`, `postgresql+psycopg2://`) is a mistyped PostgreSQL URL,
        // not a file name: refuse it (redacted) rather than create or look for a file of that name.
        if StoreLocation.redact(path) != path || path.range(of: "^[A-Za-z][A-Za-z0-9+.-]*://", options: .regularExpression) != nil {
            throw StoreError.badLocation(location: StoreLocation.redact(path),
                                         message: "not a PostgreSQL URL (its scheme must be postgresql:// or postgres://) and not a SQLite file path")
        }
        return try SQLiteStudyStore(path: path, mode: mode)
    case let .postgres(url): return try openPostgresStore(url: url, mode: mode)
    }
}

/// Result of trying to claim work (``StudyStore/claimNext(study:stages:worker:lease:)``).
public enum TrialClaim: Sendable {
    /// This worker now owns the trial (state RUNNING, lease started).
    case claimed(TrialRecord)
    /// Nothing to claim, but trials of the stages are RUNNING under live leases: wait and try again.
    case busy(running: Int)
    /// Every trial of the stages is finished (COMPLETE, FAIL or PRUNED).
    case done
}

/// What ``StudyStore/importStudy(_:)`` did.
public enum StudyImportResult: Sendable, Equatable {
    /// The study was new in the destination: created with this many trials.
    case created(trials: Int)
    /// The same study (same recipe hash and fingerprints) was there: this many trials added or brought
    /// up to date (0 when the destination already had everything).
    case merged(trials: Int)
}

/// Everything stored about one study, as moved by `prunekit db copy`.
public struct StudyExport: Sendable {
    public var study: StudyRecord
    /// Every trial, all states.
    public var trials: [TrialRecord]
    /// Post-hoc metric history (`annotate`), oldest first.
    public var metrics: [TrialMetric]
    /// The study's blobs are not part of it: ``StoreCopy`` copies them one at a time (they can be gigabytes).
    public init(study: StudyRecord, trials: [TrialRecord], metrics: [TrialMetric]) {
        self.study = study; self.trials = trials; self.metrics = metrics
    }
}

/// The PruneKit store: importance scores, search studies and their trials (formats.md §4, modelled on
/// Optuna's RDB storage). Every command reads and writes through this protocol; ``SQLiteStudyStore`` (GRDB)
/// is the embedded default and a PostgreSQL backend serves studies shared across machines.
///
/// Contract every backend keeps (tested by `StoreContractTests` on each backend):
/// - **Time** for leases and heartbeats is the *database's* clock, in seconds (Unix epoch, fractional).
/// - **One transaction** per method: a method either fully happens or not at all. `register`, `claimNext`,
///   `openStudy`, `importStudy`, `annotate` and `saveScores` change several rows and must be atomic.
/// - **Claims** are exclusive: two workers never get the same trial from `claimNext` at the same time.
/// - **Unique architecture per study**: `register` ignores a trial whose `arch_hash` the study already has.
/// - **Read-only** stores throw ``StoreError/readOnlyMode(location:)`` from every writing method.
/// - Values always go through bound parameters, never string-built SQL.
public protocol StudyStore: AnyObject, Sendable {
    /// The redacted path or URL, for messages.
    var location: StoreLocation { get }
    var mode: StoreMode { get }

    // MARK: Importance scores

    /// The stored score set for `key`, or nil.
    func scores(_ key: ScoreKey) throws -> ScoreSet?
    /// Inserts or replaces the score set with the same key (one transaction).
    func saveScores(_ set: ScoreSet) throws
    /// The keys of every stored score set, oldest first (for `db copy`, which then reads one set at a time).
    func scoreKeys() throws -> [ScoreKey]

    // MARK: Studies

    /// Every study with its trial counts, oldest first.
    func listStudies() throws -> [StudyRecord]
    /// The study called `name`.
    /// - Throws: ``SearchError/unknownStudy(name:known:)``.
    func study(named name: String) throws -> StudyRecord
    /// Returns the study `new.name`, creating it from `new` (its `id` ignored) if the name is free. An existing
    /// study must have the same `recipe_hash` and checkpoint, calibration and held-out fingerprints. When
    /// `new.topK` is larger than the stored one, the stored `top_k` is raised (the caller registers the extra
    /// candidates). One transaction.
    /// - Throws: ``SearchError/studyMismatch(study:message:)``.
    func openStudy(_ new: StudyRecord) throws -> StudyRecord
    /// Records the depth chosen by the depth stage (depth-then-width).
    func setBestDepth(study: Int64, depth: Int) throws
    /// Records the full model's held-out loss (nats/token), computed once per study.
    func setFullLoss(study: Int64, loss: Double) throws

    // MARK: Study blobs (large per-study data computed once, e.g. the full model's held-out logits)

    /// Stores `data` under `name` for the study, replacing any previous value.
    func saveBlob(study: Int64, name: String, data: Data) throws
    /// The blob `name` of the study, or nil.
    func blob(study: Int64, name: String) throws -> Data?
    /// Names of the study's blobs, sorted.
    func blobNames(study: Int64) throws -> [String]

    // MARK: Trials

    /// Registers trials (their `id`, `number`, `state` of WAITING/PRUNED as given, worker fields ignored) in
    /// one transaction, numbering new ones after the study's highest number. A trial whose `arch_hash` the
    /// study already has is left as it is.
    /// - Returns: the number of new trials.
    @discardableResult
    func register(study: Int64, trials: [TrialRecord]) throws -> Int
    /// Claims the next WAITING trial of `stages` (lowest number first), or a RUNNING one whose lease expired
    /// (heartbeat older than `lease` seconds on the database clock, or — same host only — whose worker pid is
    /// gone). Sets state RUNNING, the worker fields, `claimed_at`, `heartbeat` = now, `attempts` + 1. One
    /// transaction; two workers never claim the same trial.
    func claimNext(study: Int64, stages: [TrialStage], worker: WorkerIdentity, lease: Double) throws -> TrialClaim
    /// Renews the lease (heartbeat = database now) of a RUNNING trial this worker owns.
    func heartbeat(trial: Int64, worker: WorkerIdentity) throws
    /// Stores the metrics of a RUNNING trial this worker owns and marks it COMPLETE.
    /// - Returns: false when the trial was no longer this worker's (its lease expired and another took it).
    @discardableResult
    func complete(trial: Int64, worker: WorkerIdentity, metrics: CandidateMetrics, objective: Recipe.Metric) throws -> Bool
    /// Marks a RUNNING trial this worker owns FAIL with the error text.
    func fail(trial: Int64, worker: WorkerIdentity, error: String, seconds: Double) throws
    /// Puts FAIL trials of a study back to WAITING. Returns how many.
    @discardableResult
    func retryFailed(study: Int64) throws -> Int
    /// Every trial of a study (all states), by number.
    func trials(study: Int64) throws -> [TrialRecord]

    // MARK: Post-hoc metrics

    /// Appends metrics of a trial (one transaction).
    /// - Throws: ``AnnotateError/unknownTrial(study:trial:known:)`` when the study has no such trial.
    func appendMetrics(study: StudyRecord, _ metrics: [TrialMetric]) throws
    /// Every recorded metric of a study, oldest first.
    func metrics(study: Int64) throws -> [TrialMetric]

    // MARK: Copy

    /// Writes a study exported from another store (one transaction): creates it when the name is free, or —
    /// when the destination has the same study (same recipe hash and fingerprints) — adds the trials it lacks
    /// (by `arch_hash`, keeping numbers), brings WAITING/RUNNING ones up to date with finished source trials,
    /// and adds missing metrics. Idempotent. (Blobs are copied separately, one per transaction: ``StoreCopy``.)
    /// - Throws: ``StoreError/copyConflict(study:location:message:)`` for a different study of the same name.
    @discardableResult
    func importStudy(_ export: StudyExport) throws -> StudyImportResult
}

extension StudyStore {
    /// Names of all studies, oldest first.
    public func studyNames() throws -> [String] { try listStudies().map(\.name) }

    /// The trial numbered `number` in a study, or nil.
    public func trial(study: Int64, number: Int) throws -> TrialRecord? {
        try trials(study: study).first { $0.number == number }
    }

    /// The best feasible COMPLETE trial (``StudyRanking.best(_:)``), or nil.
    public func bestTrial(study: StudyRecord) throws -> TrialRecord? {
        StudyRanking.best(try trials(study: study.id))
    }

    /// The study called `name`, or the most recently created one.
    /// - Throws: ``SearchError/unknownStudy(name:known:)``.
    public func resolveStudy(_ name: String?) throws -> StudyRecord {
        if let name { return try study(named: name) }
        guard let last = try listStudies().last else { throw SearchError.unknownStudy(name: "(any)", known: []) }
        return last
    }

    /// Everything stored about the study, for ``importStudy(_:)`` on another store.
    public func exportStudy(named name: String) throws -> StudyExport {
        let s = try study(named: name)
        return StudyExport(study: s, trials: try trials(study: s.id), metrics: try metrics(study: s.id))
    }
}
