/// safetensors element types, spelled exactly as in the header (upper case).
public enum DType: String, CaseIterable, Sendable, Codable {
    case BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64
    case F8_E4M3, F8_E5M2, F8_E8M0, F4, F6_E2M3, F6_E3M2, C64

    /// Size of one element in bytes (F4/F6 are packed; treated as 1 byte per element for headers only
    /// would be wrong, so their byte size is given in bits / 8 via ``bitSize``).
    public var bitSize: Int {
        switch self {
        case .BOOL, .U8, .I8, .F8_E4M3, .F8_E5M2, .F8_E8M0: return 8
        case .I16, .U16, .F16, .BF16: return 16
        case .I32, .U32, .F32: return 32
        case .F64, .I64, .U64, .C64: return 64
        case .F4: return 4
        case .F6_E2M3, .F6_E3M2: return 6
        }
    }

    /// Whether the reader can widen this dtype to Float32 (exactly, for F16 and BF16).
    public var isReadableAsFloat: Bool { self == .F32 || self == .F16 || self == .BF16 }

    /// Bytes per element for the float dtypes the writer emits.
    public var byteSize: Int { bitSize / 8 }
}
