/// Opens a PostgreSQL store (``PostgresStudyStore``).
func openPostgresStore(url: String, mode: StoreMode) throws -> any StudyStore {
    try PostgresStudyStore(url: url, mode: mode)
}
