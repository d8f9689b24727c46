import Foundation

/// What a candidate scores on held-out data against the full model (pruning.md §6).
public struct CandidateMetrics: Sendable, Equatable {
    /// Mean over positions of KL(p_full ‖ p_candidate), nats per token.
    public var kl: Double
    /// Mean over samples, positions and vocabulary of (logit_candidate − logit_full)².
    public var mse: Double
    /// The candidate's mean next-token loss, nats per predicted token.
    public var loss: Double
    /// Wall-clock seconds of the evaluation (building the pruned model and running the held-out set).
    public var seconds: Double

    public init(kl: Double, mse: Double, loss: Double, seconds: Double) { self.kl = kl; self.mse = mse; self.loss = loss; self.seconds = seconds }

    public func value(_ m: Recipe.Metric) -> Double {
        switch m { case .kl: return kl; case .mse: return mse; case .loss: return loss }
    }
}

/// Runs pruned models in memory on a held-out set and compares their logits with the full model's.
///
/// The full model's held-out logits are computed once and kept when they fit `logitBudgetBytes`
/// (N·T·V·4 bytes); otherwise they are recomputed for every candidate.
public final class CandidateEvaluator: @unchecked Sendable {
    public let base: WeightSource
    public let heldout: CalibrationSet
    public let cacheBudgetBytes: Int
    /// Bytes of activations per batch (``NemotronHModel/batchBudgetBytes``).
    public let batchBudgetBytes: Int
    public let dtFloor: Bool
    private let fullModel: NemotronHModel
    private var fullLogits: [[Float]]?
    /// The full model's loss on the held-out set, nats per predicted token.
    public private(set) var fullLoss: Double = .nan
    /// Seconds spent computing the full model's logits.
    public private(set) var fullSeconds: Double = 0

    /// - Parameter progress: the full model's held-out forward is reported as step "full model" (tokens).
    /// - Throws: ``ModelError`` for an empty set or bad ids.
    /// - Parameter fullModel: the full model's held-out logits and loss from an earlier run (``storedFullModel(store:study:heldout:vocab:)``):
    ///   the full model's forward is then skipped.
    public init(base: WeightSource, heldout: CalibrationSet, cacheBudgetBytes: Int = 4 << 30, batchBudgetBytes: Int = NemotronHModel.defaultBatchBudgetBytes,
                logitBudgetBytes: Int = 2 << 30,
                dtFloor: Bool = true, progress: ProgressReporter? = nil, fullModel stored: FullModelOutput? = nil) throws {
        guard !heldout.samples.isEmpty else { throw ModelError.emptyInput("the held-out set has no samples") }
        self.base = base; self.heldout = heldout; self.cacheBudgetBytes = cacheBudgetBytes; self.dtFloor = dtFloor
        self.batchBudgetBytes = batchBudgetBytes
        fullModel = try NemotronHModel(source: base, cacheBudgetBytes: cacheBudgetBytes, batchBudgetBytes: batchBudgetBytes)
        fullModel.dtFloor = dtFloor
        if let stored {
            fullLogits = stored.logits
            fullLoss = stored.loss
            return
        }
        let keep = heldout.tokenCount * base.config.vocabSize * 4 <= logitBudgetBytes
        var kept = [[Float]]()
        let start = Date()
        let m = try fullModel.evaluate(heldout, progress: progress, phase: "full model") { _, l in if keep { kept.append(l) } }
        fullSeconds = Date().timeIntervalSince(start)
        fullLoss = m.loss
        fullLogits = keep ? kept : nil
    }

    /// The full model's held-out output kept with a study.
    public struct FullModelOutput: Sendable {
        /// Per held-out sample: logits [T × V], fp32.
        public var logits: [[Float]]
        /// Mean next-token loss, nats per predicted token.
        public var loss: Double
    }

    /// Logits per stored blob part (64 MiB of fp32): under every backend's value size limit (SQLite 1 GB,
    /// PostgreSQL `bytea` 1 GB) whatever T × V is.
    static let logitsPerPart = 16 << 20

    /// Blob name of part `k` of held-out sample `b`'s full-model logits (little-endian fp32, row-major [T × V]).
    static func logitsBlobName(_ b: Int, part k: Int) -> String { "full_model/heldout_logits/\(b)/\(k)" }

    /// The full model's held-out logits stored with `study`, when every sample's are there with the expected
    /// size and the study has the full loss; nil otherwise.
    public static func storedFullModel(store: any StudyStore, study: StudyRecord, heldout: CalibrationSet, vocab: Int) throws -> FullModelOutput? {
        guard let loss = study.fullLoss, loss.isFinite else { return nil }
        var out = [[Float]]()
        for (b, ids) in heldout.samples.enumerated() {
            let n = ids.count * vocab
            var logits = [Float](repeating: 0, count: n)
            var filled = 0, k = 0
            while filled < n {
                guard let d = try store.blob(study: study.id, name: logitsBlobName(b, part: k)), d.count % 4 == 0, filled + d.count / 4 <= n else { return nil }
                logits.withUnsafeMutableBufferPointer { dst in
                    d.withUnsafeBytes { raw in
                        for i in 0..<(d.count / 4) { dst[filled + i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
                    }
                }
                filled += d.count / 4; k += 1
            }
            out.append(logits)
        }
        return FullModelOutput(logits: out, loss: loss)
    }

    /// Stores the full model's held-out logits (when kept in memory) and loss with `study`.
    public func storeFullModel(store: any StudyStore, study: Int64) throws {
        if let fullLogits {
            for (b, l) in fullLogits.enumerated() {
                var start = 0, k = 0
                while start < l.count {
                    let end = min(l.count, start + Self.logitsPerPart)
                    var d = Data(count: (end - start) * 4)
                    d.withUnsafeMutableBytes { raw in
                        for i in start..<end { raw.storeBytes(of: l[i].bitPattern.littleEndian, toByteOffset: (i - start) * 4, as: UInt32.self) }
                    }
                    try store.saveBlob(study: study, name: Self.logitsBlobName(b, part: k), data: d)
                    start = end; k += 1
                }
            }
        }
        if fullLoss.isFinite { try store.setFullLoss(study: study, loss: fullLoss) }
    }

    /// Whether the full model's logits are held in memory.
    public var keepsFullLogits: Bool { fullLogits != nil }

    /// Prunes the base weights with `plan` (in memory, ``SlicedWeights``) and measures KL, MSE and loss.
    /// - Parameter onSample: called after each held-out sample (e.g. to beat a heartbeat).
    public func evaluate(plan: PruningPlan, onSample: (() -> Void)? = nil) throws -> CandidateMetrics {
        let start = Date()
        let model = try NemotronHModel(source: SlicedWeights(base: base, plan: plan), cacheBudgetBytes: cacheBudgetBytes,
                                       batchBudgetBytes: batchBudgetBytes)
        model.dtFloor = dtFloor
        let V = base.config.vocabSize
        var cmp = LogitComparison()
        // Samples in batches within the model's batch budget (stacked rows); results equal one at a time.
        for range in model.batches(heldout.samples.map(\.count), logits: true) {
            let batch = Array(heldout.samples[range])
            let stacked = try model.forward(batch: batch, firstSample: range.lowerBound)
            var row = 0
            for (k, ids) in batch.enumerated() {
                let b = range.lowerBound + k, T = ids.count
                let full = try fullLogits?[b] ?? fullModel.forward(ids, sample: b)
                let logits = batch.count == 1 ? stacked : Array(stacked[(row * V)..<((row + T) * V)])
                cmp.add(LogitComparison.of(reference: full, candidate: logits, ids: ids, rows: T, vocab: V))
                row += T
                onSample?()
            }
        }
        return CandidateMetrics(kl: cmp.meanKL, mse: cmp.mse, loss: cmp.loss, seconds: Date().timeIntervalSince(start))
    }
}
