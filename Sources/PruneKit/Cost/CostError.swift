import Foundation

/// Errors from the cost model (pruning.md §5) and its hardware profiles.
///
/// Exit codes: 2 for bad input (unknown hardware, bad numbers, unreadable profile file),
/// 4 when the model does not fit the memory budget.
public enum CostError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No hardware profile has this name or alias; `known` lists the names that exist.
    case unknownHardware(name: String, known: [String])
    /// A hardware profile file cannot be read or has a bad entry.
    case badHardwareFile(file: String, message: String)
    /// A length, batch or other quantity that must be positive is not (`what` names the option).
    case nonPositive(what: String, value: String)
    /// A parameter is outside its range (e.g. an efficiency not in (0, 1]).
    case badParameter(what: String, message: String)
    /// An element type the cost model does not know (e.g. `--dtype int3`).
    case unknownDType(String)
    /// The weights alone are larger than the budget (bytes).
    case weightsExceedBudget(weightBytes: Int, budgetBytes: Int)
    /// Weights fit, but weights + caches at `context` tokens × `batch` do not (bytes).
    case doesNotFit(memoryBytes: Int, budgetBytes: Int, context: Int, batch: Int)


    public var description: String {
        switch self {
        case let .unknownHardware(n, known):
            return "unknown hardware \"\(n)\"; known profiles: \(known.joined(separator: ", ")) (or give your own with --hardware-file)"
        case let .badHardwareFile(f, m):
            return "\(f): \(m)"
        case let .nonPositive(w, v):
            return "\(w) must be positive, got \(v)"
        case let .badParameter(w, m):
            return "\(w): \(m)"
        case let .unknownDType(s):
            return "unknown dtype \"\(s)\"; expected bf16, fp16, fp32 or fp8 (or bfloat16, float16, float32, float8)"
        case let .weightsExceedBudget(w, b):
            return "the weights alone (\(byteString(w))) exceed the memory budget (\(byteString(b))) by \(byteString(w - b)); prune further, use a smaller dtype or a larger GPU"
        case let .doesNotFit(m, b, c, n):
            return "does not fit: \(byteString(m)) needed at \(c) tokens × batch \(n), budget \(byteString(b)) (short by \(byteString(m - b)))"
        }
    }
}
extension CostError: LocalizedError { public var errorDescription: String? { description } }
