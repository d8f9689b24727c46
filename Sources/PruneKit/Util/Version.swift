/// The tool version recorded in outputs (pruning.json, trials, reports).
public enum PruneKitVersion {
    public static let string = "0.2.0"
}

/// The command line's exit codes, decided in this one place from the error's type (the CLI calls
/// ``code(for:)``): 2 bad input (files, options, recipes, targets), 3 the store, 4 nothing fits or is feasible,
/// 1 anything else.
public enum ExitStatus {
    public static let failure: Int32 = 1
    public static let badInput: Int32 = 2
    public static let store: Int32 = 3
    public static let infeasible: Int32 = 4

    public static func code(for error: Error) -> Int32 {
        switch error {
        case is StoreError, is PostgresStoreError: return store
        case let e as SearchError:
            if case .nothingFeasible = e { return infeasible }
            return badInput
        case let e as CostError:
            switch e { case .weightsExceedBudget, .doesNotFit: return infeasible; default: return badInput }
        case is AnnotateError, is DataError, is ModelError, is ScoresFormatError, is ImportanceError, is ScoringJobError, is TokenizerError, is ReportError,
             is PruneError, is TeacherCacheError, is MeasurementError, is CheckpointError, is ConfigError, is JSONParseError:
            return badInput
        default: return failure
        }
    }
}
