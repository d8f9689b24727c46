import Foundation
import GRDB

/// Importance scores in the database, computed once per (checkpoint, calibration set, options) and reused.
public struct ScoreStore {
    public let db: PruneKitDatabase
    public init(db: PruneKitDatabase) { self.db = db }

    /// Stored scores for the key, or nil.
    public func load(checkpoint: String, calibration: String, optionsKey: String) throws -> ImportanceScores? {
        let json: String? = try db.read { d in
            try String.fetchOne(d, sql: """
                SELECT scores_json FROM importance_scores
                WHERE checkpoint_fingerprint = ? AND calibration_fingerprint = ? AND options_key = ?
                """, arguments: [checkpoint, calibration, optionsKey])
        }
        guard let json else { return nil }
        do {
            return try JSONDecoder().decode(ImportanceScores.self, from: Data(json.utf8))
        } catch {
            throw StoreError.corrupt(path: db.path, message: "stored scores for \(checkpoint.prefix(12))… do not decode: \(error)")
        }
    }

    /// Saves scores in one transaction (an interrupted run leaves nothing half-written).
    public func save(_ scores: ImportanceScores, checkpoint: String, checkpointPath: String, calibration: CalibrationSet,
                     optionsKey: String, seconds: Double) throws {
        let data = try JSONEncoder().encode(scores)
        try db.write { d in
            try d.execute(sql: """
                INSERT OR REPLACE INTO importance_scores
                (checkpoint_fingerprint, calibration_fingerprint, options_key, checkpoint_path, calibration_source,
                 samples, tokens, scores_json, seconds, layer_evaluations, tool_version, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [checkpoint, calibration.fingerprint, optionsKey, checkpointPath, calibration.source,
                                 calibration.samples.count, calibration.tokenCount, String(decoding: data, as: UTF8.self),
                                 seconds, scores.layerRanking?.layerEvaluations ?? 0, PruneKitVersion.string, timestampNow()])
        }
    }
}
