import XCTest
import PruneKit

/// Threads sharing the kernels: run under ThreadSanitizer by `make sanitize`, where a data race fails the run.
final class ConcurrencyTests: XCTestCase {
    /// Two threads multiply at once, one a product large enough for all OpenBLAS threads and one small enough
    /// for a single thread, so each switches OpenBLAS's thread count while the other works. The products
    /// must equal the naive ones (and, under ThreadSanitizer, no access may race).
    func testConcurrentLargeAndSmallProductsSwitchBLASThreads() {
        @Sendable func product(rows: Int, inF: Int, outF: Int, seed: Int) -> (y: [Float], x: [Float], w: [Float]) {
            let x = (0..<rows * inF).map { Float(($0 &* 7 &+ seed) % 13) / 13 - 0.5 }
            let w = (0..<outF * inF).map { Float(($0 &* 11 &+ seed) % 17) / 17 - 0.5 }
            return ([Float](repeating: 0, count: rows * outF), x, w)
        }
        let shapes = [(rows: 64, inF: 1024, outF: 1024), (rows: 4, inF: 64, outF: 64)] // 2^26 and 2^14 multiply-adds
        XCTAssertGreaterThanOrEqual(shapes[0].rows * shapes[0].inF * shapes[0].outF, blasSingleThreadBelow)
        XCTAssertLessThan(shapes[1].rows * shapes[1].inF * shapes[1].outF, blasSingleThreadBelow)
        nonisolated(unsafe) let worst = UnsafeMutableBufferPointer<Float>.allocate(capacity: shapes.count)
        worst.initialize(repeating: 0)
        defer { worst.deallocate() }
        DispatchQueue.concurrentPerform(iterations: shapes.count) { k in
            let s = shapes[k]
            var (y, x, w) = product(rows: s.rows, inF: s.inF, outF: s.outF, seed: k)
            let expected = Naive.matmulTransB(x, w, rows: s.rows, inFeatures: s.inF, outFeatures: s.outF)
            var err: Float = 0
            for _ in 0..<(k == 0 ? 4 : 400) {
                matmulTransB(&y, x, w, rows: s.rows, inFeatures: s.inF, outFeatures: s.outF)
                for i in 0..<y.count { err = max(err, abs(y[i] - expected[i])) }
            }
            worst[k] = err // each thread writes its own element
        }
        XCTAssertLessThan(worst[0], 1e-3)
        XCTAssertLessThan(worst[1], 1e-4)
    }
}
