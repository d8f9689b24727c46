import Foundation

/// Small fp32 vector kernels in explicit SIMD lanes (Swift does not reassociate float sums, so a plain
/// loop runs one lane). Sums are lane-wise, so their rounding differs from a sequential loop by ≈ 1 ulp·√n.

/// Σ a[i]·b[i].
@inline(__always)
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
    var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var i = 0
    while i + 32 <= n {
        acc0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        acc1 += ra.loadUnaligned(fromByteOffset: 4 * i + 64, as: SIMD16<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * i + 64, as: SIMD16<Float>.self)
        i += 32
    }
    while i + 16 <= n {
        acc0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        i += 16
    }
    var s = (acc0 + acc1).sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// Σ a[i]².
@inline(__always)
public func sumOfSquares(_ a: UnsafePointer<Float>, count n: Int) -> Float { dot(a, a, count: n) }

/// Largest element (−∞ for n = 0).
@inline(__always)
public func maxElement(_ a: UnsafePointer<Float>, count n: Int) -> Float {
    let ra = UnsafeRawPointer(a)
    var m = SIMD16<Float>(repeating: -.infinity)
    var i = 0
    while i + 16 <= n { m = pointwiseMax(m, ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)); i += 16 }
    var s = m.max()
    while i < n { s = max(s, a[i]); i += 1 }
    return s
}

/// e^x for 16 lanes: Cody–Waite range reduction x = k·ln2 + r, a degree-6 polynomial for e^r on
/// |r| ≤ ln2/2, scaled by 2^k through the exponent bits. Within 3e-7 relative of `expf` on [−87, 88] (measured 2.5e-7, test
/// `KernelTests.testExp16AgainstExpf`); inputs below
/// −87 give 0 (as expf underflows), so softmax-style uses (x ≤ 0) are exact to fp32 rounding.
@inline(__always)
public func exp16(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let xc = pointwiseMin(pointwiseMax(x, SIMD16(repeating: -87.3)), SIMD16(repeating: 88.3))
    // k = round-to-nearest-even(x·log2 e) without a float→int conversion (Swift's SIMD conversion is a
    // per-lane generic loop): adding 1.5·2^23 leaves the integer in the low mantissa bits.
    let magic = SIMD16<Float>(repeating: 12_582_912)
    let kb = xc * 1.442695040888963 + magic
    let k = kb - magic
    let r = xc - k * 0.693145751953125 - k * 1.428606765330187e-06
    var p = SIMD16<Float>(repeating: 1.0 / 720)
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let bits = ((unsafeBitCast(kb, to: SIMD16<Int32>.self) &- 0x4B40_0000) &+ 127) &<< 23
    let scale = unsafeBitCast(bits, to: SIMD16<Float>.self)
    let y = p * scale
    return y.replacing(with: 0, where: x .< -87.3)
}

/// True when every a[i] is finite (no NaN or ±Inf): exponent bits checked 16 lanes at a time.
public func allFinite(_ a: UnsafePointer<Float>, count n: Int) -> Bool {
    let ra = UnsafeRawPointer(a)
    let mask = SIMD16<UInt32>(repeating: 0x7F80_0000)
    var i = 0
    while i + 16 <= n {
        let v = ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<UInt32>.self) & mask
        if any(v .== mask) { return false }
        i += 16
    }
    while i < n { if !a[i].isFinite { return false }; i += 1 }
    return true
}

/// Σ e^(a[i] − shift), in SIMD lanes (fp32 lanes, Double across blocks of 1024).
public func sumExpShifted(_ a: UnsafePointer<Float>, count n: Int, shift: Float) -> Double {
    let ra = UnsafeRawPointer(a)
    var total = 0.0
    var i = 0
    while i + 16 <= n {
        var acc = SIMD16<Float>()
        let end = min(n, i + 1024)
        while i + 16 <= end {
            acc += exp16(ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) - shift)
            i += 16
        }
        total += Double(acc.sum())
    }
    while i < n { total += Double(expf(a[i] - shift)); i += 1 }
    return total
}
