import Foundation

/// Accumulates the channel score `sqrt(Σ_b (mean_s |A[b,s,c]|)²)` (pruning.md §2; Model Optimizer's
/// aggregation) of one activation over samples, one [T, C] block per sample.
struct ChannelAccumulator {
    var acc: [Double]
    let seq: ScoreOptions.SequenceAggregation
    let samples: ScoreOptions.SampleAggregation

    init(channels: Int, seq: ScoreOptions.SequenceAggregation, samples: ScoreOptions.SampleAggregation) {
        acc = [Double](repeating: 0, count: channels); self.seq = seq; self.samples = samples
    }

    /// Adds one sample's activation, columns [colStart, colStart + C) of a [rows, ld] block.
    mutating func add(_ data: UnsafeBufferPointer<Float>, rows T: Int, ld: Int, colStart: Int = 0) {
        let C = acc.count
        var m = [Double](repeating: 0, count: C)
        for t in 0..<T {
            let row = data.baseAddress! + t * ld + colStart
            switch seq {
            case .mean: for c in 0..<C { m[c] += Double(abs(row[c])) }
            case .l2: for c in 0..<C { m[c] += Double(row[c]) * Double(row[c]) }
            case .max: for c in 0..<C { m[c] = max(m[c], Double(abs(row[c]))) }
            }
        }
        for c in 0..<C {
            let v: Double
            switch seq {
            case .mean: v = m[c] / Double(T)
            case .l2: v = (m[c] / Double(T)).squareRoot()
            case .max: v = m[c]
            }
            switch samples {
            case .l2: acc[c] += v * v
            case .mean: acc[c] += v
            }
        }
    }

    func result(sampleCount: Int) -> [Float] {
        switch samples {
        case .l2: return acc.map { Float($0.squareRoot()) }
        case .mean: return acc.map { Float($0 / Double(max(sampleCount, 1))) }
        }
    }
}

/// Collects every width score and block influence from the full model's forward taps.
final class WidthScorer {
    let config: NemotronHConfig
    let options: ScoreOptions
    var hidden: [Int: ChannelAccumulator] = [:]
    var ffn: [Int: ChannelAccumulator] = [:]
    var attn: [Int: ChannelAccumulator] = [:]
    var mamba: [Int: ChannelAccumulator] = [:]
    /// Σ over samples of mean_tokens cos(h_in, h_out), per layer.
    var cosSum: [Double]
    var samples = 0
    /// The previous residual stream of each sequence of the current batch (block influence).
    private var previous: [Int: [Float]] = [:]

    init(config: NemotronHConfig, options: ScoreOptions) {
        self.config = config; self.options = options
        cosSum = [Double](repeating: 0, count: config.numLayers)
        for (l, k) in config.pattern.enumerated() {
            hidden[l] = acc(config.hiddenSize)
            switch k {
            case .mlp: ffn[l] = acc(config.ffnHiddenSize)
            case .attention: attn[l] = acc(config.numAttentionHeads * config.headDim)
            case .mamba: mamba[l] = acc(config.mambaIntermediate)
            }
        }
    }

    private func acc(_ n: Int) -> ChannelAccumulator { ChannelAccumulator(channels: n, seq: options.sequenceAggregation, samples: options.sampleAggregation) }

    var tap: ForwardTap {
        ForwardTap(points: [.embeddings, .mixerIn, .ffnAct, .attnOut, .inProj, .layerOut]) { [unowned self] ev in self.observe(ev) }
    }

    func observe(_ ev: TapEvent) {
        let T = ev.rows
        switch ev.point {
        case .embeddings: previous[ev.sequence] = Array(ev.data)
        case .mixerIn: hidden[ev.layer]!.add(ev.data, rows: T, ld: ev.cols)
        case .ffnAct: ffn[ev.layer]!.add(ev.data, rows: T, ld: ev.cols)
        case .attnOut: attn[ev.layer]!.add(ev.data, rows: T, ld: ev.cols)
        case .inProj: mamba[ev.layer]!.add(ev.data, rows: T, ld: ev.cols, colStart: config.mambaIntermediate) // x slice
        case .layerOut:
            // Block influence: cos(h_in, h_out) per token, mean over tokens.
            let H = ev.cols
            let previous = self.previous[ev.sequence]!
            var s: Double = 0
            for t in 0..<T {
                var dot: Double = 0, a: Double = 0, b: Double = 0
                for j in 0..<H {
                    let x = Double(previous[t * H + j]), y = Double(ev.data[t * H + j])
                    dot += x * y; a += x * x; b += y * y
                }
                s += dot / max((a * b).squareRoot(), 1e-30)
            }
            cosSum[ev.layer] += s / Double(T)
            self.previous[ev.sequence] = Array(ev.data)
        default: break
        }
    }

    /// This scorer's sums (a unit's partial result).
    func partial() -> WidthPartial {
        WidthPartial(samples: samples, hidden: hidden.mapValues { DoubleSums($0.acc) }, ffn: ffn.mapValues { DoubleSums($0.acc) },
                     attention: attn.mapValues { DoubleSums($0.acc) }, mamba: mamba.mapValues { DoubleSums($0.acc) },
                     cosine: DoubleSums(cosSum))
    }

    /// Adds a partial's sums (the reduction; partials are added in unit order).
    func absorb(_ p: WidthPartial) {
        func add(_ into: inout [Int: ChannelAccumulator], _ from: [Int: DoubleSums]) {
            for (l, s) in from where into[l] != nil && into[l]!.acc.count == s.values.count {
                for c in 0..<s.values.count { into[l]!.acc[c] += s.values[c] }
            }
        }
        add(&hidden, p.hidden); add(&ffn, p.ffn); add(&attn, p.attention); add(&mamba, p.mamba)
        for l in 0..<min(cosSum.count, p.cosine.values.count) { cosSum[l] += p.cosine.values[l] }
        samples += p.samples
    }

    func finish() -> ImportanceScores {
        let n = samples
        var hid = [Float](repeating: 0, count: config.hiddenSize)
        // Layers in order: a float sum in dictionary order would differ between runs in the last bit.
        for l in hidden.keys.sorted() { let r = hidden[l]!.result(sampleCount: n); for c in 0..<hid.count { hid[c] += r[c] } }
        let ffnScores = ffn.mapValues { $0.result(sampleCount: n) }
        let d = config.headDim
        let attnScores = attn.mapValues { a -> [Float] in
            let ch = a.result(sampleCount: n)
            return (0..<config.numAttentionHeads).map { h in (0..<d).reduce(Float(0)) { $0 + ch[h * d + $1] * ch[h * d + $1] }.squareRoot() }
        }
        let P = config.mambaHeadDim, nh = config.mambaNumHeads
        let channels = mamba.mapValues { $0.result(sampleCount: n) }
        let headDim = channels.mapValues { ch in (0..<P).map { p in (0..<nh).reduce(Float(0)) { $0 + ch[$1 * P + p] * ch[$1 * P + p] }.squareRoot() } }
        let heads = channels.mapValues { ch in (0..<nh).map { h in (0..<P).reduce(Float(0)) { $0 + ch[h * P + $1] * ch[h * P + $1] }.squareRoot() } }
        let bi = cosSum.map { Float(1 - $0 / Double(max(n, 1))) }
        return ImportanceScores(hidden: hid, ffn: ffnScores, attentionHeads: attnScores, mambaChannels: channels,
                                mambaHeadDim: headDim, mambaHeads: heads, blockInfluence: bi, layerRanking: nil,
                                aggregation: "\(options.sequenceAggregation.rawValue)/\(options.sampleAggregation.rawValue)")
    }
}
