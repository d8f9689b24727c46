/// One schema change of the PruneKit store, in both SQL dialects. Never edited once shipped: a change is a
/// new migration appended to ``StoreMigrations/all`` (GRDB Migrations.md; the same rule for PostgreSQL).
public struct StoreMigration: Sendable {
    /// Stable identifier, recorded in the database when applied (SQLite: GRDB's `grdb_migrations` table;
    /// PostgreSQL: `prunekit_migrations`).
    public var id: String
    /// Statements for SQLite, run in order in one transaction.
    public var sqlite: [String]
    /// Statements for PostgreSQL, run in order in one transaction. Where they differ from ``sqlite`` the
    /// difference is stated next to the migration.
    public var postgres: [String]
    /// Stored values rewritten in Swift after the statements, in the same transaction (both dialects).
    public var rewrites: [StoreRewrite] = []
}

/// A data step of a migration: every non-NULL text value of `column` in `table` is replaced by
/// `transform(value)`, row by row (rows by their `id`), in the migration's transaction. `table` and `column` are
/// constants of the migration list (never input), so backends may place them in the SQL; values are bound.
public struct StoreRewrite: Sendable {
    public var table: String
    public var column: String
    /// The new value of a stored one. Throws for a value it cannot read (the migration then fails, nothing changed).
    public var transform: @Sendable (String) throws -> String

    /// `transform(value)` of row `id`; a failure is ``StoreError/corrupt(path:message:)`` naming `location`,
    /// the table, column and row.
    public func apply(_ value: String, id: Int64, location: String) throws -> String {
        do { return try transform(value) } catch {
            throw StoreError.corrupt(path: location, message: "\(table).\(column) of row \(id) cannot be migrated (\(error)): \(value.prefix(200))")
        }
    }
}

/// The one migration list of the PruneKit store, oldest first. A backend applies, in order, every migration
/// whose id its database has not recorded, and refuses a database that records an id not in this list
/// (written by a newer PruneKit).
///
/// Dialect differences (PostgreSQL versions of v1–v3 were written when the PostgreSQL backend was added; the
/// SQLite statements are those that shipped):
/// - `INTEGER PRIMARY KEY AUTOINCREMENT` (SQLite) is `BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY`;
/// - `INTEGER` is `BIGINT` (byte counts exceed 2³¹; SQLite's INTEGER is already 64-bit);
/// - `REAL` is `DOUBLE PRECISION` (PostgreSQL's REAL is 32-bit; SQLite's is 64-bit);
/// - `BLOB` is `BYTEA`;
/// - `length(x)` is the same; `CHECK`, `UNIQUE`, `REFERENCES … ON DELETE CASCADE` are the same.
public enum StoreMigrations {
    public static let all: [StoreMigration] = [v1, v2, v3, v4, v5, v6]

    /// Importance scores keyed by (checkpoint, calibration, options).
    static let v1 = StoreMigration(id: "v1-importance-scores", sqlite: [
        """
        CREATE TABLE importance_scores (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            checkpoint_fingerprint TEXT NOT NULL,
            calibration_fingerprint TEXT NOT NULL,
            options_key TEXT NOT NULL,
            checkpoint_path TEXT NOT NULL,
            calibration_source TEXT NOT NULL,
            samples INTEGER NOT NULL CHECK (samples > 0),
            tokens INTEGER NOT NULL CHECK (tokens > 0),
            scores_json TEXT NOT NULL,
            seconds REAL NOT NULL,
            layer_evaluations INTEGER NOT NULL,
            tool_version TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (checkpoint_fingerprint, calibration_fingerprint, options_key)
        )
        """,
    ], postgres: [
        """
        CREATE TABLE importance_scores (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            checkpoint_fingerprint TEXT NOT NULL,
            calibration_fingerprint TEXT NOT NULL,
            options_key TEXT NOT NULL,
            checkpoint_path TEXT NOT NULL,
            calibration_source TEXT NOT NULL,
            samples BIGINT NOT NULL CHECK (samples > 0),
            tokens BIGINT NOT NULL CHECK (tokens > 0),
            scores_json TEXT NOT NULL,
            seconds DOUBLE PRECISION NOT NULL,
            layer_evaluations BIGINT NOT NULL,
            tool_version TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (checkpoint_fingerprint, calibration_fingerprint, options_key)
        )
        """,
    ])

    /// Studies and trials, modelled on Optuna's RDB storage: one row per candidate architecture per study,
    /// unique on its hash, so nothing is evaluated twice and a killed search resumes where it stopped.
    static let v2 = StoreMigration(id: "v2-search", sqlite: [
        """
        CREATE TABLE studies (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            recipe_path TEXT NOT NULL,
            recipe_yaml TEXT NOT NULL,
            recipe_json TEXT NOT NULL,
            recipe_hash TEXT NOT NULL,
            objective TEXT NOT NULL CHECK (objective IN ('kl', 'mse', 'loss')),
            direction TEXT NOT NULL DEFAULT 'minimize' CHECK (direction IN ('minimize', 'maximize')),
            strategy TEXT NOT NULL CHECK (strategy IN ('joint', 'depth-then-width')),
            selection TEXT NOT NULL CHECK (selection IN ('throughput', 'params')),
            checkpoint_path TEXT NOT NULL,
            checkpoint_fingerprint TEXT NOT NULL,
            calibration_fingerprint TEXT NOT NULL,
            heldout_fingerprint TEXT NOT NULL,
            hardware TEXT NOT NULL,
            context INTEGER NOT NULL CHECK (context > 0),
            batch INTEGER NOT NULL CHECK (batch > 0),
            budget_bytes INTEGER NOT NULL,
            n_enumerated INTEGER NOT NULL CHECK (n_enumerated >= 0),
            n_feasible INTEGER NOT NULL CHECK (n_feasible >= 0),
            rejections_json TEXT NOT NULL,
            full_loss REAL,
            best_depth INTEGER,
            seed INTEGER NOT NULL,
            tool_version TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE trials (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
            number INTEGER NOT NULL CHECK (number >= 0),
            stage TEXT NOT NULL CHECK (stage IN ('joint', 'depth', 'width')),
            state TEXT NOT NULL CHECK (state IN ('WAITING', 'RUNNING', 'COMPLETE', 'PRUNED', 'FAIL')),
            arch_json TEXT NOT NULL,
            arch_hash TEXT NOT NULL,
            num_layers INTEGER NOT NULL,
            hidden_size INTEGER NOT NULL,
            ffn_hidden_size INTEGER NOT NULL,
            mamba_num_heads INTEGER NOT NULL,
            mamba_head_dim INTEGER NOT NULL,
            num_attention_heads INTEGER NOT NULL,
            pattern TEXT NOT NULL,
            params INTEGER NOT NULL,
            weight_bytes INTEGER NOT NULL,
            memory_bytes INTEGER NOT NULL,
            budget_bytes INTEGER NOT NULL,
            slack_bytes INTEGER NOT NULL,
            fits INTEGER NOT NULL CHECK (fits IN (0, 1)),
            max_batch INTEGER NOT NULL,
            tokens_per_second REAL NOT NULL,
            pruned_reason TEXT,
            kl REAL,
            mse REAL,
            loss REAL,
            objective_value REAL,
            error TEXT,
            seed INTEGER NOT NULL,
            tool_version TEXT NOT NULL,
            worker_id TEXT,
            worker_host TEXT,
            worker_pid INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            claimed_at TEXT,
            heartbeat REAL,
            finished_at TEXT,
            eval_seconds REAL,
            CHECK (state != 'COMPLETE' OR objective_value IS NOT NULL),
            CHECK (state != 'PRUNED' OR pruned_reason IS NOT NULL),
            UNIQUE (study_id, arch_hash),
            UNIQUE (study_id, number)
        )
        """,
        "CREATE INDEX trials_by_state ON trials (study_id, stage, state)",
    ], postgres: [
        """
        CREATE TABLE studies (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            recipe_path TEXT NOT NULL,
            recipe_yaml TEXT NOT NULL,
            recipe_json TEXT NOT NULL,
            recipe_hash TEXT NOT NULL,
            objective TEXT NOT NULL CHECK (objective IN ('kl', 'mse', 'loss')),
            direction TEXT NOT NULL DEFAULT 'minimize' CHECK (direction IN ('minimize', 'maximize')),
            strategy TEXT NOT NULL CHECK (strategy IN ('joint', 'depth-then-width')),
            selection TEXT NOT NULL CHECK (selection IN ('throughput', 'params')),
            checkpoint_path TEXT NOT NULL,
            checkpoint_fingerprint TEXT NOT NULL,
            calibration_fingerprint TEXT NOT NULL,
            heldout_fingerprint TEXT NOT NULL,
            hardware TEXT NOT NULL,
            context BIGINT NOT NULL CHECK (context > 0),
            batch BIGINT NOT NULL CHECK (batch > 0),
            budget_bytes BIGINT NOT NULL,
            n_enumerated BIGINT NOT NULL CHECK (n_enumerated >= 0),
            n_feasible BIGINT NOT NULL CHECK (n_feasible >= 0),
            rejections_json TEXT NOT NULL,
            full_loss DOUBLE PRECISION,
            best_depth BIGINT,
            seed BIGINT NOT NULL,
            tool_version TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE trials (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            study_id BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
            number BIGINT NOT NULL CHECK (number >= 0),
            stage TEXT NOT NULL CHECK (stage IN ('joint', 'depth', 'width')),
            state TEXT NOT NULL CHECK (state IN ('WAITING', 'RUNNING', 'COMPLETE', 'PRUNED', 'FAIL')),
            arch_json TEXT NOT NULL,
            arch_hash TEXT NOT NULL,
            num_layers BIGINT NOT NULL,
            hidden_size BIGINT NOT NULL,
            ffn_hidden_size BIGINT NOT NULL,
            mamba_num_heads BIGINT NOT NULL,
            mamba_head_dim BIGINT NOT NULL,
            num_attention_heads BIGINT NOT NULL,
            pattern TEXT NOT NULL,
            params BIGINT NOT NULL,
            weight_bytes BIGINT NOT NULL,
            memory_bytes BIGINT NOT NULL,
            budget_bytes BIGINT NOT NULL,
            slack_bytes BIGINT NOT NULL,
            fits BIGINT NOT NULL CHECK (fits IN (0, 1)),
            max_batch BIGINT NOT NULL,
            tokens_per_second DOUBLE PRECISION NOT NULL,
            pruned_reason TEXT,
            kl DOUBLE PRECISION,
            mse DOUBLE PRECISION,
            loss DOUBLE PRECISION,
            objective_value DOUBLE PRECISION,
            error TEXT,
            seed BIGINT NOT NULL,
            tool_version TEXT NOT NULL,
            worker_id TEXT,
            worker_host TEXT,
            worker_pid BIGINT,
            attempts BIGINT NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            claimed_at TEXT,
            heartbeat DOUBLE PRECISION,
            finished_at TEXT,
            eval_seconds DOUBLE PRECISION,
            CHECK (state != 'COMPLETE' OR objective_value IS NOT NULL),
            CHECK (state != 'PRUNED' OR pruned_reason IS NOT NULL),
            UNIQUE (study_id, arch_hash),
            UNIQUE (study_id, number)
        )
        """,
        "CREATE INDEX trials_by_state ON trials (study_id, stage, state)",
    ])

    /// Post-hoc metrics of a trial's students (e.g. loss after knowledge distillation), appended by
    /// `prunekit annotate`; a row is never updated, the latest per (trial, student, name, kd_steps) is current.
    static let v3 = StoreMigration(id: "v3-trial-metrics", sqlite: [
        """
        CREATE TABLE trial_metrics (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
            trial_number INTEGER NOT NULL CHECK (trial_number >= 0),
            student TEXT NOT NULL CHECK (length(student) > 0),
            name TEXT NOT NULL CHECK (length(name) > 0),
            value REAL NOT NULL,
            kd_steps INTEGER CHECK (kd_steps IS NULL OR kd_steps >= 0),
            note TEXT,
            provenance_json TEXT NOT NULL,
            tool_version TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX trial_metrics_by_trial ON trial_metrics (study_id, trial_number, name)",
    ], postgres: [
        """
        CREATE TABLE trial_metrics (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            study_id BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
            trial_number BIGINT NOT NULL CHECK (trial_number >= 0),
            student TEXT NOT NULL CHECK (length(student) > 0),
            name TEXT NOT NULL CHECK (length(name) > 0),
            value DOUBLE PRECISION NOT NULL,
            kd_steps BIGINT CHECK (kd_steps IS NULL OR kd_steps >= 0),
            note TEXT,
            provenance_json TEXT NOT NULL,
            tool_version TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX trial_metrics_by_trial ON trial_metrics (study_id, trial_number, name)",
    ])

    /// The study records what it ran on and used (resolved paths, the score set, the source's figures, the
    /// workload, top_k); each trial its kept layers and full cost figures; per-study blobs (the full model's
    /// held-out logits, computed once). New columns are nullable: rows of older studies lack them.
    /// Differences: `BLOB` is `BYTEA`; `INTEGER` is `BIGINT`.
    static let v4 = StoreMigration(id: "v4-study-domain", sqlite: [
        "ALTER TABLE studies ADD COLUMN calibration_path TEXT",
        "ALTER TABLE studies ADD COLUMN heldout_path TEXT",
        "ALTER TABLE studies ADD COLUMN score_options_key TEXT",
        "ALTER TABLE studies ADD COLUMN input_length INTEGER",
        "ALTER TABLE studies ADD COLUMN output_length INTEGER",
        "ALTER TABLE studies ADD COLUMN top_k INTEGER CHECK (top_k IS NULL OR top_k > 0)",
        "ALTER TABLE studies ADD COLUMN source_json TEXT",
        "ALTER TABLE trials ADD COLUMN kept_layers_json TEXT",
        "ALTER TABLE trials ADD COLUMN cost_json TEXT",
        """
        CREATE TABLE study_blobs (
            study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
            name TEXT NOT NULL CHECK (length(name) > 0),
            data BLOB NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (study_id, name)
        )
        """,
    ], postgres: [
        "ALTER TABLE studies ADD COLUMN calibration_path TEXT",
        "ALTER TABLE studies ADD COLUMN heldout_path TEXT",
        "ALTER TABLE studies ADD COLUMN score_options_key TEXT",
        "ALTER TABLE studies ADD COLUMN input_length BIGINT",
        "ALTER TABLE studies ADD COLUMN output_length BIGINT",
        "ALTER TABLE studies ADD COLUMN top_k BIGINT CHECK (top_k IS NULL OR top_k > 0)",
        "ALTER TABLE studies ADD COLUMN source_json TEXT",
        "ALTER TABLE trials ADD COLUMN kept_layers_json TEXT",
        "ALTER TABLE trials ADD COLUMN cost_json TEXT",
        """
        CREATE TABLE study_blobs (
            study_id BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
            name TEXT NOT NULL CHECK (length(name) > 0),
            data BYTEA NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (study_id, name)
        )
        """,
    ])

    /// Distributed scoring: jobs, their units (leases on the database clock, Unix seconds) and each unit's
    /// partial result, stored once (primary key). Differences: `INTEGER PRIMARY KEY AUTOINCREMENT` is an
    /// identity column, `INTEGER` is `BIGINT`, `REAL` is `DOUBLE PRECISION`, `BLOB` is `BYTEA`.
    static let v5 = StoreMigration(id: "v5-scoring-jobs", sqlite: [
        """
        CREATE TABLE scoring_jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            spec_json TEXT NOT NULL,
            checkpoint_fingerprint TEXT NOT NULL,
            calibration_fingerprint TEXT NOT NULL,
            options_key TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE scoring_units (
            job_id INTEGER NOT NULL REFERENCES scoring_jobs(id) ON DELETE CASCADE,
            phase INTEGER NOT NULL CHECK (phase >= 0),
            idx INTEGER NOT NULL CHECK (idx >= 0),
            unit_json TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('WAITING', 'RUNNING', 'DONE')),
            worker TEXT,
            lease_token TEXT,
            lease_expires REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            seconds REAL,
            finished_at REAL,
            PRIMARY KEY (job_id, phase, idx)
        )
        """,
        """
        CREATE TABLE scoring_partials (
            job_id INTEGER NOT NULL REFERENCES scoring_jobs(id) ON DELETE CASCADE,
            phase INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (job_id, phase, idx)
        )
        """,
    ], postgres: [
        """
        CREATE TABLE scoring_jobs (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            spec_json TEXT NOT NULL,
            checkpoint_fingerprint TEXT NOT NULL,
            calibration_fingerprint TEXT NOT NULL,
            options_key TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE scoring_units (
            job_id BIGINT NOT NULL REFERENCES scoring_jobs(id) ON DELETE CASCADE,
            phase BIGINT NOT NULL CHECK (phase >= 0),
            idx BIGINT NOT NULL CHECK (idx >= 0),
            unit_json TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('WAITING', 'RUNNING', 'DONE')),
            worker TEXT,
            lease_token TEXT,
            lease_expires DOUBLE PRECISION,
            attempts BIGINT NOT NULL DEFAULT 0,
            seconds DOUBLE PRECISION,
            finished_at DOUBLE PRECISION,
            PRIMARY KEY (job_id, phase, idx)
        )
        """,
        """
        CREATE TABLE scoring_partials (
            job_id BIGINT NOT NULL REFERENCES scoring_jobs(id) ON DELETE CASCADE,
            phase BIGINT NOT NULL,
            idx BIGINT NOT NULL,
            data BYTEA NOT NULL,
            PRIMARY KEY (job_id, phase, idx)
        )
        """,
    ])

    /// One JSON convention for stored values: the study's source figures (`studies.source_json`) and the trials'
    /// cost figures (`trials.cost_json`), written by v4–v5 with camelCase keys, are rewritten with snake_case
    /// keys (formats.md §7); the source's architecture gains `num_layers` (its pattern's length) and
    /// `kept_layers` (every layer), the form ``Architecture`` writes. No schema change; the same in both dialects.
    static let v6 = StoreMigration(id: "v6-snake-case-json", sqlite: [], postgres: [], rewrites: [
        StoreRewrite(table: "studies", column: "source_json", transform: SnakeCaseJSONRewrite.source),
        StoreRewrite(table: "trials", column: "cost_json", transform: SnakeCaseJSONRewrite.cost),
    ])
}

/// The value rewrites of migration v6, frozen with it: they work on the JSON tree (numbers kept as written),
/// not on the Swift types, so later changes of those types do not change what the migration did.
enum SnakeCaseJSONRewrite {
    /// `kvBytes` → `kv_bytes`; snake_case keys are unchanged.
    static func snakeCase(_ key: String) -> String {
        var out = ""
        for ch in key {
            if ch.isUppercase { if !out.isEmpty { out.append("_") }; out.append(contentsOf: ch.lowercased()) } else { out.append(ch) }
        }
        return out
    }

    /// The object's keys (one level) in snake_case.
    static func renamed(_ v: JSONValue) throws -> JSONValue {
        guard case let .object(pairs) = v else { throw JSONParseError(message: "expected a JSON object", offset: 0) }
        return .object(pairs.map { (snakeCase($0.0), $0.1) })
    }

    static func text(_ v: JSONValue) throws -> String { try PruneKitJSON.string(v) }

    /// A `cost_json` value: `{"kvBytes": …, "outputTokensPerSecond": …}` → `{"kv_bytes": …, "output_tokens_per_second": …}`.
    @Sendable static func cost(_ s: String) throws -> String { try text(try renamed(try JSONParser().parse(s))) }

    /// A `source_json` value: `{"architecture": {...}, "cost": {...}}` with both objects' keys in snake_case and
    /// the architecture's `num_layers` and `kept_layers` added when absent.
    @Sendable static func source(_ s: String) throws -> String {
        let v = try JSONParser().parse(s)
        guard let arch = v["architecture"], let cost = v["cost"] else {
            throw JSONParseError(message: "expected an object with \"architecture\" and \"cost\"", offset: 0)
        }
        var a = try renamed(arch)
        guard let pattern = a["pattern"]?.stringValue else { throw JSONParseError(message: "the architecture has no \"pattern\"", offset: 0) }
        if a["num_layers"] == nil { a = a.setting("num_layers", .int(pattern.count)) }
        if a["kept_layers"] == nil { a = a.setting("kept_layers", .array((0..<pattern.count).map { .int($0) })) }
        return try text(v.setting("architecture", a).setting("cost", try renamed(cost)))
    }
}
