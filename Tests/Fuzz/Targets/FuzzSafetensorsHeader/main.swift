import Foundation
import FuzzSupport
import PruneKit

// The safetensors reader (Checkpoint/SafetensorsFile.swift): the input is a whole file (8-byte length, JSON
// header, data section). Invariants: opening either throws CheckpointError, or yields tensors that tile the
// data section exactly, every tensor's bytes lie inside the file and read without fault (floats for the float
// dtypes), and the tensor table round-trips through the writer's header (SafetensorsStreamWriter.header) and
// the in-memory parser to the same names, dtypes, shapes and offsets.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = scratchFile("fuzz.safetensors", UnsafeRawBufferPointer(start: data, count: size))
    let file: SafetensorsFile
    do { file = try SafetensorsFile(path: path) } catch {
        expectTyped(error, [CheckpointError.self], "SafetensorsFile(path:)")
        invariant("\(error)".contains(path), "the error does not name the file: \(error)")
        return 0
    }
    invariant(file.fileSize == size, "fileSize \(file.fileSize) != \(size)")
    invariant(file.dataStart >= 8 && file.dataStart <= size, "dataStart \(file.dataStart) outside the file")
    invariant(file.names.count == file.tensors.count && Set(file.names).count == file.names.count, "names and tensors disagree")
    invariant(file.tensors["__metadata__"] == nil, "__metadata__ taken as a tensor")
    var covered = 0
    for name in file.names {
        guard let t = file.tensors[name] else { invariant(false, "name \(name) has no entry"); return 0 }
        invariant(t.begin >= 0 && t.end >= t.begin && file.dataStart + t.end <= size, "tensor \(name) outside the data section")
        invariant(t.shape.allSatisfy { $0 >= 0 }, "negative dimension in \(name)")
        invariant(t.elementCount * t.dtype.bitSize == t.byteCount * 8, "byte count of \(name) does not match its shape")
        covered += t.byteCount
        do {
            let raw = try file.rawBytes(name)
            invariant(raw.count == t.byteCount, "rawBytes of \(name) has \(raw.count) bytes, expected \(t.byteCount)")
            var checksum: UInt8 = 0
            for b in raw { checksum &+= b } // touches every byte (ASan checks the bounds)
            _ = checksum
            if t.dtype.isReadableAsFloat {
                let f = try file.floats(name)
                invariant(f.count == t.elementCount, "floats(\(name)) has \(f.count) values, expected \(t.elementCount)")
            }
        } catch {
            invariant(false, "a tensor that validated does not read: \(error)")
        }
    }
    invariant(file.dataStart + covered == size, "tensors cover \(covered) bytes of a \(size - file.dataStart)-byte data section")

    // Round trip through the writer's header: byte-sized dtypes only (the writer's byte count is per element).
    let ordered = file.names.compactMap { file.tensors[$0] }.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
    guard ordered.allSatisfy({ $0.dtype.bitSize % 8 == 0 }) else { return 0 }
    let entries = ordered.map { SafetensorsStreamWriter.Entry(name: $0.name, dtype: $0.dtype, shape: $0.shape) }
    let header = SafetensorsStreamWriter.header(entries: entries, metadata: file.metadata)
    do {
        let again = try SafetensorsFile.parseHeader(header, dataLength: covered, file: "round-trip")
        invariant(again.tensors == file.tensors, "the tensor table changed in the writer round trip")
        invariant(again.metadata == file.metadata, "the metadata changed in the writer round trip")
        invariant(Set(again.names) == Set(file.names), "the names changed in the writer round trip")
    } catch {
        invariant(false, "the writer's header for a valid file does not parse: \(error)")
    }
    return 0
}

@_cdecl("FuzzSafetensorsHeader_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzSafetensors(data, size) }
}
