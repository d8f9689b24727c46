/// `prunekit db copy`: studies (with their trials, post-hoc metrics and blobs) and stored importance scores
/// from one store to another through ``StudyStore`` — SQLite ↔ SQLite, SQLite → PostgreSQL to move a local
/// study onto a cluster, PostgreSQL → SQLite to archive one. Idempotent: copying again changes nothing.
public enum StoreCopy {
    /// What a copy did.
    public struct Summary: Sendable, Equatable {
        /// Study name → what importing it did.
        public var studies: [(name: String, result: StudyImportResult)]
        /// Score sets written (new or replaced with the same content).
        public var scoreSets: Int
        public static func == (a: Summary, b: Summary) -> Bool {
            a.scoreSets == b.scoreSets && a.studies.map(\.name) == b.studies.map(\.name) && a.studies.map(\.result) == b.studies.map(\.result)
        }
    }

    /// Copies every study (or only `study`) and the score sets: all of them, or with `study` only the one it
    /// used. Each study is imported in one destination transaction; a score set is written only when the
    /// destination lacks it.
    /// - Throws: ``StoreError/copyConflict(study:location:message:)`` when the destination has a different study
    ///   of the same name (nothing of that study is written); ``SearchError/unknownStudy(name:known:)``.
    public static func copy(from src: any StudyStore, to dst: any StudyStore, study: String? = nil) throws -> Summary {
        let names = try study.map { [try src.study(named: $0).name] } ?? src.studyNames()
        var keys: Set<ScoreKey>? = nil
        if study != nil { keys = Set(try names.compactMap { try src.study(named: $0).scoreKey }) }
        var written = 0
        for set in try src.allScores() where keys?.contains(set.key) ?? true {
            if try dst.scores(set.key) == nil { try dst.saveScores(set); written += 1 }
        }
        var done = [(name: String, result: StudyImportResult)]()
        for n in names { done.append((n, try dst.importStudy(try src.exportStudy(named: n)))) }
        return Summary(studies: done, scoreSets: written)
    }
}
