import Foundation

/// A Hugging Face tokenizer built from `tokenizer.json` (formats.md §3): added tokens → pre-tokenizer →
/// BPE model → post-processor, and the decoder back. Gives the same ids as the `tokenizers` library for the
/// supported components (golden-tested on the fixtures); anything unsupported is a load-time error.
///
/// Encoding caches each pre-token's ids (pre-tokens repeat a lot), so a `Tokenizer` is a class; the cache is
/// guarded by a lock, so one instance may be shared across threads (encodes then run one at a time).
/// `truncation` and `padding` in tokenizer.json are ignored: callers cut sequences themselves.
public final class Tokenizer: @unchecked Sendable {
    public let model: BPEModel
    public let preTokenizer: PreTokenizer?
    public let postProcessor: PostProcessor?
    public let decoder: TokenDecoder?
    public let addedTokens: [AddedToken]
    /// Where it was loaded from (for records and errors).
    public let source: String
    /// `bos_token` / `eos_token` of tokenizer_config.json, when loaded with ``load(modelDir:)`` and present.
    public private(set) var bosTokenId: Int32?
    public private(set) var eosTokenId: Int32?

    let byteLevel: Bool
    let matcher: AddedTokenMatcher
    let addedById: [Int32: AddedToken]
    private let lock = NSLock()
    private var shortCache = [ShortKey: [Int32]]()
    private var longCache = [[UInt8]: [Int32]]()
    /// Cache entries kept before the cache is cleared (bounds memory on huge corpora).
    public var cacheLimit = 500_000

    /// Loads `<modelDir>/tokenizer.json`, and the BOS/EOS token names from `<modelDir>/tokenizer_config.json`
    /// when that file exists.
    /// - Throws: ``TokenizerError``.
    public static func load(modelDir: String) throws -> Tokenizer {
        let t = try Tokenizer(path: (modelDir as NSString).appendingPathComponent("tokenizer.json"))
        let cfgPath = (modelDir as NSString).appendingPathComponent("tokenizer_config.json")
        if let d = FileManager.default.contents(atPath: cfgPath), let cfg = try? JSONParser().parse(d) {
            func id(_ key: String) -> Int32? {
                let name = cfg[key]?.stringValue ?? cfg[key]?["content"]?.stringValue
                return name.flatMap { t.tokenId($0) }
            }
            t.bosTokenId = id("bos_token")
            t.eosTokenId = id("eos_token")
        }
        return t
    }

    /// Reads a tokenizer.json file.
    /// - Throws: ``TokenizerError/io(file:message:)`` if unreadable, `.invalidJSON` if not JSON, and the
    ///   component errors of ``init(json:file:)``.
    public convenience init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.io(file: path, message: "cannot read the file (hint: a model folder needs a tokenizer.json)")
        }
        let json: JSONValue
        do { json = try JSONParser().parse(data) } catch { throw TokenizerError.invalidJSON(file: path, message: "\(error)") }
        try self.init(json: json, file: path)
    }

    /// Builds the tokenizer from a parsed tokenizer.json (`file` names it in errors).
    public init(json: JSONValue, file: String) throws {
        guard json.objectValue != nil else { throw TokenizerError.invalidJSON(file: file, message: "the top level is not an object") }
        source = file
        if let n = json["normalizer"], !n.isNull {
            let type = n["type"]?.stringValue ?? "(missing)"
            let emptySequence = type == "Sequence" && (n["normalizers"]?.arrayValue?.isEmpty ?? false)
            if !emptySequence { throw TokenizerError.unsupported(file: file, component: "normalizer", type: type) }
        }
        guard let m = json["model"], m.objectValue != nil else {
            throw TokenizerError.invalidField(file: file, key: "model", message: "missing or not an object")
        }
        model = try BPEModel(json: m, file: file)
        if let p = json["pre_tokenizer"], !p.isNull { preTokenizer = try PreTokenizer(json: p, file: file) } else { preTokenizer = nil }
        if let p = json["post_processor"], !p.isNull { postProcessor = try PostProcessor(json: p, file: file) } else { postProcessor = nil }
        if let d = json["decoder"], !d.isNull { decoder = try TokenDecoder(json: d, file: file) } else { decoder = nil }
        if let a = json["added_tokens"], !a.isNull {
            guard let list = a.arrayValue else { throw TokenizerError.invalidField(file: file, key: "added_tokens", message: "not an array") }
            addedTokens = try list.map { try AddedToken(json: $0, file: file) }
        } else { addedTokens = [] }
        byteLevel = preTokenizer?.isByteLevel ?? false
        matcher = AddedTokenMatcher(addedTokens)
        addedById = Dictionary(addedTokens.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // An id the post-processor adds must be a token of this tokenizer, or encoding would yield an id
        // past the vocabulary (and past the model's embedding rows).
        if let bad = postProcessor?.specialIds.first(where: { token($0) == nil }) {
            throw TokenizerError.invalidField(file: file, key: "post_processor.special_tokens",
                                              message: "id \(bad) is neither in the vocab (\(model.idToToken.count) ids) nor an added token")
        }
    }

    /// Number of ids (max id + 1 over the vocab and the added tokens).
    public var vocabSize: Int { max(model.idToToken.count, Int(addedTokens.map(\.id).max() ?? -1) + 1) }

    /// The id of a token string (added tokens first, then the vocab).
    public func tokenId(_ token: String) -> Int32? {
        addedTokens.first(where: { $0.content == token })?.id ?? model.vocab[token]
    }

    /// The token string of an id (added tokens first), or nil when out of range.
    public func token(_ id: Int32) -> String? {
        if let a = addedById[id] { return a.content }
        guard id >= 0, Int(id) < model.idToToken.count, !model.idToToken[Int(id)].isEmpty else { return nil }
        return model.idToToken[Int(id)]
    }

    // MARK: - Encoding

    /// Token ids of `text`; with `addSpecialTokens` the post-processor adds its tokens (e.g. BOS).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
        var ids = [Int32]()
        let bytes = Array(text.utf8)
        ids.reserveCapacity(bytes.count / 3 + 2)
        lock.lock()
        bytes.withUnsafeBufferPointer { buf in
            if matcher.isEmpty {
                encodeSegment(buf, 0..<buf.count, into: &ids)
            } else {
                for (r, t) in matcher.split(buf) {
                    if let t { ids.append(addedTokens[t].id) } else { encodeSegment(buf, r, into: &ids) }
                }
            }
        }
        lock.unlock()
        if addSpecialTokens, let p = postProcessor { return p.process(ids) }
        return ids
    }

    /// The pre-tokens of `text` (no added-token split), as strings — for tests and debugging.
    public func preTokenize(_ text: String) -> [String] {
        var p = PreTokenized(bytes: Array(text.utf8))
        preTokenizer?.apply(&p)
        return p.strings
    }

    private func encodeSegment(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, into ids: inout [Int32]) {
        if r.isEmpty { return }
        var p = PreTokenized(bytes: Array(buf[r]))
        preTokenizer?.apply(&p)
        if shortCache.count + longCache.count > cacheLimit { shortCache.removeAll(); longCache.removeAll() }
        p.bytes.withUnsafeBufferPointer { b in
            for piece in p.pieces {
                let word = UnsafeBufferPointer(rebasing: b[piece])
                if !byteLevel {
                    model.encodeWord(String(decoding: word, as: UTF8.self)[...], into: &ids)
                } else if word.count <= 16 {
                    let key = ShortKey(word)
                    if let hit = shortCache[key] { ids.append(contentsOf: hit); continue }
                    let start = ids.count
                    model.encodeByteLevelWord(word, into: &ids)
                    shortCache[key] = Array(ids[start...])
                } else {
                    let key = Array(word)
                    if let hit = longCache[key] { ids.append(contentsOf: hit); continue }
                    let start = ids.count
                    model.encodeByteLevelWord(word, into: &ids)
                    longCache[key] = Array(ids[start...])
                }
            }
        }
    }

    // MARK: - Decoding

    /// Text of `ids` through the decoder. Ids with no token are skipped; with `skipSpecialTokens`, special
    /// added tokens are too (tokenizers `decode`).
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        var tokens = [String]()
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if let a = addedById[id] {
                if !(skipSpecialTokens && a.special) { tokens.append(a.content) }
            } else if let t = token(id) {
                tokens.append(t)
            }
        }
        return decoder?.decode(tokens) ?? tokens.joined()
    }
}

/// A cache key for pre-tokens of at most 16 bytes, stored inline (no allocation).
struct ShortKey: Hashable {
    var lo: UInt64 = 0, hi: UInt64 = 0, count: Int
    init(_ w: UnsafeBufferPointer<UInt8>) {
        count = w.count
        for i in 0..<min(8, w.count) { lo |= UInt64(w[i]) << (8 * UInt64(i)) }
        if w.count > 8 { for i in 8..<w.count { hi |= UInt64(w[i]) << (8 * UInt64(i - 8)) } }
    }
}
