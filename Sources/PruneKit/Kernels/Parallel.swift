import Foundation

/// Splits [0, n) into contiguous chunks run concurrently (Dispatch), one per core at most.
/// The body writes disjoint ranges of caller-owned buffers, so sharing it across threads is safe.
@inline(__always)
func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, n / max(minChunk, 1)))
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
