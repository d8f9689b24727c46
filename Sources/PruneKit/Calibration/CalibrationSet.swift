import Foundation

/// A calibration (or held-out evaluation) set: N sequences of token ids, each scored on its own
/// ("batch size 1" semantics, pruning.md §1).
public struct CalibrationSet: Sendable, Equatable {
    /// samples[b] = the token ids of sequence b (length ≤ T; all equal to T for text input).
    public var samples: [[Int32]]
    /// Where the ids came from (file path), for records.
    public var source: String

    public init(samples: [[Int32]], source: String) {
        self.samples = samples
        self.source = source
    }

    public var tokenCount: Int { samples.reduce(0) { $0 + $1.count } }

    /// Hex SHA-256 of the token ids (sample lengths and ids, little-endian Int32): results keyed by it are
    /// reused only for exactly the same tokens.
    public var fingerprint: String {
        var data = Data()
        for s in samples {
            var n = Int32(s.count).littleEndian
            data.append(Data(bytes: &n, count: 4))
            s.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        return sha256Hex(data)
    }
}
