import Foundation

/// Threads of the work outside the matrix products (``parallelFor``); 0 = one per core.
nonisolated(unsafe) private var computeThreadLimit = 0

/// Caps every compute thread of this process at `n`: OpenBLAS's threads for large products and the chunks of
/// ``parallelFor`` (scan, conv, norms, widening). A worker sharing a machine with others (`worker --threads`)
/// calls it once at startup, before any model work, so that N workers × `n` threads match the cores.
public func setComputeThreads(_ n: Int) {
    computeThreadLimit = max(1, n)
    setBLASMaxThreads(n)
}

/// Splits [0, n) into contiguous chunks run concurrently (Dispatch), one per core at most (or per thread
/// allowed by ``setComputeThreads(_:)``).
/// The body writes disjoint ranges of caller-owned buffers, so sharing it across threads is safe.
@inline(__always)
func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    let cores = computeThreadLimit > 0 ? computeThreadLimit : ProcessInfo.processInfo.activeProcessorCount
    let workers = max(1, min(cores, n / max(minChunk, 1)))
    if workers <= 1 || n <= 1 { body(0..<n); return }
    let chunk = (n + workers - 1) / workers
    withoutActuallyEscaping(body) { b in
        nonisolated(unsafe) let run = b
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = w * chunk, hi = min(n, lo + chunk)
            if lo < hi { run(lo..<hi) }
        }
    }
}
