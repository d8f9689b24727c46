import Foundation

/// A byte-pair-encoding model (Sennrich et al. 2016; Hugging Face tokenizers `models/bpe`) built from the
/// `model` object of a `tokenizer.json`: `vocab` (token → id) and ranked `merges` (either `"a b"` strings or
/// `["a", "b"]` pairs; earlier = higher priority).
///
/// Supported options: `unk_token` (string or null), `fuse_unk`, `byte_fallback`, `ignore_merges`, `dropout`
/// null or 0. `continuing_subword_prefix` / `end_of_word_suffix` other than null or "" throw
/// ``TokenizerError/unsupported(file:component:type:)``.
public struct BPEModel: Sendable {
    /// token string → id.
    public let vocab: [String: Int32]
    /// id → token string ("" where the vocab has no such id).
    public let idToToken: [String]
    /// (left id << 32 | right id) → (rank, merged id).
    let merges: [UInt64: Merge]
    public let unkId: Int32?
    public let fuseUnk: Bool
    public let byteFallback: Bool
    public let ignoreMerges: Bool
    /// byteIds[b] = id of the byte-level token of byte b, or -1 when the vocab lacks it.
    let byteIds: [Int32]
    /// byteFallbackIds[b] = id of "<0xHH>", or -1.
    let byteFallbackIds: [Int32]

    struct Merge: Sendable { var rank: Int32; var id: Int32 }

    /// Builds the model from the `model` JSON object of `file` (the path is only used in error messages).
    /// - Throws: ``TokenizerError`` naming the key or unsupported option.
    public init(json: JSONValue, file: String) throws {
        func bad(_ k: String, _ m: String) -> TokenizerError { .invalidField(file: file, key: "model.\(k)", message: m) }
        let type = json["type"]?.stringValue ?? "BPE"
        guard type == "BPE" else { throw TokenizerError.unsupported(file: file, component: "model", type: type) }
        guard let vocabPairs = json["vocab"]?.objectValue else { throw bad("vocab", "missing or not an object") }
        var vocab = [String: Int32](minimumCapacity: vocabPairs.count)
        var maxId: Int32 = -1
        for (k, v) in vocabPairs {
            // Ids index a dense table: bound them (as NemotronHConfig bounds vocab_size) so one absurd id cannot
            // allocate gigabytes.
            guard let id = v.intValue, id >= 0, id < NemotronHConfig.maxDimension else {
                throw bad("vocab", "id of '\(k)' is \(JSONWriter(indent: nil).string(v)); expected an integer in 0..<\(NemotronHConfig.maxDimension)")
            }
            vocab[k] = Int32(id)
            maxId = max(maxId, Int32(id))
        }
        var idToToken = [String](repeating: "", count: Int(maxId) + 1)
        for (k, v) in vocab { idToToken[Int(v)] = k }

        guard let mergeList = json["merges"]?.arrayValue else { throw bad("merges", "missing or not an array") }
        var merges = [UInt64: Merge](minimumCapacity: mergeList.count)
        for (rank, m) in mergeList.enumerated() {
            let a: String, b: String
            if let s = m.stringValue {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw bad("merges", "merge \(rank) '\(s)' is not two tokens separated by one space") }
                a = String(parts[0]); b = String(parts[1])
            } else if let arr = m.arrayValue, arr.count == 2, let x = arr[0].stringValue, let y = arr[1].stringValue {
                a = x; b = y
            } else {
                throw bad("merges", "merge \(rank) is neither \"a b\" nor [\"a\", \"b\"]")
            }
            guard let ia = vocab[a], let ib = vocab[b] else { throw bad("merges", "merge \(rank) '\(a) \(b)' uses a token not in the vocab") }
            guard let ic = vocab[a + b] else { throw bad("merges", "merge \(rank) result '\(a + b)' is not in the vocab") }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            if merges[key] == nil { merges[key] = Merge(rank: Int32(rank), id: ic) }
        }

        if let u = json["unk_token"], !u.isNull {
            guard let s = u.stringValue else { throw bad("unk_token", "not a string") }
            guard let id = vocab[s] else { throw bad("unk_token", "'\(s)' is not in the vocab") }
            unkId = id
        } else { unkId = nil }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = json[key], !v.isNull, v.stringValue != "" {
                throw TokenizerError.unsupported(file: file, component: "model.\(key)", type: v.stringValue ?? "\(v)")
            }
        }
        if let d = json["dropout"], !d.isNull, d.doubleValue != 0 {
            throw TokenizerError.unsupported(file: file, component: "model.dropout", type: "\(d.doubleValue ?? .nan)")
        }
        fuseUnk = json["fuse_unk"]?.boolValue ?? false
        byteFallback = json["byte_fallback"]?.boolValue ?? false
        ignoreMerges = json["ignore_merges"]?.boolValue ?? false

        var byteIds = [Int32](repeating: -1, count: 256)
        var fallback = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let s = String(Unicode.Scalar(ByteLevelTable.byteToScalar[b])!)
            byteIds[b] = vocab[s] ?? -1
            fallback[b] = vocab[String(format: "<0x%02X>", b)] ?? -1
        }
        self.vocab = vocab
        self.idToToken = idToToken
        self.merges = merges
        self.byteIds = byteIds
        self.byteFallbackIds = fallback
    }

    // MARK: - Initial symbols

    /// Encodes one byte-level pre-token (raw UTF-8 bytes; the byte-level mapping is implied) into ids.
    func encodeByteLevelWord(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        if ignoreMerges, let id = vocab[ByteLevelTable.encode(bytes)] { out.append(id); return }
        var symbols = [Int32]()
        symbols.reserveCapacity(bytes.count)
        var lastWasUnk = false
        for b in bytes {
            let id = byteIds[Int(b)]
            if id >= 0 { symbols.append(id); lastWasUnk = false; continue }
            // A byte-level vocab lacking a byte: same rules as a missing character (one byte = one char here).
            if byteFallback, byteFallbackIds[Int(b)] >= 0 { symbols.append(byteFallbackIds[Int(b)]); lastWasUnk = false; continue }
            if let u = unkId {
                if !(fuseUnk && lastWasUnk) { symbols.append(u) }
                lastWasUnk = true
            }
            // No unk token: the tokenizers library drops the character; so do we.
        }
        applyMerges(&symbols)
        out.append(contentsOf: symbols)
    }

    /// Encodes one pre-token given as text (no byte-level mapping): one initial symbol per unicode scalar.
    func encodeWord(_ word: Substring, into out: inout [Int32]) {
        if ignoreMerges, let id = vocab[String(word)] { out.append(id); return }
        var symbols = [Int32]()
        var lastWasUnk = false
        for u in word.unicodeScalars {
            if let id = vocab[String(u)] { symbols.append(id); lastWasUnk = false; continue }
            if byteFallback {
                let ids = String(u).utf8.map { byteFallbackIds[Int($0)] }
                if ids.allSatisfy({ $0 >= 0 }) { symbols.append(contentsOf: ids); lastWasUnk = false; continue }
            }
            if let u = unkId {
                if !(fuseUnk && lastWasUnk) { symbols.append(u) }
                lastWasUnk = true
            }
        }
        applyMerges(&symbols)
        out.append(contentsOf: symbols)
    }

    // MARK: - Merging

    @inline(__always) func merge(_ a: Int32, _ b: Int32) -> Merge? {
        merges[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))]
    }

    /// Applies the merges to `symbols` in rank order (lowest rank first, leftmost on ties), like
    /// `Word::merge_all` in tokenizers: a doubly linked list over the symbols and a min-heap of candidate
    /// merges keyed (rank, position); stale heap entries are skipped. O(n log n) per word.
    public func applyMerges(_ symbols: inout [Int32]) {
        let n = symbols.count
        if n < 2 { return }
        if n == 2 {
            if let m = merge(symbols[0], symbols[1]) { symbols = [m.id] }
            return
        }
        var next = [Int32](unsafeUninitializedCapacity: n) { buf, c in for i in 0..<n { buf[i] = Int32(i + 1) }; c = n }
        var prev = [Int32](unsafeUninitializedCapacity: n) { buf, c in for i in 0..<n { buf[i] = Int32(i - 1) }; c = n }
        var heap = [UInt64]()  // rank << 32 | position
        heap.reserveCapacity(n)
        for i in 0..<(n - 1) {
            if let m = merge(symbols[i], symbols[i + 1]) { heapPush(&heap, UInt64(UInt32(m.rank)) << 32 | UInt64(i)) }
        }
        let dead: Int32 = -1
        while let top = heapPop(&heap) {
            let rank = Int32(truncatingIfNeeded: top >> 32)
            let pos = Int(UInt32(truncatingIfNeeded: top))
            let left = symbols[pos]
            if left == dead { continue }
            let j = Int(next[pos])
            if j >= n { continue }
            guard let m = merge(left, symbols[j]), m.rank == rank else { continue }
            symbols[pos] = m.id
            symbols[j] = dead
            let k = Int(next[j])
            next[pos] = Int32(k)
            if k < n { prev[k] = Int32(pos) }
            let p = Int(prev[pos])
            if p >= 0, let m2 = merge(symbols[p], m.id) { heapPush(&heap, UInt64(UInt32(m2.rank)) << 32 | UInt64(p)) }
            if k < n, let m3 = merge(m.id, symbols[k]) { heapPush(&heap, UInt64(UInt32(m3.rank)) << 32 | UInt64(pos)) }
        }
        var w = 0
        for i in 0..<n where symbols[i] != dead { symbols[w] = symbols[i]; w += 1 }
        symbols.removeLast(n - w)
    }

    /// The naive twin of ``applyMerges(_:)`` (ground truth for tests): repeatedly merge the lowest-ranked
    /// adjacent pair, leftmost first. O(n²) per word.
    public func applyMergesNaive(_ input: [Int32]) -> [Int32] {
        var s = input
        while s.count >= 2 {
            var best: (rank: Int32, pos: Int, id: Int32)? = nil
            for i in 0..<(s.count - 1) {
                if let m = merge(s[i], s[i + 1]), best == nil || m.rank < best!.rank { best = (m.rank, i, m.id) }
            }
            guard let b = best else { break }
            s[b.pos] = b.id
            s.remove(at: b.pos + 1)
        }
        return s
    }
}

@inline(__always) private func heapPush(_ h: inout [UInt64], _ v: UInt64) {
    h.append(v)
    var i = h.count - 1
    while i > 0 {
        let p = (i - 1) >> 1
        if h[p] <= v { break }
        h[i] = h[p]; i = p
    }
    h[i] = v
}

@inline(__always) private func heapPop(_ h: inout [UInt64]) -> UInt64? {
    guard let last = h.popLast() else { return nil }
    if h.isEmpty { return last }
    let top = h[0]
    var i = 0
    let n = h.count
    while true {
        let l = 2 * i + 1
        if l >= n { break }
        var c = l
        if l + 1 < n && h[l + 1] < h[l] { c = l + 1 }
        if h[c] >= last { break }
        h[i] = h[c]; i = c
    }
    h[i] = last
    return top
}
