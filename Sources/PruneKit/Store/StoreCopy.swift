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
    /// used. Large values move one at a time, so memory holds one score set or one blob, never the store: each
    /// score set the destination lacks is read and written in its own transaction; each study (record, trials,
    /// metrics) is imported in one destination transaction, then each blob it lacks (e.g. the full model's
    /// held-out logits) is read and written in its own. Idempotent: an interrupted copy, run again, adds only
    /// what is missing.
    /// - Throws: ``StoreError/copyConflict(study:location:message:)`` when the destination has a different study
    ///   of the same name (checked first: nothing is written); ``SearchError/unknownStudy(name:known:)``.
    public static func copy(from src: any StudyStore, to dst: any StudyStore, study: String? = nil) throws -> Summary {
        let names = try study.map { [try src.study(named: $0).name] } ?? src.studyNames()
        // A different study of the same name in the destination is refused before anything is written (score sets
        // included); the import below checks again inside its transaction.
        for n in names {
            guard let theirs = try? dst.study(named: n) else { continue }
            do { try StudyRecord.checkSame(existing: theirs, new: try src.study(named: n)) } catch let m as SearchError {
                throw StoreError.copyConflict(study: n, location: dst.location.description, message: "\(m)")
            }
        }
        var keys: Set<ScoreKey>? = nil
        if study != nil { keys = Set(try names.compactMap { try src.study(named: $0).scoreKey }) }
        let have = Set(try dst.scoreKeys())
        var written = 0
        for key in try src.scoreKeys() where !have.contains(key) && (keys?.contains(key) ?? true) {
            guard let set = try src.scores(key) else { continue }
            try dst.saveScores(set); written += 1
        }
        var done = [(name: String, result: StudyImportResult)]()
        for n in names {
            let e = try src.exportStudy(named: n)
            done.append((n, try dst.importStudy(e)))
            let to = try dst.study(named: n).id
            let present = Set(try dst.blobNames(study: to))
            for name in try src.blobNames(study: e.study.id) where !present.contains(name) {
                guard let data = try src.blob(study: e.study.id, name: name) else { continue }
                try dst.saveBlob(study: to, name: name, data: data)
            }
        }
        return Summary(studies: done, scoreSets: written)
    }
}
