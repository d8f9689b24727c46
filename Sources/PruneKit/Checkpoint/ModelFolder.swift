import Foundation
import Crypto

/// A Hugging Face model folder: `config.json` plus `model.safetensors`, or shards listed by
/// `model.safetensors.index.json` (formats.md §2).
///
/// Opening reads only the headers. Shard names in the index are untrusted: each must be a bare file name
/// of a regular file inside the folder. Every tensor in the index must be in its shard and every tensor of
/// a shard must be in the index.
/// - Throws: ``CheckpointError`` or ``ConfigError`` naming the file, tensor or key.
public final class ModelFolder: @unchecked Sendable {
    public static let indexName = "model.safetensors.index.json"
    public static let singleName = "model.safetensors"

    public let path: String
    public let config: NemotronHConfig
    /// The weight files, in sorted name order.
    public let files: [SafetensorsFile]
    /// Tensor name → index into ``files``.
    public let location: [String: Int]
    /// Whether the weights come through an index.
    public let isSharded: Bool

    /// Opens the folder, validates every header and the index, and (when `strict`) checks every tensor
    /// against the config.
    public init(path: String, strict: Bool = true) throws {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw CheckpointError.folder(path: path, message: "not a directory (expected a Hugging Face model folder with config.json and *.safetensors)")
        }
        let configPath = (path as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw CheckpointError.folder(path: path, message: "no config.json in the folder")
        }
        config = try NemotronHConfig.load(path: configPath)
        let indexPath = (path as NSString).appendingPathComponent(Self.indexName)
        let singlePath = (path as NSString).appendingPathComponent(Self.singleName)
        if FileManager.default.fileExists(atPath: indexPath) {
            isSharded = true
            (files, location) = try Self.openSharded(folder: path, indexPath: indexPath)
        } else if FileManager.default.fileExists(atPath: singlePath) {
            isSharded = false
            let f = try SafetensorsFile(path: singlePath)
            files = [f]
            location = Dictionary(uniqueKeysWithValues: f.names.map { ($0, 0) })
        } else {
            throw CheckpointError.folder(path: path, message: "no \(Self.singleName) and no \(Self.indexName)")
        }
        if strict { try checkAgainstConfig() }
    }

    private static func openSharded(folder: String, indexPath: String) throws -> ([SafetensorsFile], [String: Int]) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: indexPath)) } catch {
            throw CheckpointError.index(file: indexPath, message: "cannot read: \(error.localizedDescription)")
        }
        let json: JSONValue
        do { json = try JSONParser(allowNonFinite: false, rejectDuplicateKeys: true).parse(data) } catch {
            throw CheckpointError.index(file: indexPath, message: "not valid JSON: \(error)")
        }
        guard let map = json["weight_map"]?.objectValue else {
            throw CheckpointError.index(file: indexPath, message: "missing \"weight_map\" object")
        }
        guard !map.isEmpty else { throw CheckpointError.index(file: indexPath, message: "\"weight_map\" is empty") }
        var shardOf = [String: String]()
        for (tensor, v) in map {
            guard let shard = v.stringValue else {
                throw CheckpointError.index(file: indexPath, message: "weight_map entry for '\(tensor)' is not a string")
            }
            guard isBareFileName(shard) else {
                throw CheckpointError.index(file: indexPath, message: "shard name \"\(shard)\" for '\(tensor)' is not a bare file name inside the model folder")
            }
            shardOf[tensor] = shard
        }
        let shardNames = Set(shardOf.values).sorted()
        var files = [SafetensorsFile]()
        var location = [String: Int]()
        for (k, name) in shardNames.enumerated() {
            let p = (folder as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: p) else {
                throw CheckpointError.index(file: indexPath, message: "shard \"\(name)\" listed in weight_map does not exist in the folder")
            }
            let f = try SafetensorsFile(path: p)
            files.append(f)
            for t in f.names {
                guard let listed = shardOf[t] else {
                    throw CheckpointError.index(file: indexPath, message: "tensor '\(t)' is in shard \"\(name)\" but in no weight_map entry")
                }
                guard listed == name else {
                    throw CheckpointError.index(file: indexPath, message: "tensor '\(t)' is in shard \"\(name)\" but weight_map says \"\(listed)\"")
                }
                guard location[t] == nil else {
                    throw CheckpointError.index(file: indexPath, message: "tensor '\(t)' appears in more than one shard")
                }
                location[t] = k
            }
        }
        for (t, shard) in shardOf where location[t] == nil {
            throw CheckpointError.index(file: indexPath, message: "tensor '\(t)' is listed for shard \"\(shard)\" but is missing from that shard")
        }
        return (files, location)
    }

    /// A bare file name: no directory separators, not `.`/`..`, no NUL, not hidden-path tricks.
    static func isBareFileName(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".." && !s.contains("/") && !s.contains("\\") && !s.contains("\0")
    }

    /// Checks that the tensors are exactly those the config implies, with the expected shapes and a float dtype.
    /// - Throws: ``CheckpointError/mismatch(tensor:message:)`` naming the key and the expected shape.
    public func checkAgainstConfig() throws {
        let expected = config.expectedTensors()
        let names = Set(expected.map(\.name))
        for (name, shape) in expected {
            guard let (f, info) = try? tensor(name) else {
                throw CheckpointError.mismatch(tensor: name, message: "missing from \(path) (expected shape \(shape) from config.json)")
            }
            guard info.shape == shape else {
                throw CheckpointError.mismatch(tensor: name, message: "shape \(info.shape) in \(f.path), but config.json implies \(shape)")
            }
            guard info.dtype.isReadableAsFloat else {
                throw CheckpointError.mismatch(tensor: name, message: "dtype \(info.dtype.rawValue) in \(f.path); expected F32, F16 or BF16")
            }
        }
        for t in location.keys.sorted() where !names.contains(t) {
            throw CheckpointError.mismatch(tensor: t, message: "unexpected tensor in \(files[location[t]!].path): config.json implies no such key")
        }
    }

    /// The file holding `name` and its header entry.
    public func tensor(_ name: String) throws -> (SafetensorsFile, TensorInfo) {
        guard let k = location[name] else { throw CheckpointError.tensorNotFound(tensor: name, where: path) }
        return (files[k], files[k].tensors[name]!)
    }

    public func info(_ name: String) throws -> TensorInfo { try tensor(name).1 }

    /// Reads `name` widened to Float32 into `out` (elements [from, from+count)).
    public func read(_ name: String, into out: UnsafeMutablePointer<Float>, from: Int = 0, count: Int? = nil) throws {
        let (f, _) = try tensor(name)
        try f.read(name, into: out, from: from, count: count)
    }

    public func floats(_ name: String) throws -> [Float] { try tensor(name).0.floats(name) }

    /// Releases the resident mapped pages of `name` (see ``SafetensorsFile/releasePages(_:)``); no-op for unknown names.
    public func releasePages(_ name: String) {
        if let k = location[name] { files[k].releasePages(name) }
    }

    /// Parameters counted from the tensors' shapes.
    public var tensorParameterCount: Int { location.keys.reduce(0) { $0 + ((try? info($1).elementCount) ?? 0) } }

    /// Bytes of tensor data per dtype.
    public var bytesPerDType: [DType: Int] {
        var out = [DType: Int]()
        for t in location.keys { if let i = try? info(t) { out[i.dtype, default: 0] += i.byteCount } }
        return out
    }

    /// Hex SHA-256 over config.json and every shard's name, size and header: identifies the checkpoint
    /// without reading its weights.
    public var fingerprint: String {
        var h = SHA256()
        if let c = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent("config.json")) { h.update(data: c) }
        for f in files {
            h.update(data: Data(((f.path as NSString).lastPathComponent + "|\(f.fileSize)|").utf8))
            h.update(data: f.headerBytes)
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// Hex SHA-256 of bytes (used for calibration-set and architecture fingerprints).
public func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}
