import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Streams one safetensors file: the header (all names, dtypes and shapes) is written first, then each
/// tensor's data in plan order, converted from Float32 to the planned dtype (BF16 rounds to nearest even,
/// as torch does). Only one tensor's values plus a small conversion buffer are held at a time.
///
/// The file is written to `path` directly; callers that need atomicity write to a temporary name and
/// rename (see ``CheckpointWriter``).
public final class SafetensorsStreamWriter {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        /// Row-major shape, e.g. [out, in] for a Linear weight.
        public let shape: [Int]
        public init(name: String, dtype: DType, shape: [Int]) { self.name = name; self.dtype = dtype; self.shape = shape }
        public var elementCount: Int { shape.reduce(1, *) }
        /// Bytes of data in the file.
        public var byteCount: Int { elementCount * dtype.byteSize }
    }

    /// Dtypes the writer can produce from Float32 values.
    public static let writableDTypes: Set<DType> = [.F32, .F16, .BF16, .I32]

    public let path: String
    public let entries: [Entry]
    private var next = 0
    /// Elements of `entries[next]` already written (by ``appendPart(_:_:)``).
    private var filled = 0
    private var fd: Int32
    /// Reused conversion buffer (bytes), so a 1 GiB tensor does not need a second 1 GiB copy.
    private var buffer = [UInt8](repeating: 0, count: 1 << 22)

    /// Bytes of tensor data this file will hold.
    public var dataBytes: Int { entries.reduce(0) { $0 + $1.byteCount } }

    /// The header bytes (JSON padded with spaces so the data section starts at a multiple of 8), without
    /// the 8-byte length prefix. Exposed so tools can build header-only (sparse) files.
    public static func header(entries: [Entry], metadata: [String: String]? = ["format": "pt"]) -> [UInt8] {
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
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        return header
    }

    /// Creates (or truncates) `path` and writes the header.
    /// - Throws: ``CheckpointError/write(path:message:)`` when the file cannot be created or written
    ///   (read-only destination, disk full, …), or for a dtype it cannot write.
    public init(path: String, entries: [Entry], metadata: [String: String]? = ["format": "pt"]) throws {
        self.path = path
        self.entries = entries
        for e in entries where !Self.writableDTypes.contains(e.dtype) {
            throw CheckpointError.write(path: path, message: "cannot write dtype \(e.dtype.rawValue) for '\(e.name)' (writable: F32, F16, BF16, I32)")
        }
        var seen = Set<String>()
        for e in entries where !seen.insert(e.name).inserted || e.name == "__metadata__" {
            throw CheckpointError.write(path: path, message: "tensor name '\(e.name)' is duplicated or reserved")
        }
        let header = Self.header(entries: entries, metadata: metadata)
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointError.write(path: path, message: "cannot create file: \(describeWriteErrno(errno))") }
        var prefix = [UInt8](repeating: 0, count: 8)
        for k in 0..<8 { prefix[k] = UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * UInt64(k))) }
        do {
            try writeAll(prefix, count: 8, what: "the header")
            try writeAll(header, count: header.count, what: "the header")
        } catch { abandon(); throw error }
    }

    deinit { if fd >= 0 { close(fd) } }

    private func writeAll(_ bytes: UnsafeRawPointer, count: Int, what: String) throws {
        var done = 0
        while done < count {
            let r = Glibc.write(fd, bytes + done, count - done)
            if r < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.write(path: path, message: "write failed for \(what): \(describeWriteErrno(errno))")
            }
            done += r
        }
    }

    private func writeAll(_ bytes: [UInt8], count: Int, what: String) throws {
        try bytes.withUnsafeBytes { try writeAll($0.baseAddress!, count: count, what: what) }
    }

    /// Appends the next tensor's values (in plan order), converting to its dtype.
    public func append(_ name: String, _ values: UnsafeBufferPointer<Float>) throws {
        guard next < entries.count else { throw CheckpointError.write(path: path, message: "unexpected extra tensor '\(name)'") }
        let e = entries[next]
        guard filled == 0, e.name == name, values.count == e.elementCount else {
            throw CheckpointError.write(path: path, message: "tensor '\(name)' written out of order or with \(values.count) values (expected '\(e.name)' \(e.shape) = \(e.elementCount) values)")
        }
        try appendPart(name, values)
    }

    /// Appends the next `values.count` elements of the current tensor (row-major), so a tensor larger than
    /// memory (e.g. logits [N, T, V]) can be written in parts; the writer moves to the next tensor once
    /// this one is complete.
    /// - Throws: ``CheckpointError/write(path:message:)`` for a part of another tensor or one that overruns it.
    public func appendPart(_ name: String, _ values: UnsafeBufferPointer<Float>) throws {
        guard fd >= 0 else { throw CheckpointError.write(path: path, message: "writer already closed") }
        guard next < entries.count else { throw CheckpointError.write(path: path, message: "unexpected extra tensor '\(name)'") }
        let e = entries[next]
        guard e.name == name, filled + values.count <= e.elementCount else {
            throw CheckpointError.write(path: path, message: "part of tensor '\(name)' with \(values.count) values does not fit: expected '\(e.name)' \(e.shape), \(e.elementCount - filled) values still to write")
        }
        let size = e.dtype.byteSize
        let chunk = buffer.count / size
        var start = 0
        while start < values.count {
            let n = min(chunk, values.count - start)
            buffer.withUnsafeMutableBytes { raw in
                switch e.dtype {
                case .F32:
                    _ = memcpy(raw.baseAddress!, values.baseAddress! + start, n * 4)
                case .BF16:
                    for k in 0..<n { raw.storeBytes(of: bf16Bits(values[start + k]).littleEndian, toByteOffset: 2 * k, as: UInt16.self) }
                case .F16:
                    for k in 0..<n { raw.storeBytes(of: Float16(values[start + k]).bitPattern.littleEndian, toByteOffset: 2 * k, as: UInt16.self) }
                case .I32:
                    for k in 0..<n { raw.storeBytes(of: Int32(values[start + k]).littleEndian, toByteOffset: 4 * k, as: Int32.self) }
                default: break
                }
            }
            try writeAll(buffer, count: n * size, what: "tensor '\(name)'")
            start += n
        }
        filled += values.count
        if filled == e.elementCount { next += 1; filled = 0 }
    }

    public func appendPart(_ name: String, _ values: [Float]) throws {
        try values.withUnsafeBufferPointer { try appendPart(name, $0) }
    }

    public func append(_ name: String, _ values: [Float]) throws {
        try values.withUnsafeBufferPointer { try append(name, $0) }
    }

    /// Flushes to disk and closes; throws when tensors are missing.
    public func finish() throws {
        guard next == entries.count else {
            throw CheckpointError.write(path: path, message: "only \(next) of \(entries.count) tensors were written completely")
        }
        guard fd >= 0 else { return }
        let s = fsync(fd), syncErr = errno
        let c = close(fd), closeErr = errno
        fd = -1
        if s != 0 { throw CheckpointError.write(path: path, message: "fsync failed: \(describeWriteErrno(syncErr))") }
        if c != 0 { throw CheckpointError.write(path: path, message: "close failed: \(describeWriteErrno(closeErr))") }
    }

    /// Closes without the completeness check (used when aborting; the caller removes the file).
    public func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
    }
}

/// A write errno explained, with a hint for the usual causes.
func describeWriteErrno(_ e: Int32) -> String {
    let s = String(cString: strerror(e))
    switch e {
    case ENOSPC, EDQUOT: return "\(s) — the destination is full; free space or choose another output folder"
    case EFBIG: return "\(s) — the file exceeds the size limit of this process or file system"
    case EROFS: return "\(s) — the destination is on a read-only file system; choose another output folder"
    case EACCES, EPERM: return "\(s) — the destination is not writable (read-only or no permission); choose another output folder"
    default: return s
    }
}

/// Float32 → BF16 bits, round to nearest even (as torch does); NaN stays a quiet NaN with its sign.
@inline(__always) public func bf16Bits(_ x: Float) -> UInt16 {
    let b = x.bitPattern
    if x.isNaN { return UInt16(b >> 16) | 0x40 }
    let rounding = ((b >> 16) & 1) &+ 0x7FFF
    return UInt16((b &+ rounding) >> 16)
}

/// BF16 bits → Float32 (exact: the 16 bits become the high half).
@inline(__always) public func bf16ToFloat(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

/// Writes a whole small safetensors file from in-memory tensors (tests, goldens, logits).
public func writeSafetensors(path: String, tensors: [(name: String, dtype: DType, shape: [Int], values: [Float])],
                             metadata: [String: String]? = ["format": "pt"]) throws {
    let w = try SafetensorsStreamWriter(path: path, entries: tensors.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) }, metadata: metadata)
    do {
        for t in tensors { try w.append(t.name, t.values) }
        try w.finish()
    } catch { w.abandon(); throw error }
}
