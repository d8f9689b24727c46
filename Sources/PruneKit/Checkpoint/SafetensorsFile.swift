import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One tensor's header entry. Offsets are relative to the start of the data section, in bytes.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    /// Row-major shape, e.g. [out, in] for a Linear weight.
    public let shape: [Int]
    /// Byte range [begin, end) within the data section.
    public let begin: Int
    public let end: Int

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { end - begin }
}

/// A safetensors file: the header is validated in full before any data is mapped; tensor data is then
/// memory-mapped read-only and read lazily, one tensor at a time.
///
/// Format and validation rules: huggingface/safetensors `safetensors/src/tensor.rs` (see formats.md §1),
/// plus two stricter rules: duplicate tensor names and a tensor named `__metadata__` are rejected.
/// - Throws: ``CheckpointError`` naming the file and the failed check.
public final class SafetensorsFile: @unchecked Sendable {
    /// Largest header the reference accepts, in bytes.
    public static let maxHeaderLength: UInt64 = 100_000_000

    public let path: String
    /// Tensors by name.
    public let tensors: [String: TensorInfo]
    /// Tensor names in header order.
    public let names: [String]
    /// The optional `__metadata__` string map.
    public let metadata: [String: String]?
    /// Byte offset of the data section in the file (8 + header length).
    public let dataStart: Int
    /// File size in bytes.
    public let fileSize: Int
    /// The raw header JSON bytes (used for fingerprints).
    public let headerBytes: Data

    private var mapping: UnsafeMutableRawPointer?
    private let lock = NSLock()

    /// Reads and validates the header of `path`. Maps no data until a tensor is read.
    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below); regular files ignore it.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.io(file: path, message: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError.io(file: path, message: "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError.io(file: path, message: "not a regular file (a \((st.st_mode & S_IFMT) == S_IFDIR ? "directory" : "FIFO, device or socket")); a safetensors file is expected")
        }
        let size = Int(st.st_size)
        fileSize = size
        guard size >= 8 else { throw CheckpointError.headerTooSmall(file: path, size: size) }
        var lenBytes = [UInt8](repeating: 0, count: 8)
        guard pread(fd, &lenBytes, 8, 0) == 8 else { throw CheckpointError.io(file: path, message: "cannot read the header length") }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(lenBytes[k]) << (8 * UInt64(k)) }
        guard n <= SafetensorsFile.maxHeaderLength else { throw CheckpointError.headerTooLarge(file: path, length: n) }
        let (stop, overflow) = UInt64(8).addingReportingOverflow(n)
        guard !overflow, stop <= UInt64(size) else {
            throw CheckpointError.invalidHeaderLength(file: path, length: n, fileSize: size)
        }
        var header = [UInt8](repeating: 0, count: Int(n))
        if n > 0 {
            var got = 0
            while got < Int(n) {
                let r = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, Int(n) - got, off_t(8 + got)) }
                guard r > 0 else { throw CheckpointError.io(file: path, message: "short read in the header") }
                got += r
            }
        }
        headerBytes = Data(header)
        dataStart = 8 + Int(n)
        let parsed = try SafetensorsFile.parseHeader(header, dataLength: size - dataStart, file: path)
        tensors = parsed.tensors
        names = parsed.names
        metadata = parsed.metadata
    }

    deinit {
        if let mapping { munmap(mapping, fileSize) }
    }

    /// Validates a header (the JSON bytes) against a data section of `dataLength` bytes.
    /// Exposed for tests; ``init(path:)`` calls it.
    public static func parseHeader(_ header: [UInt8], dataLength: Int, file: String) throws
        -> (tensors: [String: TensorInfo], names: [String], metadata: [String: String]?)
    {
        guard String(validating: header, as: UTF8.self) != nil else {
            throw CheckpointError.invalidHeader(file: file, message: "the header is not valid UTF-8")
        }
        // Duplicates are checked below, per level: a repeated tensor name is a duplicate tensor, a repeated
        // field inside an entry is a malformed entry (serde rejects it too).
        let json: JSONValue
        do {
            json = try JSONParser(allowNonFinite: false, rejectDuplicateKeys: false).parse(Data(header))
        } catch {
            throw CheckpointError.invalidHeader(file: file, message: "the header is not valid JSON (\(error))")
        }
        guard let pairs = json.objectValue else {
            throw CheckpointError.invalidHeader(file: file, message: "the header is not a JSON object")
        }
        var seenNames = Set<String>()
        for (key, _) in pairs where !seenNames.insert(key).inserted {
            if key == "__metadata__" { throw CheckpointError.reservedTensorName(file: file) }
            throw CheckpointError.duplicateTensor(file: file, tensor: key)
        }
        var tensors = [String: TensorInfo]()
        var names = [String]()
        var metadata: [String: String]?
        for (key, value) in pairs {
            if key == "__metadata__" {
                // An entry shaped like a tensor under this name is the reserved-name case.
                guard let m = value.objectValue else {
                    throw CheckpointError.invalidHeaderDeserialization(file: file, tensor: nil, message: "__metadata__ must be an object of strings")
                }
                if m.contains(where: { $0.0 == "dtype" || $0.0 == "data_offsets" }), m.contains(where: { $0.0 == "shape" }) {
                    throw CheckpointError.reservedTensorName(file: file)
                }
                var md = [String: String]()
                for (mk, mv) in m {
                    guard md[mk] == nil else {
                        throw CheckpointError.invalidHeaderDeserialization(file: file, tensor: nil, message: "__metadata__ has the key '\(mk)' twice")
                    }
                    guard let s = mv.stringValue else {
                        throw CheckpointError.invalidHeaderDeserialization(file: file, tensor: nil, message: "__metadata__ value for '\(mk)' is not a string")
                    }
                    md[mk] = s
                }
                metadata = md
                continue
            }
            tensors[key] = try parseEntry(key, value, file: file)
            names.append(key)
        }
        // Offsets must tile the data section exactly, in order of position.
        let sorted = tensors.values.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expected = 0
        for t in sorted {
            guard t.begin == expected else {
                throw CheckpointError.invalidOffset(file: file, tensor: t.name,
                    message: t.begin > expected ? "gap: data starts at \(t.begin), expected \(expected)"
                                                 : "overlap: data starts at \(t.begin), before the previous tensor ends at \(expected)")
            }
            let bits = t.shape.reduce((value: t.dtype.bitSize, overflow: false)) { acc, d in
                if acc.overflow { return acc }
                let r = acc.value.multipliedReportingOverflow(by: d)
                return (r.partialValue, r.overflow)
            }
            guard !bits.overflow else { throw CheckpointError.validationOverflow(file: file, tensor: t.name) }
            guard bits.value % 8 == 0 else {
                throw CheckpointError.tensorInvalidInfo(file: file, tensor: t.name, expectedBytes: (bits.value + 7) / 8, actualBytes: t.byteCount)
            }
            guard bits.value / 8 == t.byteCount else {
                throw CheckpointError.tensorInvalidInfo(file: file, tensor: t.name, expectedBytes: bits.value / 8, actualBytes: t.byteCount)
            }
            expected = t.end
        }
        guard expected == dataLength else {
            throw CheckpointError.metadataIncompleteBuffer(file: file, expected: expected, actual: dataLength)
        }
        return (tensors, names, metadata)
    }

    private static func parseEntry(_ name: String, _ value: JSONValue, file: String) throws -> TensorInfo {
        func bad(_ m: String) -> CheckpointError { .invalidHeaderDeserialization(file: file, tensor: name, message: m) }
        guard let fields = value.objectValue else { throw bad("entry is not an object") }
        var seen = Set<String>()
        for (k, _) in fields where !seen.insert(k).inserted { throw bad("field \"\(k)\" appears twice") }
        guard let ds = value["dtype"]?.stringValue else { throw bad("missing or non-string \"dtype\"") }
        guard let dtype = DType(rawValue: ds) else { throw bad("unknown dtype \"\(ds)\" (dtypes are upper case: F32, F16, BF16, …)") }
        guard let shapeArr = value["shape"]?.arrayValue else { throw bad("missing or non-array \"shape\"") }
        var shape = [Int]()
        for d in shapeArr {
            guard case let .number(lit) = d, let v = Int64(lit), v >= 0, let iv = Int(exactly: v) else {
                throw bad("shape entry \(JSONWriter(indent: nil).string(d)) is not a non-negative 64-bit integer")
            }
            shape.append(iv)
        }
        guard let offs = value["data_offsets"]?.arrayValue, offs.count == 2 else { throw bad("\"data_offsets\" must be [begin, end]") }
        guard case let .number(b0) = offs[0], case let .number(e0) = offs[1],
              let b = Int64(b0), let e = Int64(e0), b >= 0, e >= 0 else {
            throw bad("\"data_offsets\" entries must be non-negative integers")
        }
        guard e >= b else { throw CheckpointError.invalidOffset(file: file, tensor: name, message: "end \(e) < begin \(b)") }
        return TensorInfo(name: name, dtype: dtype, shape: shape, begin: Int(b), end: Int(e))
    }

    // MARK: - Data access

    private func base() throws -> UnsafeRawPointer {
        lock.lock(); defer { lock.unlock() }
        if let mapping { return UnsafeRawPointer(mapping) }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CheckpointError.io(file: path, message: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, Int(st.st_size) == fileSize else {
            throw CheckpointError.io(file: path, message: "the file changed size since its header was read")
        }
        guard let p = mmap(nil, max(fileSize, 1), PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw CheckpointError.io(file: path, message: "mmap failed: \(String(cString: strerror(errno)))")
        }
        mapping = p
        return UnsafeRawPointer(p)
    }

    public func info(_ name: String) throws -> TensorInfo {
        guard let t = tensors[name] else { throw CheckpointError.tensorNotFound(tensor: name, where: path) }
        return t
    }

    /// The tensor's raw bytes, mapped from the file (valid while this object lives).
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let t = try info(name)
        let b = try base()
        return UnsafeRawBufferPointer(start: b + dataStart + t.begin, count: t.byteCount)
    }

    /// Drops this process's resident pages of the tensor's bytes (`madvise(MADV_DONTNEED)` on the whole pages
    /// inside it). The mapping is read-only, so later reads fault the data back in from the file (usually the
    /// page cache). Streaming exporters call it after each tensor so the source does not accumulate in RSS.
    public func releasePages(_ name: String) {
        lock.lock(); defer { lock.unlock() }
        guard let mapping, let t = tensors[name] else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = dataStart + t.begin, end = dataStart + t.end
        let alignedStart = (start + page - 1) / page * page, alignedEnd = end / page * page
        guard alignedEnd > alignedStart else { return }
        _ = madvise(mapping + alignedStart, alignedEnd - alignedStart, Int32(MADV_DONTNEED))
    }

    /// Widens the tensor to Float32 into `out` (which must hold `elementCount` floats), optionally only
    /// elements [from, from + count). BF16 and F16 widen exactly.
    /// - Throws: ``CheckpointError/unsupportedDType(file:tensor:dtype:)`` for non-float dtypes.
    public func read(_ name: String, into out: UnsafeMutablePointer<Float>, from: Int = 0, count: Int? = nil) throws {
        let t = try info(name)
        let n = count ?? (t.elementCount - from)
        precondition(from >= 0 && n >= 0 && from + n <= t.elementCount, "element range out of bounds")
        let raw = try rawBytes(name)
        try Widen.toFloat(raw, dtype: t.dtype, from: from, count: n, into: out, file: path, tensor: name)
        // Large reads: drop the mapped pages again so resident memory stays bounded by what the caller keeps
        // (file pages would otherwise count toward RSS until the kernel evicts them).
        let elem = t.dtype.bitSize / 8
        if n * elem >= SafetensorsFile.releaseThresholdBytes, let base = raw.baseAddress {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let start = Int(bitPattern: base) + from * elem
            let lo = (start + page - 1) / page * page, hi = (start + n * elem) / page * page
            if hi > lo { madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, MADV_DONTNEED) }
        }
    }

    /// Reads at least this large release their mapped pages afterwards (bytes).
    public static let releaseThresholdBytes = 8 << 20

    /// The tensor widened to Float32, row-major.
    public func floats(_ name: String) throws -> [Float] {
        let t = try info(name)
        var out = [Float](repeating: 0, count: t.elementCount)
        guard !out.isEmpty else { return out } // an empty array may have no base address
        try out.withUnsafeMutableBufferPointer { try read(name, into: $0.baseAddress!) }
        return out
    }
}

/// Exact widening of F32 / F16 / BF16 bytes (little-endian, possibly unaligned) to Float32.
enum Widen {
    static func toFloat(_ raw: UnsafeRawBufferPointer, dtype: DType, from: Int, count: Int,
                        into out: UnsafeMutablePointer<Float>, file: String, tensor: String) throws {
        guard let src = raw.baseAddress else { return }
        switch dtype {
        case .F32:
            memcpy(out, src + 4 * from, 4 * count)
        case .BF16:
            // 16 at a time: the bf16 bits are the high half of the fp32 bits.
            let p = src + 2 * from
            let o = UnsafeMutableRawPointer(out)
            var k = 0
            while k + 16 <= count {
                let bits = p.loadUnaligned(fromByteOffset: 2 * k, as: SIMD16<UInt16>.self)
                o.storeBytes(of: SIMD16<UInt32>(truncatingIfNeeded: bits) &<< 16, toByteOffset: 4 * k, as: SIMD16<UInt32>.self)
                k += 16
            }
            while k < count {
                let bits = p.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)
                out[k] = Float(bitPattern: UInt32(bits) << 16)
                k += 1
            }
        case .F16:
            let p = src + 2 * from
            for k in 0..<count {
                let bits = p.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)
                out[k] = Float(Float16(bitPattern: bits))
            }
        default:
            throw CheckpointError.unsupportedDType(file: file, tensor: tensor, dtype: dtype.rawValue)
        }
    }
}
