import GRDB

/// Migrations of the search tables (studies, trials). Registered after the importance-score migration.
/// Modelled on Optuna's RDB storage (formats.md §4): one row per candidate architecture per study, unique on its
/// canonical hash, so nothing is evaluated twice and a killed search resumes where it stopped.
func registerSearchMigrations(_ m: inout DatabaseMigrator) {
    m.registerMigration("v2-search") { db in
        try db.execute(sql: """
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
            """)
        try db.execute(sql: """
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
            """)
        try db.execute(sql: "CREATE INDEX trials_by_state ON trials (study_id, stage, state)")
    }
    // Post-hoc metrics of a trial's students (e.g. loss after knowledge distillation), appended by
    // `prunekit annotate`; a row is never updated, the latest per (trial, student, name, kd_steps) is current.
    m.registerMigration("v3-trial-metrics") { db in
        try db.execute(sql: """
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
            """)
        try db.execute(sql: "CREATE INDEX trial_metrics_by_trial ON trial_metrics (study_id, trial_number, name)")
    }
}
