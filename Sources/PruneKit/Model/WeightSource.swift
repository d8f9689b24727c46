import Foundation

/// Where the forward pass reads weights from: a checkpoint on disk (``ModelFolder``, memory-mapped), weights
/// held in memory (``InMemoryWeights``), or a pruned view of another source (``SlicedWeights``).
/// Names are checkpoint keys exactly as on disk (`backbone.layers.3.mixer.in_proj.weight`).
public protocol WeightSource: AnyObject, Sendable {
    var config: NemotronHConfig { get }
    /// The tensor's shape, e.g. [out, in].
    func shape(of name: String) throws -> [Int]
    /// Widens elements [from, from + count) of the row-major tensor to Float32 into `out`.
    func read(_ name: String, into out: UnsafeMutablePointer<Float>, from: Int, count: Int) throws
    /// Drops resident memory-mapped pages of `name` after a streamed use (no-op for in-memory sources), so
    /// streaming a checkpoint larger than RAM does not accumulate it in the process's resident set.
    func releasePages(_ name: String)
}

extension WeightSource {
    public func releasePages(_ name: String) {}

    /// The whole tensor as Float32.
    public func floats(_ name: String) throws -> [Float] {
        let n = try shape(of: name).reduce(1, *)
        var out = [Float](repeating: 0, count: n)
        try out.withUnsafeMutableBufferPointer { try read(name, into: $0.baseAddress!, from: 0, count: n) }
        return out
    }
}

extension ModelFolder: WeightSource {
    public func shape(of name: String) throws -> [Int] { try info(name).shape }
    public func read(_ name: String, into out: UnsafeMutablePointer<Float>, from: Int, count: Int) throws {
        try read(name, into: out, from: from, count: Optional(count))
    }
}

/// Weights held in memory as Float32 (synthetic models, tests).
public final class InMemoryWeights: WeightSource, @unchecked Sendable {
    public let config: NemotronHConfig
    public private(set) var tensors: [String: (shape: [Int], values: [Float])]

    public init(config: NemotronHConfig, tensors: [String: (shape: [Int], values: [Float])]) {
        self.config = config
        self.tensors = tensors
    }

    public func shape(of name: String) throws -> [Int] {
        guard let t = tensors[name] else { throw CheckpointError.tensorNotFound(tensor: name, where: "in-memory weights") }
        return t.shape
    }

    public func read(_ name: String, into out: UnsafeMutablePointer<Float>, from: Int, count: Int) throws {
        guard let t = tensors[name] else { throw CheckpointError.tensorNotFound(tensor: name, where: "in-memory weights") }
        t.values.withUnsafeBufferPointer { p in out.update(from: p.baseAddress! + from, count: count) }
    }

    /// A model with seeded random weights of the right shapes (benchmarks and tests): linear weights
    /// ~ U(−a, a) with a = 1/√in, norms 1, A_log = log(1..nh), D = 1, dt_bias small.
    public static func random(config: NemotronHConfig, seed: UInt64) -> InMemoryWeights {
        var rng = SplitMix64(seed: seed)
        var t = [String: (shape: [Int], values: [Float])]()
        for (name, shape) in config.expectedTensors() {
            let n = shape.reduce(1, *)
            var v = [Float](repeating: 0, count: n)
            if name.hasSuffix("norm.weight") || name.hasSuffix("norm_f.weight") || name.hasSuffix(".D") {
                for i in 0..<n { v[i] = 1 }
            } else if name.hasSuffix("A_log") {
                for i in 0..<n { v[i] = Float(log(Double(i % 16 + 1))) }
            } else if name.hasSuffix("dt_bias") {
                for i in 0..<n { v[i] = Float(rng.uniform() * 2 - 3) }
            } else {
                let fanIn = shape.count >= 2 ? shape.last! : 1
                let a = Float(1 / Double(fanIn).squareRoot())
                for i in 0..<n { v[i] = (Float(rng.uniform()) * 2 - 1) * a }
            }
            t[name] = (shape, v)
        }
        return InMemoryWeights(config: config, tensors: t)
    }
}
