/// Opens a PostgreSQL store. Replaced by the PostgreSQL backend when it is built in; until then every
/// `postgresql://` location is refused with a clear error.
func openPostgresStore(url: String, mode: StoreMode) throws -> any StudyStore {
    throw StoreError.unavailable(location: StoreLocation.redact(url), message: "the PostgreSQL backend is not built into this PruneKit")
}
