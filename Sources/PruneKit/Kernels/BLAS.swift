import Foundation
import CBLAS

/// y[T, out] = x[T, in] · W[out, in]ᵀ (+ beta · y), through OpenBLAS `cblas_sgemm` on the row-major
/// [out, in] weight with no copy (style.md §7). Leading dimensions default to dense rows.
/// OpenBLAS threads for one product: small products run on one thread, since waking the pool costs more
/// than it saves (measured: 3.2 s vs 4.4 s wall, 0.4 s vs 2.2 s system time for the fixture's scoring run).
nonisolated(unsafe) private var blasMaxThreads = Int(openblas_get_num_threads())

/// Caps the OpenBLAS threads of large products at `n` (a worker process sharing the machine's cores).
public func setBLASMaxThreads(_ n: Int) {
    blasMaxThreads = max(1, n)
    blasCurrentThreads = -1
}
nonisolated(unsafe) private var blasCurrentThreads = -1
/// Multiply-adds below which a product runs single-threaded.
public let blasSingleThreadBelow = 1 << 25

/// OpenBLAS's idle threads spin on `sched_yield` for 2^28 cycles (≈ 0.1 s) after each product before they
/// sleep (`OPENBLAS_THREAD_TIMEOUT`, default 28). Between products the forward pass runs its own parallel
/// loops (panel widening, scan, conv, norms), and a spinning OpenBLAS thread takes turns with them on the same
/// cores. Unless the user set `OPENBLAS_THREAD_TIMEOUT`, PruneKit sets it to 4 (2^4 cycles: sleep at once) and
/// restarts OpenBLAS's threads so they read it. Measured on a ranking round at the 12B widths (2 cores,
/// `PruneKitBench ranking`): system time 4.8 → 3.5 s of a 30 s round, the round 31.9 → 30.3 s.
private let blasThreadTimeout: Void = {
    guard getenv("OPENBLAS_THREAD_TIMEOUT") == nil else { return }
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0)
    openblas_read_env()
    _ = blas_thread_shutdown_()
}()

@inline(__always)
func setBLASThreads(forWork work: Int) {
    _ = blasThreadTimeout
    let want = work < blasSingleThreadBelow ? 1 : blasMaxThreads
    if want != blasCurrentThreads {
        openblas_set_num_threads(Int32(want))
        blasCurrentThreads = want
    }
}

@inline(__always)
public func matmulTransB(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                         rows: Int, inFeatures: Int, outFeatures: Int,
                         ldx: Int? = nil, ldw: Int? = nil, ldy: Int? = nil, beta: Float = 0) {
    setBLASThreads(forWork: rows * inFeatures * outFeatures)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(inFeatures),
                1, x, Int32(ldx ?? inFeatures), w, Int32(ldw ?? inFeatures), beta, y, Int32(ldy ?? outFeatures))
}

/// y[M, N] = a[M, K] · b[K, N] (+ beta · y), row-major.
@inline(__always)
public func matmul(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                   m: Int, k: Int, n: Int, lda: Int, ldb: Int, ldy: Int, beta: Float = 0) {
    setBLASThreads(forWork: m * k * n)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                1, a, Int32(lda), b, Int32(ldb), beta, y, Int32(ldy))
}

/// Number of threads OpenBLAS uses.
public var blasThreads: Int { blasMaxThreads }
