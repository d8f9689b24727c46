import Foundation

/// Paths to the project's test fixtures (Tests/Fixtures), found from this file's location.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static var nemoTiny: String { root.appendingPathComponent("nemo-tiny").path }
    static var splitBPE: String { root.appendingPathComponent("split-bpe").path }
    static var config12B: String { root.appendingPathComponent("configs/nemotron-nano-12b-v2/config.json").path }
    static var config9B: String { root.appendingPathComponent("configs/nemotron-nano-9b-v2/config.json").path }

    /// A fresh temporary directory, removed by the caller (or left in /tmp on failure for inspection).
    static func tempDir(_ name: String = "prunekit-test") -> String {
        let p = NSTemporaryDirectory() + "\(name)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
}

extension Fixtures {
    /// A Transformer-only model (36 × "*-") written in Nemotron-H form, sized like Qwen3-8B (cost-model comparisons).
    static var configQwen3Like: String { root.appendingPathComponent("configs/qwen3-8b-like/config.json").path }
}
