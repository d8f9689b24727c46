import Foundation

/// Errors from reading or writing safetensors files and Hugging Face model folders.
/// Each names the file (and tensor or key) and the check that failed; the case names follow the
/// reference implementation (`safetensors/src/tensor.rs`) where one exists.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case io(file: String, message: String)
    case headerTooSmall(file: String, size: Int)
    case headerTooLarge(file: String, length: UInt64)
    case invalidHeaderLength(file: String, length: UInt64, fileSize: Int)
    case invalidHeader(file: String, message: String)
    case invalidHeaderDeserialization(file: String, tensor: String?, message: String)
    case invalidOffset(file: String, tensor: String, message: String)
    case tensorInvalidInfo(file: String, tensor: String, expectedBytes: Int, actualBytes: Int)
    case validationOverflow(file: String, tensor: String)
    case metadataIncompleteBuffer(file: String, expected: Int, actual: Int)
    case duplicateTensor(file: String, tensor: String)
    case reservedTensorName(file: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case tensorNotFound(tensor: String, where: String)
    case index(file: String, message: String)
    case folder(path: String, message: String)
    case mismatch(tensor: String, message: String)
    case write(path: String, message: String)

    public var description: String {
        switch self {
        case let .io(f, m): return "\(f): \(m)"
        case let .headerTooSmall(f, s): return "\(f): HeaderTooSmall: the file has \(s) bytes, fewer than the 8-byte header length"
        case let .headerTooLarge(f, n): return "\(f): HeaderTooLarge: header length \(n) exceeds the limit of 100000000 bytes"
        case let .invalidHeaderLength(f, n, s): return "\(f): InvalidHeaderLength: 8 + header length \(n) is beyond the end of the file (\(s) bytes)"
        case let .invalidHeader(f, m): return "\(f): InvalidHeader: \(m)"
        case let .invalidHeaderDeserialization(f, t, m):
            return "\(f): InvalidHeaderDeserialization\(t.map { " in tensor '\($0)'" } ?? ""): \(m)"
        case let .invalidOffset(f, t, m): return "\(f): InvalidOffset(\(t)): \(m)"
        case let .tensorInvalidInfo(f, t, e, a):
            return "\(f): TensorInvalidInfo(\(t)): data_offsets span \(a) bytes but shape × element size is \(e) bytes"
        case let .validationOverflow(f, t): return "\(f): ValidationOverflow(\(t)): shape × element size overflows 64 bits"
        case let .metadataIncompleteBuffer(f, e, a):
            return "\(f): MetadataIncompleteBuffer: the tensors end at byte \(e) of the data section but it has \(a) bytes"
        case let .duplicateTensor(f, t): return "\(f): duplicate tensor name '\(t)' in the header (rejected: readers disagree on which one wins)"
        case let .reservedTensorName(f): return "\(f): a tensor is named '__metadata__', which is reserved for the metadata map"
        case let .unsupportedDType(f, t, d): return "\(f): tensor '\(t)' has dtype \(d); only F32, F16 and BF16 can be read as numbers"
        case let .tensorNotFound(t, w): return "tensor '\(t)' not found in \(w)"
        case let .index(f, m): return "\(f): \(m)"
        case let .folder(p, m): return "\(p): \(m)"
        case let .mismatch(t, m): return "tensor '\(t)': \(m)"
        case let .write(p, m): return "\(p): \(m)"
        }
    }
}

extension CheckpointError: LocalizedError {
    public var errorDescription: String? { description }
}
