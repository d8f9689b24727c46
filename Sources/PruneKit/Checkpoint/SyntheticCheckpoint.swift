import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Synthetic checkpoints for memory and speed measurements at real widths (e.g. Nano-12B-v2 with a few
/// layers): a valid config.json and a single `model.safetensors` whose header is real and whose data is
/// zero, made with ftruncate (a sparse file: created instantly, no disk written).
public enum SyntheticCheckpoint {
    /// Writes `dir/config.json` and `dir/model.safetensors` (zeros) for `config` in `dtype`.
    /// - Returns: the bytes of tensor data.
    @discardableResult
    public static func writeSparse(config: NemotronHConfig, dir: String, dtype: DType = .BF16) throws -> Int {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let entries = config.expectedTensors().map { SafetensorsStreamWriter.Entry(name: $0.name, dtype: dtype, shape: $0.shape) }
        let header = SafetensorsStreamWriter.header(entries: entries)
        var prefix = [UInt8](repeating: 0, count: 8)
        for k in 0..<8 { prefix[k] = UInt8((UInt64(header.count) >> (8 * UInt64(k))) & 0xFF) }
        let path = (dir as NSString).appendingPathComponent("model.safetensors")
        guard FileManager.default.createFile(atPath: path, contents: Data(prefix + header)) else {
            throw CheckpointError.write(path: path, message: "cannot create")
        }
        let data = entries.reduce(0) { $0 + $1.byteCount }
        guard truncate(path, off_t(8 + header.count + data)) == 0 else {
            throw CheckpointError.write(path: path, message: "truncate failed: \(String(cString: strerror(errno)))")
        }
        try JSONWriter(indent: 2).string(config.updatedJSON()).write(toFile: (dir as NSString).appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        return data
    }

    /// Nano-12B-v2's widths (nemotron-h.md §4) with a custom pattern.
    public static func nano12BShaped(pattern: String) -> NemotronHConfig {
        NemotronHConfig(pattern: pattern, hiddenSize: 5120, ffnHiddenSize: 20480, numAttentionHeads: 40, numKeyValueHeads: 8,
                        headDim: 128, mambaNumHeads: 128, mambaHeadDim: 80, ssmStateSize: 128, nGroups: 8, vocabSize: 131072)
    }
}
