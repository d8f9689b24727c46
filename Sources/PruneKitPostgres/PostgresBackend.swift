import PruneKit

/// Makes ``openStore(_:mode:)`` open `postgresql://` and `postgres://` URLs with ``PostgresStudyStore``, and
/// ``openScoringQueue(_:)`` give such a store its ``PostgresScoringQueue``. Call once at startup, before any store
/// is opened (`prunekit`'s `main` does); calling it again is harmless.
public func registerPostgresBackend() {
    PostgresBackend.register { url, mode in try PostgresStudyStore(url: url, mode: mode) }
}

extension PostgresStudyStore: ScoringQueueStore {
    public func scoringQueue() -> any ScoringQueue { PostgresScoringQueue(store: self) }
}
