import Foundation
import PruneKit

/// The CLI's progress on stderr for every long step (formats.md §5): a bar on a terminal; otherwise one plain
/// line at most every `PRUNEKIT_PROGRESS_INTERVAL` seconds (default 10) with done/total, rate and ETA, so batch
/// logs show progress. nil (silent) with `--quiet`.
func makeProgress(quiet: Bool) -> ProgressReporter? {
    guard !quiet else { return nil }
    return StreamProgress.forStandardError(interval: progressInterval())
}

/// Seconds between progress lines on a non-terminal: `PRUNEKIT_PROGRESS_INTERVAL` (a positive number), else 10.
func progressInterval() -> Double {
    guard let s = ProcessInfo.processInfo.environment["PRUNEKIT_PROGRESS_INTERVAL"] else { return 10 }
    guard let v = Double(s), v.isFinite, v > 0 else {
        note("warning: PRUNEKIT_PROGRESS_INTERVAL=\"\(s)\" is not a positive number of seconds; using 10")
        return 10
    }
    return v
}

/// Units of the importance-scoring phases: one width pass per sample; the iterative ranking counts (round, sample) pairs.
let scoreProgressUnits = ["width": "samples", "layers": "sample-rounds"]
