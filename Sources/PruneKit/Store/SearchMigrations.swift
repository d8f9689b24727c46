import GRDB

/// Migrations of the search tables (studies, trials). Registered after the importance-score migration.
func registerSearchMigrations(_ m: inout DatabaseMigrator) {
}
