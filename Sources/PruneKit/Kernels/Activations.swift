/// relu² in place: x ← max(x, 0)² (the Nemotron-H MLP activation, nemotron-h.md §3.4).
public func relu2InPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count, minChunk: 1 << 14) { r in
        for i in r { let v = max(x[i], 0); x[i] = v * v }
    }
}

/// y += x elementwise (residual add).
public func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    parallelFor(count, minChunk: 1 << 14) { r in
        for i in r { y[i] += x[i] }
    }
}

/// dt[r, h] = max(softplus(raw[r, h] + bias[h]), floor) (nemotron-h.md §3.2 step 4). raw has row stride `ld`.
public func softplusBias(_ dt: UnsafeMutablePointer<Float>, _ raw: UnsafePointer<Float>, ld: Int, bias: UnsafePointer<Float>,
                         rows: Int, cols: Int, floor: Float) {
    for r in 0..<rows {
        let x = raw + r * ld, o = dt + r * cols
        for h in 0..<cols { o[h] = max(softplus(x[h] + bias[h]), floor) }
    }
}
