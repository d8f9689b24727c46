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
