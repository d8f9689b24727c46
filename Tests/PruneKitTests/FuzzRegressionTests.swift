import XCTest
import PruneKit

/// Inputs that crashed or broke an invariant under the fuzz targets (Tests/Fuzz), each kept in the target's
/// corpus and checked here for the clear error that replaced the crash.
final class FuzzRegressionTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus")

    func input(_ target: String, _ name: String) throws -> Data {
        try Data(contentsOf: Self.corpus.appendingPathComponent(target).appendingPathComponent(name))
    }

    /// Writes `data` to a temporary file named `name` and returns its path.
    func file(_ name: String, _ data: Data) throws -> String {
        let dir = Fixtures.tempDir("prunekit-fuzz-regression")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + name
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func assertThrows<E: Error>(_ type: E.Type, _ body: () throws -> Void, contains: [String],
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            XCTAssertTrue(e is E, "\(Swift.type(of: e)): \(e)", file: file, line: line)
            for c in contains { XCTAssertTrue("\(e)".contains(c), "'\(c)' not in: \(e)", file: file, line: line) }
        }
    }

    // MARK: - config.json

    /// Sizes whose product overflowed 64-bit integers trapped in parameterCount (hidden_size = 2⁶³ − 1;
    /// mamba_num_heads = 2⁶² times the head dim).
    func testConfigHugeSizesAreRefusedNotTrapped() throws {
        let hidden = try file("config.json", input("FuzzConfig", "huge-hidden"))
        assertThrows(ConfigError.self, { _ = try NemotronHConfig.load(path: hidden) }, contains: [hidden, "hidden_size", "largest supported size"])
        let heads = try file("config.json", input("FuzzConfig", "huge-heads"))
        assertThrows(ConfigError.self, { _ = try NemotronHConfig.load(path: heads) }, contains: [heads, "mamba_num_heads"])
        // Each size fits but their products do not: the parameter bound names the largest size.
        var j = try JSONParser().parse(Data(contentsOf: URL(fileURLWithPath: Fixtures.nemoTiny + "/config.json")))
        for k in ["hidden_size", "intermediate_size", "vocab_size"] { j = j.setting(k, .int(NemotronHConfig.maxDimension)) }
        assertThrows(ConfigError.self, { _ = try NemotronHConfig(json: j, file: "big/config.json") },
                     contains: ["big/config.json", "parameters, beyond the supported"])
        // Real configs are far below the bound.
        XCTAssertNoThrow(try NemotronHConfig.load(path: Fixtures.config12B))
    }

    // MARK: - Recipe

    /// A search-space value near Int.max overflowed while snapping to the hidden-size multiple.
    func testRecipeHugeValueIsRefusedNotTrapped() throws {
        let text = String(decoding: try input("FuzzRecipe", "snap-overflow"), as: UTF8.self)
        assertThrows(SearchError.self, { _ = try Recipe(yaml: text, path: "/r/recipe.yaml") },
                     contains: ["recipe.yaml", "search_space.hidden_size", "largest supported size"])
        assertThrows(SearchError.self, {
            _ = try Recipe(yaml: "model: m\nhardware: a10g\nsearch_space: {num_layers: [2]}\nsnap: {hidden_size: 9223372036854775807}\n", path: "r.yaml")
        }, contains: ["snap.hidden_size"])
    }

    /// {min: 1, max: 2⁶³ − 1, step: 1} tried to build a list of 2⁶³ values (hang, then out of memory).
    func testRecipeHugeRangeIsRefused() throws {
        let text = String(decoding: try input("FuzzRecipe", "huge-range"), as: UTF8.self)
        assertThrows(SearchError.self, { _ = try Recipe(yaml: text, path: "recipe.yaml") },
                     contains: ["search_space.hidden_size", "largest supported size"])
        // Within the size bound but too many values: refused before the list is built.
        assertThrows(SearchError.self, { _ = try Recipe(yaml: "model: m\nhardware: a10g\nsearch_space:\n  hidden_size: {min: 1, max: 16777216, step: 1}\n", path: "recipe.yaml") },
                     contains: ["search_space.hidden_size", "gives more than \(Recipe.maxChoices) values"])
        // A wide range with a coarse step is still fine.
        XCTAssertNoThrow(try Recipe(yaml: "model: m\nhardware: a10g\nsearch_space:\n  hidden_size: {min: 256, max: 65536, step: 256}\n", path: "r.yaml"))
    }

    // MARK: - tokenizer.json

    /// A post-processor special token id outside the vocab was emitted by every encode (an id past the
    /// model's embedding rows).
    func testTokenizerSpecialIdOutsideVocabIsRefused() throws {
        let data = try input("FuzzTokenizer", "bad-special-id").dropFirst() // byte 0 is the fuzz target's mode
        let path = try file("tokenizer.json", Data(data))
        assertThrows(TokenizerError.self, { _ = try Tokenizer(path: path) }, contains: [path, "post_processor.special_tokens", "99999"])
    }
}
