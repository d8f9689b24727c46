/// The tool version recorded in outputs (pruning.json, trials, reports).
public enum PruneKitVersion {
    public static let string = "0.1.0"
}

/// Maps library errors to CLI exit codes; modules register their error types here.
public enum PruneKitErrors {
    public static func exitCode(for error: Error) -> Int32? {
        if let e = error as? any ExitCodeProviding { return e.exitCode }
        return nil
    }
}

/// An error that knows its CLI exit code (2 bad input, 3 database, 4 infeasible).
public protocol ExitCodeProviding: Error {
    var exitCode: Int32 { get }
}
