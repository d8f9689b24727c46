import Foundation
import PruneKit
import XCTest

/// The store backends the store and search tests run against: SQLite always (a fresh file per call), and
/// PostgreSQL when `PRUNEKIT_TEST_POSTGRES_URL` names a server (a fresh database per call). In CI the variable
/// is set, so a PostgreSQL test that cannot reach its server fails; it is never skipped silently.
enum StoreBackends {
    /// A fresh, empty store location per backend, labelled for messages.
    static func fresh(_ dir: String) throws -> [(name: String, location: StoreLocation)] {
        var out: [(String, StoreLocation)] = [("sqlite", .sqlite(path: dir + "/store-\(UUID().uuidString.prefix(8)).sqlite"))]
        if let base = ProcessInfo.processInfo.environment["PRUNEKIT_TEST_POSTGRES_URL"], !base.isEmpty {
            out.append(("postgres", .postgres(url: try freshPostgres(baseURL: base))))
        } else if PostgresTestServer.required {
            throw PostgresTestServer.Unavailable(description: "PRUNEKIT_REQUIRE_POSTGRES=1 but PRUNEKIT_TEST_POSTGRES_URL is not set")
        }
        return out
    }

    /// A fresh empty PostgreSQL database on the server of `baseURL`, as a URL (dropped when the test ends).
    static func freshPostgres(baseURL: String) throws -> String {
        try PostgresTestServer.freshDatabase(baseURL: baseURL)
    }

    /// A study record with placeholder inputs (for store tests that need no model).
    static func study(_ name: String, recipeHash: String = "recipe-1", topK: Int = 4) -> StudyRecord {
        StudyRecord(name: name, recipePath: "/r/\(name).yaml", recipeYAML: "top_k: \(topK)\n", recipeJSON: "{}", recipeHash: recipeHash,
                    objective: .kl, strategy: "joint", selection: "throughput", checkpointPath: "/m", checkpointFingerprint: "ckpt",
                    calibrationFingerprint: "cal", heldoutFingerprint: "held", calibrationPath: "/m/calib.jsonl", heldoutPath: "/m/held.jsonl",
                    scoreOptionsKey: "opts", hardware: "tiny-gpu", context: 4096, batch: 1, budgetBytes: 4 << 20, inputLength: 128,
                    outputLength: 128, topK: topK, enumerated: 10, feasible: 6,
                    rejections: [SearchError.Rejection(constraint: "memory budget", count: 4)], source: nil, fullLoss: 3.3, seed: 7)
    }

    /// A feasible WAITING trial of `layers` layers and hidden size `hidden`.
    static func trial(layers: Int, hidden: Int, tokensPerSecond: Double = 100) -> TrialRecord {
        let a = Architecture(numLayers: layers, hiddenSize: hidden, ffnHiddenSize: 384, mambaNumHeads: 8, mambaHeadDim: 16, numAttentionHeads: 4,
                             pattern: String(repeating: "M", count: layers), keptLayers: Array(0..<layers))
        var t = TrialRecord(id: 0, studyID: 0, number: 0, stage: .joint, state: .waiting, architecture: a, archHash: a.hash)
        t.params = layers * hidden; t.weightBytes = 2 * t.params; t.memoryBytes = t.weightBytes + 1000; t.budgetBytes = 4 << 20
        t.slackBytes = t.budgetBytes - t.memoryBytes; t.fits = true; t.maxBatch = 1; t.tokensPerSecond = tokensPerSecond
        t.cost = CostFigures(parameters: t.params, weightBytes: t.weightBytes, kvBytes: 600, mambaStateBytes: 400,
                                         memoryBytes: t.memoryBytes, outputTokensPerSecond: tokensPerSecond)
        t.seed = 7; t.createdAt = "2026-12-03T00:00:00Z"
        return t
    }

    /// A small score set under `key`.
    static func scoreSet(_ key: ScoreKey) -> ScoreSet {
        let s = ImportanceScores(hidden: [1, 2, 3], ffn: [1: [0.5, 0.25]], attentionHeads: [:], mambaChannels: [:], mambaHeadDim: [:],
                                 mambaHeads: [:], blockInfluence: nil,
                                 layerRanking: LayerRanking(metric: "mse", rounds: [LayerRemovalRound(removed: 2, score: 0.1, all: [2: 0.1, 3: 0.2])],
                                                            layerEvaluations: 3, maxEvaluationsPerRound: 3))
        return ScoreSet(key: key, checkpointPath: "/m", calibrationSource: "calib.jsonl", samples: 2, tokens: 32, scores: s, seconds: 1.5,
                        layerEvaluations: 3, createdAt: "2026-12-03T00:00:00Z")
    }
}
