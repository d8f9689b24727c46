import Foundation

/// Fits the throughput model's free parameters (η_c, η_b, step overhead τ; pruning.md §5) to measured serving runs by
/// least squares on log output tokens/s, with Levenberg–Marquardt (Marquardt 1963) in log-parameter space.
///
/// Parameters the runs do not determine are left at their defaults: at the starting point the Jacobian's columns are
/// taken greedily by pivoted Gram–Schmidt (largest remaining sensitivity first), at most one parameter per distinct
/// run, and a column whose sensitivity (after removing the chosen ones) is below ``minimumSensitivity`` in log
/// tokens/s per e-fold is not fitted — e.g. η_c when every run is memory-bound. A parameter the fit drives to its
/// bound is also left at its default (and the fit repeated without it).
public struct ThroughputCalibration: Sendable {
    /// A free parameter.
    public enum Parameter: String, CaseIterable, Sendable {
        case computeEfficiency = "compute_efficiency", bandwidthEfficiency = "bandwidth_efficiency", stepOverhead = "step_overhead_ms"
    }

    /// The profile being calibrated (its peak FLOP/s and bandwidth stay as they are).
    public var hardware: HardwareProfile
    /// Serving settings common to every run (each run's own `gpu_memory_utilization`, prompts and concurrency override them).
    public var serving: ServingSettings
    public var runs: [ServingRun]
    /// Where the fit starts and what unfitted parameters stay at.
    public var defaults: ThroughputParameters
    /// Starting τ when it is fitted from a default of 0, seconds.
    public static let startStepOverhead = 2e-3

    public init(hardware: HardwareProfile, serving: ServingSettings = ServingSettings(), runs: [ServingRun],
                defaults: ThroughputParameters = ThroughputParameters()) {
        self.hardware = hardware; self.serving = serving; self.runs = runs; self.defaults = defaults
    }

    /// The cost model of run `i` with parameters `p` (efficiencies may exceed 1 inside the fit).
    func model(_ i: Int, _ p: ThroughputParameters) throws -> CostModel {
        let r = runs[i]
        var s = serving
        if let u = r.gpuMemoryUtilization { s.gpuMemoryUtilization = u }
        s.numPrompts = r.numPrompts; s.concurrency = r.concurrency
        if let m = r.maxNumSeqs { s.maxNumSeqs = m }
        // The fit may try efficiencies above 1: scale the profile's peaks instead, which is the same model.
        var hw = hardware
        hw.peakFLOPS *= p.computeEfficiency; hw.memoryBandwidth *= p.bandwidthEfficiency; hw.calibration = nil
        return try CostModel(hardware: hw, workload: Workload(inputLength: r.inputLength, outputLength: r.outputLength),
                             weightDType: r.weightDType, kvCacheDType: r.kvCacheDType,
                             computeEfficiency: 1, bandwidthEfficiency: 1, stepOverheadSeconds: p.stepOverheadSeconds, serving: s)
    }

    /// Predicted serving of run `i` with parameters `p`; nil when not one sequence fits.
    public func predict(_ i: Int, _ p: ThroughputParameters) -> ServingPrediction? {
        (try? model(i, p))?.serve(runs[i].config)
    }

    /// Checks every run against the memory model before fitting.
    /// - Returns: warnings (a run's max_concurrency above what fits: the model runs the smaller figure).
    /// - Throws: ``MeasurementError`` for a run where not one sequence fits at ISL+OSL (named, with the sizes).
    public func checkMemory() throws -> [String] {
        var warnings = [String]()
        for (i, r) in runs.enumerated() {
            let m: CostModel
            do { m = try model(i, defaults) } catch { throw MeasurementError(file: r.file, line: r.line, message: "\(error)") }
            let seq = m.sequenceMemory(r.config).bytes(context: r.inputLength + r.outputLength)
            let fit = m.memoryConcurrency(r.config)
            let what = String(format: "KV pool %.2f GiB (%.2f × %.2f GiB − weights %.2f GiB − runtime overhead %.2f GiB), %.1f MiB per sequence at ISL+OSL = %d tokens",
                              GiB.of(m.kvPoolBytes(r.config)), m.serving.gpuMemoryUtilization, GiB.of(hardware.memoryBytes),
                              GiB.of(m.weightBytes(r.config)), GiB.of(m.runtimeOverheadBytes(r.config)), Double(seq) / Double(1 << 20), r.inputLength + r.outputLength)
            if fit == 0 && r.concurrency == nil {
                throw MeasurementError(file: r.file, line: r.line, message: "\(r.model) does not fit in memory on \(hardware.name) at ISL \(r.inputLength) + OSL \(r.outputLength): not one sequence fits (\(what)); check the hardware profile, --gpu-memory-utilization, dtypes, or give the run's observed `concurrency`")
            }
            let asked = r.concurrency ?? min(r.maxNumSeqs ?? Int.max, r.numPrompts ?? Int.max)
            if asked != Int.max && asked > fit {
                let verb = r.concurrency != nil ? "observed concurrency" : (r.maxNumSeqs != nil ? "max_concurrency" : "num_prompts")
                let note = r.concurrency != nil ? "using the observed figure; the memory model may be too pessimistic for this run"
                                                : "the model runs \(fit) at a time"
                if r.concurrency != nil || r.maxNumSeqs != nil {
                    warnings.append("\(r.file):\(r.line): \(verb) \(asked) of \(r.model) does not fit in memory at its concurrency: only \(fit) sequence\(fit == 1 ? "" : "s") fit (\(what)); \(note)")
                }
            }
        }
        return warnings
    }

    // MARK: - Fit

    /// A fit: the parameters, which were fitted, and the predictions of each run used.
    public struct Fit: Sendable {
        public var parameters: ThroughputParameters
        public var fitted: [Parameter]
        public var atDefaults: [Parameter]
        /// Runs fitted (indices into ``runs``).
        public var indices: [Int]
        /// log(predicted) − log(measured) per fitted run.
        public var logResiduals: [Double]
        public var iterations: Int
    }

    /// θ (log parameter values) ↔ parameters.
    func parameters(_ theta: [Double], _ which: [Parameter]) -> ThroughputParameters {
        var p = defaults
        for (t, w) in zip(theta, which) {
            let v = exp(t)
            switch w {
            case .computeEfficiency: p.computeEfficiency = v
            case .bandwidthEfficiency: p.bandwidthEfficiency = v
            case .stepOverhead: p.stepOverheadSeconds = v
            }
        }
        return p
    }
    func start(_ w: Parameter) -> Double {
        switch w {
        case .computeEfficiency: return log(defaults.computeEfficiency)
        case .bandwidthEfficiency: return log(defaults.bandwidthEfficiency)
        case .stepOverhead: return log(defaults.stepOverheadSeconds > 0 ? defaults.stepOverheadSeconds : Self.startStepOverhead)
        }
    }
    /// Bounds on θ: efficiencies in [10⁻³, 10] (above 1 means the profile's peak is understated), τ in [10⁻⁷, 1] s.
    func clamp(_ t: Double, _ w: Parameter) -> Double {
        switch w {
        case .computeEfficiency, .bandwidthEfficiency: return min(max(t, log(1e-3)), log(10))
        case .stepOverhead: return min(max(t, log(1e-7)), 0)
        }
    }

    func residuals(_ theta: [Double], _ which: [Parameter], _ idx: [Int]) -> [Double]? {
        let p = parameters(theta, which)
        var r = [Double]()
        for i in idx {
            guard let s = predict(i, p), s.outputTokensPerSecond > 0, s.outputTokensPerSecond.isFinite else { return nil }
            r.append(log(s.outputTokensPerSecond) - log(runs[i].outputTokensPerSecond))
        }
        return r
    }

    /// Central-difference Jacobian of the residuals in θ (n × k).
    func jacobian(_ theta: [Double], _ which: [Parameter], _ idx: [Int]) -> [[Double]] {
        let h = 1e-5
        var J = Array(repeating: Array(repeating: 0.0, count: which.count), count: idx.count)
        for j in which.indices {
            var up = theta, down = theta
            up[j] += h; down[j] -= h
            guard let ru = residuals(up, which, idx), let rd = residuals(down, which, idx) else { continue }
            for i in idx.indices { J[i][j] = (ru[i] - rd[i]) / (2 * h) }
        }
        return J
    }

    /// Smallest sensitivity (norm over the runs of ∂ log tokens/s / ∂ log parameter, after removing the parameters
    /// already chosen) for a parameter to be fitted.
    public static let minimumSensitivity = 0.02

    /// The parameters runs `idx` determine, most sensitive first (see the type's documentation).
    public func identifiable(_ idx: [Int]) -> [Parameter] {
        let all = Parameter.allCases
        let J = jacobian(all.map(start), all, idx)
        var cols = all.indices.map { j in idx.indices.map { J[$0][j] } }
        let distinct = Set(idx.map { runs[$0].key }).count
        var chosen = [Int]()
        while chosen.count < min(distinct, all.count) {
            let norms = cols.map { sqrt($0.reduce(0) { $0 + $1 * $1 }) }
            guard let best = all.indices.filter({ !chosen.contains($0) }).max(by: { norms[$0] < norms[$1] }), norms[best] > Self.minimumSensitivity else { break }
            chosen.append(best)
            let q = cols[best].map { $0 / norms[best] }
            for j in all.indices where !chosen.contains(j) {
                let d = zip(q, cols[j]).reduce(0) { $0 + $1.0 * $1.1 }
                cols[j] = zip(cols[j], q).map { $0 - d * $1 }
            }
        }
        return chosen.sorted().map { all[$0] }
    }

    /// Least-squares fit on runs `idx` (all runs by default).
    /// - Throws: ``MeasurementError`` if a run cannot be predicted (does not fit in memory).
    public func fit(_ idx: [Int]? = nil) throws -> Fit {
        let idx = idx ?? Array(runs.indices)
        var which = identifiable(idx)
        while true {
            let f = try fit(idx, which)
            // A parameter driven to its bound is not determined by these runs: leave it at its default and refit.
            let parked = which.enumerated().filter { j, w in
                let t = log(Self.value(f.parameters, w))
                return abs(t - clamp(-1e9, w)) < 1e-9 || abs(t - clamp(1e9, w)) < 1e-9
            }.map(\.element)
            if parked.isEmpty { return f }
            which.removeAll { parked.contains($0) }
        }
    }

    static func value(_ p: ThroughputParameters, _ w: Parameter) -> Double {
        switch w {
        case .computeEfficiency: return p.computeEfficiency
        case .bandwidthEfficiency: return p.bandwidthEfficiency
        case .stepOverhead: return p.stepOverheadSeconds
        }
    }

    func fit(_ idx: [Int], _ which: [Parameter]) throws -> Fit {
        var theta = which.map(start)
        guard var r = residuals(theta, which, idx) else {
            let bad = idx.first { predict($0, defaults) == nil }.map { runs[$0] }
            throw MeasurementError(file: bad?.file ?? "", line: bad?.line ?? 0, message: "the run cannot be predicted (not one sequence fits in memory)")
        }
        func cost(_ r: [Double]) -> Double { r.reduce(0) { $0 + $1 * $1 } }
        var lambda = 1e-3, iterations = 0, converged = which.isEmpty
        while !converged && iterations < 200 {
            iterations += 1
            let J = jacobian(theta, which, idx)
            let k = which.count
            var A = Array(repeating: Array(repeating: 0.0, count: k), count: k), g = Array(repeating: 0.0, count: k)
            for i in idx.indices {
                for a in 0..<k {
                    g[a] += J[i][a] * r[i]
                    for b in 0..<k { A[a][b] += J[i][a] * J[i][b] }
                }
            }
            var improved = false
            while lambda < 1e12 {
                var M = A
                for a in 0..<k { M[a][a] += lambda * max(A[a][a], 1e-12) }
                guard let delta = Self.solve(M, g.map { -$0 }) else { lambda *= 10; continue }
                let trial = zip(theta, delta).enumerated().map { clamp($1.0 + $1.1, which[$0]) }
                if let rt = residuals(trial, which, idx), cost(rt) < cost(r) {
                    let step = zip(trial, theta).map { abs($0 - $1) }.max() ?? 0
                    let gain = cost(r) - cost(rt)
                    theta = trial; r = rt; lambda = max(lambda / 10, 1e-12); improved = true
                    converged = step < 1e-10 || gain < 1e-16
                    break
                }
                lambda *= 10
            }
            if !improved { break }
        }
        return Fit(parameters: parameters(theta, which), fitted: which,
                   atDefaults: Parameter.allCases.filter { !which.contains($0) }, indices: idx, logResiduals: r, iterations: iterations)
    }

    /// Gaussian elimination with partial pivoting; nil when singular.
    static func solve(_ A: [[Double]], _ b: [Double]) -> [Double]? {
        var M = A, x = b
        let n = b.count
        for c in 0..<n {
            guard let p = (c..<n).max(by: { abs(M[$0][c]) < abs(M[$1][c]) }), abs(M[p][c]) > 1e-300 else { return nil }
            M.swapAt(c, p); x.swapAt(c, p)
            for r in (c + 1)..<n where r < n {
                let f = M[r][c] / M[c][c]
                for k in c..<n { M[r][k] -= f * M[c][k] }
                x[r] -= f * x[c]
            }
        }
        for c in stride(from: n - 1, through: 0, by: -1) {
            var s = x[c]
            for k in (c + 1)..<n where k < n { s -= M[c][k] * x[k] }
            x[c] = s / M[c][c]
        }
        return x.allSatisfy(\.isFinite) ? x : nil
    }

    // MARK: - Leave-one-out and the profile

    /// For each run, predicted / measured − 1 when predicted by a fit to all the other runs (nil with one run).
    public func leaveOneOut() throws -> [Double]? {
        guard runs.count > 1 else { return nil }
        return try runs.indices.map { i in
            let f = try fit(runs.indices.filter { $0 != i })
            guard let s = predict(i, f.parameters) else { return .nan }
            return s.outputTokensPerSecond / runs[i].outputTokensPerSecond - 1
        }
    }

    /// The calibrated profile: the same name, aliases and memory, plus ``HardwareCalibration``. A fitted efficiency
    /// above 1 means the profile's peak is understated: the peak is raised to what the runs reached and the efficiency
    /// set to 1 (said in `source` and in the returned notes).
    public func profile(fit: Fit, loo: [Double]?, sha256: String) -> (profile: HardwareProfile, notes: [String]) {
        var hw = hardware, p = fit.parameters, notes = [String]()
        if p.computeEfficiency > 1 {
            notes.append(String(format: "fitted compute efficiency %.3f > 1: the runs reached more than the profile's %.1f TFLOP/s peak; the profile's peak is raised to %.1f TFLOP/s (efficiency 1)",
                                p.computeEfficiency, hw.peakFLOPS / 1e12, hw.peakFLOPS * p.computeEfficiency / 1e12))
            hw.peakFLOPS *= p.computeEfficiency; p.computeEfficiency = 1
        }
        if p.bandwidthEfficiency > 1 {
            notes.append(String(format: "fitted bandwidth efficiency %.3f > 1: the runs moved more than the profile's %.0f GB/s; the profile's bandwidth is raised to %.0f GB/s (efficiency 1)",
                                p.bandwidthEfficiency, hw.memoryBandwidth / 1e9, hw.memoryBandwidth * p.bandwidthEfficiency / 1e9))
            hw.memoryBandwidth *= p.bandwidthEfficiency; p.bandwidthEfficiency = 1
        }
        let errs = fit.indices.map { i in predict(i, fit.parameters).map { $0.outputTokensPerSecond / runs[i].outputTokensPerSecond - 1 } ?? .nan }
        let rms = sqrt(errs.reduce(0) { $0 + $1 * $1 } / Double(max(1, errs.count))) * 100
        let looFinite = loo?.filter(\.isFinite)
        let looRMS = looFinite.map { l in sqrt(l.reduce(0) { $0 + $1 * $1 } / Double(max(1, l.count))) * 100 }
        let looMax = looFinite.map { $0.map(abs).max() ?? 0 }.map { $0 * 100 }
        var rows = [JSONValue]()
        for (k, i) in fit.indices.enumerated() {
            let r = runs[i], s = predict(i, fit.parameters)
            rows.append(.object([("file", .string((r.file as NSString).lastPathComponent)), ("line", .int(r.line)), ("model", .string(r.model)),
                                 ("isl", .int(r.inputLength)), ("osl", .int(r.outputLength)),
                                 ("num_prompts", r.numPrompts.map { .int($0) } ?? .null), ("concurrency", .int(s?.concurrency ?? 0)),
                                 ("measured_output_tokens_per_second", .double(r.outputTokensPerSecond)),
                                 ("predicted_output_tokens_per_second", .double(s?.outputTokensPerSecond ?? 0)),
                                 ("error_percent", .double(errs[k] * 100)), ("log_residual", .double(fit.logResiduals[k])),
                                 ("loo_error_percent", loo.map { .double($0[i] * 100) } ?? .null),
                                 // TPOT is reported, not fitted: the model's mean over a full wave's decode steps.
                                 ("measured_tpot_ms", r.tpotMs.map { .double($0) } ?? .null),
                                 ("predicted_tpot_ms", .double((s?.meanTPOTSeconds ?? 0) * 1e3))]))
        }
        hw.calibration = HardwareCalibration(parameters: p, fitted: fit.fitted.map(\.rawValue), defaults: fit.atDefaults.map(\.rawValue),
                                             runs: fit.indices.count, rmsErrorPercent: rms, looRMSErrorPercent: looRMS, looMaxErrorPercent: looMax,
                                             measurementsSHA256: sha256, serving: serving.json(for: hardware), residuals: .array(rows))
        hw.source += (hw.source.isEmpty ? "" : " ") + "Calibrated from \(fit.indices.count) measured runs (SHA-256 \(sha256.prefix(12))…)"
            + (notes.isEmpty ? "." : "; " + notes.joined(separator: "; ") + ".")
        return (hw, notes)
    }
}

extension ThroughputCalibration {
    /// Each run's measured vs predicted output tokens/s, the in-sample error and the leave-one-out error.
    public func table(fit: Fit, loo: [Double]?) -> String {
        var rows = [["run", "model", "ISL", "OSL", "prompts", "conc.", "measured tok/s", "predicted tok/s", "error", "leave-one-out"]]
        for i in fit.indices {
            let r = runs[i], s = predict(i, fit.parameters)
            let pred = s?.outputTokensPerSecond ?? .nan
            rows.append([r.location, (r.model as NSString).lastPathComponent, "\(r.inputLength)", "\(r.outputLength)",
                         r.numPrompts.map(String.init) ?? "steady", "\(s?.concurrency ?? 0)",
                         String(format: "%.2f", r.outputTokensPerSecond), String(format: "%.2f", pred),
                         String(format: "%+.1f %%", (pred / r.outputTokensPerSecond - 1) * 100),
                         loo.map { String(format: "%+.1f %%", $0[i] * 100) } ?? "—"])
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, v in c < 2 ? v.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                                              : String(repeating: " ", count: widths[c] - v.count) + v }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
