import XCTest
import PruneKit

/// Each optimised kernel against its naive twin (Naive.*) on random inputs, odd sizes included.
final class KernelTests: XCTestCase {
    var rng = SplitMix64(seed: 42)
    func rand(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in (Float(rng.uniform()) * 2 - 1) * scale } }

    func assertClose(_ a: [Float], _ b: [Float], tol: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        var m: Float = 0
        for i in 0..<min(a.count, b.count) { m = max(m, abs(a[i] - b[i])) }
        print("kernel \(what): max |diff| \(m)")
        XCTAssertLessThanOrEqual(m, tol, what, file: file, line: line)
    }

    func testMatmulTransB() {
        let (T, inF, outF) = (37, 65, 29)
        let x = rand(T * inF), w = rand(outF * inF)
        var y = [Float](repeating: 0, count: T * outF)
        matmulTransB(&y, x, w, rows: T, inFeatures: inF, outFeatures: outF)
        assertClose(y, Naive.matmulTransB(x, w, rows: T, inFeatures: inF, outFeatures: outF), tol: 1e-5, "sgemm x·Wᵀ")
    }

    func testRMSNorm() {
        let (T, H) = (19, 130)
        let x = rand(T * H, scale: 3), w = rand(H)
        var out = [Float](repeating: 0, count: T * H)
        rmsNorm(&out, x, w, rows: T, dim: H, eps: 1e-5)
        assertClose(out, Naive.rmsNorm(x, w, rows: T, dim: H, eps: 1e-5), tol: 1e-5, "rmsnorm")
    }

    func testGatedGroupRMSNorm() {
        let (T, I, G) = (23, 96, 4)
        let y = rand(T * I, scale: 2), z = rand(T * I, scale: 2), w = rand(I)
        var out = [Float](repeating: 0, count: T * I)
        gatedGroupRMSNorm(&out, y, z, ldz: I, w, rows: T, dim: I, groups: G, eps: 1e-5)
        assertClose(out, Naive.gatedGroupRMSNorm(y, z, w, rows: T, dim: I, groups: G, eps: 1e-5), tol: 1e-5, "gated group rmsnorm")
        // One norm over all channels is a different (wrong) result: the test can tell them apart.
        let wrong = Naive.gatedGroupRMSNorm(y, z, w, rows: T, dim: I, groups: 1, eps: 1e-5)
        XCTAssertGreaterThan(zip(out, wrong).map { abs($0 - $1) }.max()!, 1e-3)
    }

    func testCausalConv() {
        let (T, C, K) = (31, 70, 4)
        let x = rand(T * C), w = rand(C * K), b = rand(C)
        var out = [Float](repeating: 0, count: T * C)
        causalConv1dSiLU(&out, x, ldx: C, w, b, rows: T, channels: C, kernel: K)
        assertClose(out, Naive.causalConv1dSiLU(x, w, b, rows: T, channels: C, kernel: K), tol: 1e-6, "causal conv + silu")
        var out2 = [Float](repeating: 0, count: T * C)
        causalConv1dSiLU(&out2, x, ldx: C, w, nil, rows: T, channels: C, kernel: K)
        assertClose(out2, Naive.causalConv1dSiLU(x, w, nil, rows: T, channels: C, kernel: K), tol: 1e-6, "causal conv, no bias")
    }

    func testSelectiveScan() {
        let (T, nh, P, G, N) = (29, 6, 5, 3, 7)
        let x = rand(T * nh * P), B = rand(T * G * N), C = rand(T * G * N)
        let dt = rand(T * nh).map { abs($0) * 0.5 + 0.01 }, A = (0..<nh).map { -Float($0 + 1) * 0.3 }, D = rand(nh)
        var y = [Float](repeating: 0, count: T * nh * P)
        selectiveScan(&y, x: x, ldx: nh * P, B: B, C: C, ldbc: G * N, dt: dt, A: A, D: D, rows: T, heads: nh, headDim: P, groups: G, state: N)
        assertClose(y, Naive.selectiveScan(x: x, B: B, C: C, dt: dt, A: A, D: D, rows: T, heads: nh, headDim: P, groups: G, state: N), tol: 1e-5, "selective scan")
    }

    func testCausalAttention() {
        let (T, nq, nkv, d) = (33, 6, 2, 8)
        let q = rand(T * nq * d), k = rand(T * nkv * d), v = rand(T * nkv * d)
        var out = [Float](repeating: 0, count: T * nq * d)
        causalAttention(&out, q: q, k: k, v: v, rows: T, heads: nq, kvHeads: nkv, headDim: d)
        assertClose(out, Naive.causalAttention(q: q, k: k, v: v, rows: T, heads: nq, kvHeads: nkv, headDim: d), tol: 1e-5, "causal GQA attention")
    }

    /// exp16 against expf: relative difference ≤ 3e-7 on [−87, 88], including exact halves of ln 2 (the rounding ties
    /// of k), and 0 below −87.3.
    func testExp16AgainstExpf() {
        var xs = rand(4096, scale: 87) + [0, -0, 0.5 * 0.6931472, -0.5 * 0.6931472, 1.5 * 0.6931472, 88, -87, -87.2, -90, -1000]
        while xs.count % 16 != 0 { xs.append(1) }
        var worst: Float = 0
        for i in stride(from: 0, to: xs.count, by: 16) {
            let v = SIMD16<Float>(xs[i..<(i + 16)])
            let e = exp16(v)
            for l in 0..<16 {
                let x = xs[i + l], want = expf(x)
                if x < -87.3 { XCTAssertEqual(e[l], 0, "exp16(\(x))"); continue }
                worst = max(worst, abs(e[l] - want) / want)
            }
        }
        print("kernel exp16: max relative error \(worst)")
        XCTAssertLessThanOrEqual(worst, 3e-7)
    }

    /// allFinite against a scalar scan: NaN or ±Inf anywhere (SIMD body or tail) is found.
    func testAllFiniteAgainstScalar() {
        for n in [0, 1, 15, 16, 17, 100] {
            var a = rand(n)
            a.withUnsafeBufferPointer { XCTAssertTrue(allFinite($0.baseAddress ?? UnsafePointer(bitPattern: 4)!, count: n), "n \(n)") }
            for i in 0..<n {
                for bad in [Float.nan, .infinity, -.infinity] {
                    let keep = a[i]; a[i] = bad
                    a.withUnsafeBufferPointer { XCTAssertEqual(allFinite($0.baseAddress!, count: n), !a.contains { !$0.isFinite }, "n \(n) at \(i)") }
                    a[i] = keep
                }
            }
        }
    }

    /// Pooled scratch: a freed large buffer is handed out again (same pages), `zeroed` still zeroes a reused one,
    /// and a pool of capacity 0 keeps nothing.
    func testScratchPoolReusesAndZeroes() {
        let pool = ScratchPool.shared, n = 1 << 20  // 4 MiB
        let saved = pool.capacityBytes
        defer { pool.capacityBytes = saved }
        pool.drain()
        var first: UnsafeMutablePointer<Float>?
        do { let b = FloatBuffer(count: n); b.p.update(repeating: 7, count: n); first = b.p }
        let reusedBefore = pool.reused
        let again = FloatBuffer(count: n, zeroed: true)
        XCTAssertEqual(pool.reused, reusedBefore + 1)
        XCTAssertEqual(again.p, first, "the kept buffer is reused")
        XCTAssertFalse(UnsafeBufferPointer(start: again.p, count: n).contains { $0 != 0 }, "zeroed after reuse")
        pool.capacityBytes = 0
        let allocatedBefore = pool.allocated
        do { _ = FloatBuffer(count: 3 * n) }
        _ = FloatBuffer(count: 3 * n)
        XCTAssertEqual(pool.allocated, allocatedBefore + 2, "nothing kept at capacity 0")
    }
}
