import Foundation

/// Errors from architecture search (pruning.md §6).
///
/// Exit codes: 2 for a bad recipe or bad request (unknown key, empty search space, study mismatch),
/// 4 when no candidate is feasible.
public enum SearchError: Error, CustomStringConvertible, Equatable {
    /// The recipe cannot be read or has a bad entry; the message names the key and what was expected.
    case badRecipe(file: String, message: String)
    /// The search space has no candidates (an empty list, or a range with min > max).
    case emptySpace(file: String, message: String)
    /// Every candidate broke a constraint. `rejections` lists (constraint, candidates it rejected), the first
    /// failing constraint counted for each candidate, in the order the constraints are checked.
    case nothingFeasible(enumerated: Int, rejections: [Rejection])
    /// The search needs weights (a model folder with safetensors) but the recipe gives only a config.json.
    case needsWeights(model: String)
    /// A study of this name exists with a different recipe or checkpoint.
    case studyMismatch(study: String, message: String)
    /// No study of this name in the database.
    case unknownStudy(name: String, known: [String])

    /// One constraint and the number of candidates it rejected.
    public struct Rejection: Sendable, Equatable {
        public var constraint: String
        public var count: Int
        /// One rejected candidate's reason, as an example.
        public var example: String?
        public init(constraint: String, count: Int, example: String? = nil) { self.constraint = constraint; self.count = count; self.example = example }
    }


    public var description: String {
        switch self {
        case let .badRecipe(f, m): return "\(f): \(m)"
        case let .emptySpace(f, m): return "\(f): empty search space: \(m)"
        case let .nothingFeasible(n, r):
            let list = r.map { "\($0.constraint): \($0.count)\($0.example.map { ", e.g. \"\($0)\"" } ?? "")" }.joined(separator: "; ")
            let all = r.count == 1 ? " — every candidate was rejected by the \(r[0].constraint)" : ""
            return "no feasible candidate: all \(n) enumerated candidates were rejected\(all) (rejected by \(list)); widen the search space, raise the pruning ratios or the memory budget"
        case let .needsWeights(m): return "\(m): a search evaluates candidates and needs a model folder with weights; with only a config.json use --dry-run"
        case let .studyMismatch(s, m): return "study \"\(s)\": \(m) (use another --study name or --db file)"
        case let .unknownStudy(n, known):
            return "no study \"\(n)\" in the database" + (known.isEmpty ? " (it has no studies)" : "; studies: \(known.joined(separator: ", "))")
        }
    }
}
extension SearchError: LocalizedError { public var errorDescription: String? { description } }
