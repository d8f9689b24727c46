import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Streams one safetensors file: the header (all names, dtypes and shapes) is written first, then each
/// tensor's data in plan order, converted from Float32 to the planned dtype (BF16 rounds to nearest even,
/// as torch does). Only one tensor's bytes are held at a time.
///
/// The file is written to `path` directly; callers that need atomicity write to a temporary name and
/// rename (see ``CheckpointWriter``).
public final class SafetensorsStreamWriter {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public init(name: String, dtype: DType, shape: [Int]) { self.name = name; self.dtype = dtype; self.shape = shape }
        public var byteCount: Int { shape.reduce(1, *) * dtype.byteSize }
    }

    public let path: String
    public let entries: [Entry]
    private var next = 0
    private let handle: FileHandle

    /// Bytes of tensor data this file will hold.
    public var dataBytes: Int { entries.reduce(0) { $0 + $1.byteCount } }

    /// - Throws: ``CheckpointError/write(path:message:)`` when the file cannot be created.
    public init(path: String, entries: [Entry], metadata: [String: String]? = ["format": "pt"]) throws {
        self.path = path
        self.entries = entries
        for e in entries where !(e.dtype == .F32 || e.dtype == .F16 || e.dtype == .BF16 || e.dtype == .I32) {
            throw CheckpointError.write(path: path, message: "cannot write dtype \(e.dtype.rawValue) for '\(e.name)'")
        }
        var pairs = [(String, JSONValue)]()
        if let metadata { pairs.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))) }
        var offset = 0
        for e in entries {
            let end = offset + e.byteCount
            pairs.append((e.name, .object([("dtype", .string(e.dtype.rawValue)), ("shape", .array(e.shape.map { .int($0) })),
                                           ("data_offsets", .array([.int(offset), .int(end)]))])))
            offset = end
        }
        var header = Array(JSONWriter(indent: nil).string(.object(pairs)).utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CheckpointError.write(path: path, message: "cannot create file (\(String(cString: strerror(errno))))")
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw CheckpointError.write(path: path, message: "cannot open for writing") }
        handle = h
        var len = UInt64(header.count).littleEndian
        do {
            try handle.write(contentsOf: Data(bytes: &len, count: 8))
            try handle.write(contentsOf: Data(header))
        } catch { throw CheckpointError.write(path: path, message: "write failed: \(error.localizedDescription)") }
    }

    /// Appends the next tensor's values (in plan order), converting to its dtype.
    public func append(_ name: String, _ values: UnsafeBufferPointer<Float>) throws {
        guard next < entries.count else { throw CheckpointError.write(path: path, message: "unexpected extra tensor '\(name)'") }
        let e = entries[next]
        guard e.name == name, values.count == e.shape.reduce(1, *) else {
            throw CheckpointError.write(path: path, message: "tensor '\(name)' written out of order or with \(values.count) values (expected '\(e.name)' \(e.shape))")
        }
        var bytes = Data(count: e.byteCount)
        bytes.withUnsafeMutableBytes { raw in
            switch e.dtype {
            case .F32: _ = memcpy(raw.baseAddress!, values.baseAddress!, values.count * 4)
            case .BF16:
                let p = raw.bindMemory(to: UInt16.self)
                for k in 0..<values.count { p[k] = bf16Bits(values[k]) }
            case .F16:
                let p = raw.bindMemory(to: UInt16.self)
                for k in 0..<values.count { p[k] = Float16(values[k]).bitPattern }
            case .I32:
                let p = raw.bindMemory(to: Int32.self)
                for k in 0..<values.count { p[k] = Int32(values[k]) }
            default: break
            }
        }
        do { try handle.write(contentsOf: bytes) } catch {
            throw CheckpointError.write(path: path, message: "write failed for '\(name)': \(error.localizedDescription)")
        }
        next += 1
    }

    public func append(_ name: String, _ values: [Float]) throws {
        try values.withUnsafeBufferPointer { try append(name, $0) }
    }

    /// Flushes and closes; throws when tensors are missing.
    public func finish() throws {
        guard next == entries.count else {
            throw CheckpointError.write(path: path, message: "only \(next) of \(entries.count) tensors were written")
        }
        do {
            try handle.synchronize()
            try handle.close()
        } catch { throw CheckpointError.write(path: path, message: "close failed: \(error.localizedDescription)") }
    }

    /// Closes without the completeness check (used when aborting).
    public func abandon() { try? handle.close() }
}

/// Float32 → BF16 bits, round to nearest even; NaN stays NaN.
@inline(__always) public func bf16Bits(_ x: Float) -> UInt16 {
    let b = x.bitPattern
    if x.isNaN { return UInt16(b >> 16) | 0x40 }
    let rounding = ((b >> 16) & 1) &+ 0x7FFF
    return UInt16((b &+ rounding) >> 16)
}

/// Writes a whole small safetensors file from in-memory tensors (tests, goldens, logits).
public func writeSafetensors(path: String, tensors: [(name: String, dtype: DType, shape: [Int], values: [Float])],
                             metadata: [String: String]? = ["format": "pt"]) throws {
    let w = try SafetensorsStreamWriter(path: path, entries: tensors.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) }, metadata: metadata)
    for t in tensors { try w.append(t.name, t.values) }
    try w.finish()
}
