import Foundation
import PruneKit

enum CheckpointTestSupport {
    /// The smallest shard limit (bytes) for which the greedy plan of `entries` has exactly `shards` shards.
    static func maxShardBytes(_ entries: [SafetensorsStreamWriter.Entry], shards: Int) -> Int? {
        let total = entries.reduce(0) { $0 + $1.byteCount }
        var limit = max(1, total / shards)
        while limit <= total {
            let n = ShardPlan(tensors: entries, maxShardBytes: limit).shards.count
            if n == shards { return limit }
            if n < shards { return nil }
            limit += max(1, total / 10_000)
        }
        return nil
    }

    /// Name → (SHA-256 of content, modification time) of every file in `folder`.
    static func snapshot(_ folder: String) throws -> [String: String] {
        var out = [String: String]()
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            let p = (folder as NSString).appendingPathComponent(name)
            let attrs = try FileManager.default.attributesOfItem(atPath: p)
            let mtime = (attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
            out[name] = sha256Hex(FileManager.default.contents(atPath: p) ?? Data()) + "@\(mtime)"
        }
        return out
    }
}
