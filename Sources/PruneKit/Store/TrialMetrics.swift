import Foundation

/// A named metric measured after the search on one of a trial's students (formats.md §4, table
/// `trial_metrics`), e.g. the held-out loss after `kd_steps` steps of knowledge distillation.
public struct TrialMetric: Codable, Sendable, Equatable {
    /// The trial's number in its study.
    public var trialNumber: Int
    /// Which student of the trial: ``TrialMetric/prunedStudent`` for the importance-pruned export of the trial,
    /// or a label such as `random-seed-1` for a baseline of the same architecture.
    public var student: String
    /// Metric name, e.g. `kd_loss`, `kd_kl`, `kd_tokens`.
    public var name: String
    /// Written as `null` when non-finite (``FiniteOrNull``).
    @FiniteOrNull public var value: Double
    /// Distillation steps the figure was measured after (0 = before distillation), or nil when not tied to KD.
    public var kdSteps: Int?
    public var note: String?
    /// Who recorded it: tool version, host, user, working directory, command line and any `--source` file.
    public var provenance: JSONValue
    public var toolVersion: String
    /// ISO 8601 UTC time of recording.
    public var createdAt: String

    public init(trialNumber: Int, student: String, name: String, value: Double, kdSteps: Int?, note: String?, provenance: JSONValue,
                toolVersion: String, createdAt: String) {
        self.trialNumber = trialNumber; self.student = student; self.name = name; self.value = value; self.kdSteps = kdSteps
        self.note = note; self.provenance = provenance; self.toolVersion = toolVersion; self.createdAt = createdAt
    }

    /// The default student label: the trial's architecture with importance-ranked keep-sets (`prunekit prune --study --trial`).
    public static let prunedStudent = "pruned"

    enum CodingKeys: String, CodingKey {
        case trialNumber = "trial", student, name, value, kdSteps = "kd_steps", note, provenance, toolVersion = "tool_version", createdAt = "created_at"
    }

    /// Nil optionals are written as `null` (every key present).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(trialNumber, forKey: .trialNumber); try c.encode(student, forKey: .student); try c.encode(name, forKey: .name)
        try c.encode(_value, forKey: .value); try c.encode(kdSteps, forKey: .kdSteps); try c.encode(note, forKey: .note)
        try c.encode(provenance, forKey: .provenance); try c.encode(toolVersion, forKey: .toolVersion); try c.encode(createdAt, forKey: .createdAt)
    }

    /// Names `leaderboard --objective` takes from the trials table; post-hoc metrics must use other names.
    public static let builtInNames: Set<String> = Set(Recipe.Metric.allCases.map(\.rawValue)).union(["params", "tokens_per_second"])

    /// Whether `s` is a valid metric name: a letter, then letters, digits, `_` or `.`.
    public static func isValidName(_ s: String) -> Bool {
        guard let f = s.unicodeScalars.first, CharacterSet.letters.contains(f), s.count <= 64 else { return false }
        return s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "." } && s.allSatisfy(\.isASCII)
    }

    /// Whether `s` is a valid student label: a letter or digit, then letters, digits, `_`, `.` or `-`.
    public static func isValidStudent(_ s: String) -> Bool {
        guard let f = s.unicodeScalars.first, CharacterSet.alphanumerics.contains(f), s.count <= 64 else { return false }
        return s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "." || $0 == "-" } && s.allSatisfy(\.isASCII)
    }
}

/// Errors of `annotate` (exit code 2).
public enum AnnotateError: Error, CustomStringConvertible, Equatable {
    case badMetric(String)
    case unknownTrial(study: String, trial: Int, known: [Int])

    public var description: String {
        switch self {
        case let .badMetric(m): return m
        case let .unknownTrial(s, t, known):
            let k = known.prefix(20).map(String.init).joined(separator: ", ")
            return "study \"\(s)\" has no trial \(t)" + (known.isEmpty ? " (it has no trials)" : "; trials: \(k)\(known.count > 20 ? ", …" : "")")
        }
    }
}

/// Parsing, recording and ranking post-hoc metrics (`annotate`, `leaderboard --objective NAME`).
public enum TrialMetrics {
    /// Parses `NAME=VALUE` (e.g. `kd_loss=3.41`, `kd_tokens=2e6`).
    /// - Throws: ``AnnotateError/badMetric(_:)`` naming the argument and what was expected.
    public static func parseMetric(_ arg: String) throws -> (name: String, value: Double) {
        let parts = arg.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw AnnotateError.badMetric("--metric \(arg): expected NAME=VALUE, e.g. kd_loss=3.41") }
        let name = String(parts[0]).trimmingCharacters(in: .whitespaces), text = String(parts[1]).trimmingCharacters(in: .whitespaces)
        guard TrialMetric.isValidName(name) else {
            throw AnnotateError.badMetric("--metric \(arg): the name '\(name)' must start with a letter and use letters, digits, '_' or '.' (≤ 64 characters)")
        }
        guard !TrialMetric.builtInNames.contains(name) else {
            throw AnnotateError.badMetric("--metric \(arg): '\(name)' is a metric the search measures itself; name the post-hoc figure differently (e.g. kd_\(name))")
        }
        guard let v = Double(text), v.isFinite else { throw AnnotateError.badMetric("--metric \(arg): the value '\(text)' is not a finite number") }
        return (name, v)
    }

    /// Appends metrics of trial `trial`'s `student` to the study, all with the same time and provenance.
    /// - Throws: ``AnnotateError`` (no such trial, bad name or value), ``StoreError``.
    @discardableResult
    public static func annotate(_ store: any StudyStore, study: StudyRecord, trial: Int, student: String = TrialMetric.prunedStudent,
                                metrics: [(name: String, value: Double)], kdSteps: Int? = nil, note: String? = nil,
                                provenance: JSONValue) throws -> [TrialMetric] {
        guard !metrics.isEmpty else { throw AnnotateError.badMetric("give at least one --metric NAME=VALUE") }
        guard TrialMetric.isValidStudent(student) else {
            throw AnnotateError.badMetric("--student '\(student)': a label of letters, digits, '_', '.' or '-' (≤ 64 characters), e.g. random-seed-1")
        }
        if let k = kdSteps, k < 0 { throw AnnotateError.badMetric("--kd-steps must be ≥ 0, got \(k)") }
        for m in metrics {
            guard TrialMetric.isValidName(m.name), !TrialMetric.builtInNames.contains(m.name), m.value.isFinite else {
                throw AnnotateError.badMetric("metric \(m.name)=\(m.value): bad name or non-finite value")
            }
        }
        let now = timestampNow()
        let rows = metrics.map { m in
            TrialMetric(trialNumber: trial, student: student, name: m.name, value: m.value, kdSteps: kdSteps, note: note,
                        provenance: provenance, toolVersion: PruneKitVersion.string, createdAt: now)
        }
        try store.appendMetrics(study: study, rows)
        return rows
    }

    /// The current value of every (trial, student, name, kd_steps): the latest recorded, in first-recorded order.
    public static func currentMetrics(_ history: [TrialMetric]) -> [TrialMetric] {
        var order = [String](), latest = [String: TrialMetric]()
        for m in history {
            let key = "\(m.trialNumber)|\(m.student)|\(m.name)|\(m.kdSteps.map(String.init) ?? "-")"
            if latest[key] == nil { order.append(key) }
            latest[key] = m
        }
        return order.map { latest[$0]! }
    }

    /// One row of a ranking by a post-hoc metric: a trial's student with its figure after the most KD steps
    /// recorded (a figure without `kd_steps` counts as the only one), and the figure before KD (`kd_steps` 0)
    /// when recorded.
    public struct MetricRank: Sendable {
        public var trialNumber: Int
        public var student: String
        public var value: Double
        public var kdSteps: Int?
        public var before: Double?
    }

    /// Ranks the (trial, student) pairs that have metric `name`, best first (ties: trial number, then student).
    public static func rankByMetric(_ history: [TrialMetric], name: String, maximize: Bool = false) -> [MetricRank] {
        let cur = currentMetrics(history).filter { $0.name == name }
        var byPair = [String: [TrialMetric]](), order = [String]()
        for m in cur {
            let k = "\(m.trialNumber)|\(m.student)"
            if byPair[k] == nil { order.append(k) }
            byPair[k, default: []].append(m)
        }
        let rows = order.map { k -> MetricRank in
            let ms = byPair[k]!
            let last = ms.max { ($0.kdSteps ?? -1) < ($1.kdSteps ?? -1) }!
            let before = ms.first { $0.kdSteps == 0 }?.value
            return MetricRank(trialNumber: last.trialNumber, student: last.student, value: last.value, kdSteps: last.kdSteps, before: before)
        }
        return rows.sorted {
            if $0.value != $1.value { return maximize ? $0.value > $1.value : $0.value < $1.value }
            return ($0.trialNumber, $0.student) < ($1.trialNumber, $1.student)
        }
    }
}
