import XCTest
import PruneKit
#if canImport(Glibc)
import Glibc
#endif

/// The `prunekit` binary (built next to the test bundle) on what a new user hit: an interrupted `prune --force`
/// (kill -9 at several points), leftovers of an interrupted export, a dry run that must not compute, negative
/// options, `tokenize --out`, and progress lines in a redirected log.
final class CLITests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Fixtures.tempDir("prunekit-cli") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static var binary: String? {
        let here = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        var d = here.deletingLastPathComponent()
        for _ in 0..<4 {
            let p = d.appendingPathComponent("prunekit").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
            d = d.deletingLastPathComponent()
        }
        return nil
    }

    /// Runs prunekit with `args` (and extra environment), waiting for it.
    func run(_ args: [String], env: [String: String] = [:]) throws -> ProcessResult {
        guard let bin = Self.binary else { throw XCTSkip("the prunekit binary is not built next to the tests (swift build --build-tests builds it)") }
        return try TestBinaries.run(bin, args, env: env)
    }

    func ls(_ p: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: p)) ?? []).sorted() }

    /// Exports nemo-tiny pruned to `hidden` with random keep-sets into `out`.
    func prune(_ out: String, hidden: Int, force: Bool = false, shard: String = "500KB", env: [String: String] = [:]) throws -> ProcessResult {
        try run(["prune", Fixtures.nemoTiny, out, "--hidden-size", "\(hidden)", "--random-seed", "1", "--max-shard-size", shard, "--quiet"]
                + (force ? ["--force"] : []), env: env)
    }

    /// The export in `out` is complete and has hidden size `hidden` (every file of one export, nothing else).
    func assertCompleteExport(_ out: String, hidden: Int, files: [String], line: UInt = #line) {
        XCTAssertEqual(ls(out), files, "a mix of two exports?", line: line)
        do {
            let f = try ModelFolder(path: out, strict: true)
            XCTAssertEqual(f.config.hiddenSize, hidden, line: line)
            XCTAssertEqual(f.tensorParameterCount, f.config.parameterCount, line: line)
        } catch { XCTFail("\(out) is not a complete export: \(error)", line: line) }
    }

    // MARK: - Atomic overwrite

    func testKillAtAnyPointOfForcedOverwriteLeavesOldOrNew() throws {
        let out = dir + "/model"
        let first = try prune(out, hidden: 96)
        XCTAssertEqual(first.status, 0, first.err)
        try "mine".write(toFile: out + "/notes.txt", atomically: true, encoding: .utf8)
        let oldFiles = ls(out)
        XCTAssertTrue(oldFiles.contains(ModelFolder.indexName), "sharded, so a mix would be visible: \(oldFiles)")
        // The new export has a different shard count (hidden 64, one shard), so a mix would show.
        let reference = dir + "/reference"
        XCTAssertEqual(try prune(reference, hidden: 64, shard: "5GB").status, 0)
        let newFiles = (ls(reference) + ["notes.txt"]).sorted()
        try FileManager.default.removeItem(atPath: reference)
        for (point, expectNew) in [("tensor:1", false), ("tensor:20", false), ("written", false), ("before-swap", false), ("after-swap", true)] {
            let r = try prune(out, hidden: 64, force: true, shard: "5GB", env: ["PRUNEKIT_TEST_KILL_AT": point])
            XCTAssertTrue(r.signaled, "\(point): the test hook did not kill the process (status \(r.status)): \(r.err)")
            if expectNew {
                assertCompleteExport(out, hidden: 64, files: newFiles)
            } else {
                assertCompleteExport(out, hidden: 96, files: oldFiles)
            }
            // The staging folder and the (unlocked) lock file of the killed writer are the only leftovers.
            XCTAssertEqual(ls(dir), [".model.prunekit-lock", ".model.prunekit-partial", "model"], "\(point): the staging folder is the only leftover")
            // The rerun names and removes the leftovers and puts its export in place (back to hidden 96).
            let again = try prune(out, hidden: 96, force: true)
            XCTAssertEqual(again.status, 0, again.err)
            XCTAssertTrue(again.err.contains("removing the leftovers of an interrupted export: \(dir)/.model.prunekit-partial"), "\(point): \(again.err)")
            XCTAssertEqual(ls(dir), ["model"], "\(point): leftovers remain")
            assertCompleteExport(out, hidden: 96, files: oldFiles)
            XCTAssertEqual(try String(contentsOfFile: out + "/notes.txt", encoding: .utf8), "mine", "other files are carried over")
        }
    }

    /// Without an atomic exchange the old export is parked beside the folder for a moment; killed then, the
    /// rerun moves it back before anything else.
    func testKillWhileOldExportIsParkedIsRecovered() throws {
        let out = dir + "/model"
        XCTAssertEqual(try prune(out, hidden: 96).status, 0)
        let oldFiles = ls(out)
        let r = try prune(out, hidden: 64, force: true, env: ["PRUNEKIT_TEST_KILL_AT": "parked", "PRUNEKIT_TEST_NO_EXCHANGE": "1"])
        XCTAssertTrue(r.signaled, r.err)
        XCTAssertEqual(ls(dir), [".model.prunekit-lock", ".model.prunekit-old", ".model.prunekit-partial"])
        let again = try prune(out, hidden: 64, force: true, env: ["PRUNEKIT_TEST_NO_EXCHANGE": "1"])
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertTrue(again.err.contains(".model.prunekit-old"), again.err)
        XCTAssertEqual(ls(dir), ["model"])
        XCTAssertNotEqual(ls(out), oldFiles)
        assertCompleteExport(out, hidden: 64, files: ls(out))
        // Killed before parking, the fallback leaves the old export in place.
        let before = try prune(out, hidden: 96, force: true, env: ["PRUNEKIT_TEST_KILL_AT": "before-swap", "PRUNEKIT_TEST_NO_EXCHANGE": "1"])
        XCTAssertTrue(before.signaled)
        assertCompleteExport(out, hidden: 64, files: ls(out))
    }

    func testInterruptedFreshExportLeavesNothingThatLooksLikeAModel() throws {
        let out = dir + "/fresh"
        let r = try prune(out, hidden: 96, env: ["PRUNEKIT_TEST_KILL_AT": "tensor:10"])
        XCTAssertTrue(r.signaled, r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "the output folder appears only when complete")
        XCTAssertEqual(ls(dir), [".fresh.prunekit-lock", ".fresh.prunekit-partial"])
        // Without --force the rerun is not refused: only a leftover exists, and it is named and removed.
        let again = try prune(out, hidden: 96)
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertTrue(again.err.contains(".fresh.prunekit-partial"), again.err)
        XCTAssertEqual(ls(dir), ["fresh"])
    }

    /// Hidden temporaries of the older in-place writer made "not empty (2 entries)" while `ls` showed nothing.
    func testHiddenPartialFilesDoNotCountAsContent() throws {
        let out = dir + "/old"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for n in [".model-00001-of-00002.safetensors.partial", ".config.json.partial"] { FileManager.default.createFile(atPath: out + "/" + n, contents: Data("x".utf8)) }
        let r = try prune(out, hidden: 96)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains(".config.json.partial"), r.err)
        XCTAssertFalse(ls(out).contains { $0.hasSuffix(".partial") })
        // A real non-empty folder is refused, with its entries named.
        let busy = dir + "/busy"
        try FileManager.default.createDirectory(atPath: busy, withIntermediateDirectories: true)
        try "x".write(toFile: busy + "/a.txt", atomically: true, encoding: .utf8)
        let refused = try prune(busy, hidden: 96)
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.err.contains("not empty (1 entries: a.txt)"), refused.err)
    }

    func testOutputOnAVirtualFileSystemIsNamed() throws {
        let r = try prune("/proc/prunekit-out", hidden: 96)
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.err.contains("virtual file system"), r.err)
        XCTAssertFalse(r.err.contains("not enough space"), r.err)
    }

    // MARK: - Dry run, options, tokenize

    func testDryRunWithDataComputesNothing() throws {
        let db = dir + "/scores.sqlite"
        let args = ["prune", Fixtures.nemoTiny, dir + "/never", "--data", Fixtures.nemoTiny + "/calib.jsonl", "--samples", "2", "--seq-len", "16",
                    "--db", db, "--hidden-size", "96", "--dry-run", "--quiet"]
        let r = try run(args)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("a dry run does not compute them"), r.err)
        XCTAssertTrue(r.out.contains("hidden_size 128 → 96"), r.out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db), "a dry run must not compute or store scores")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/never"))
        let layers = try run(args + ["--num-layers", "10"])
        XCTAssertEqual(layers.status, 2)
        XCTAssertTrue(layers.err.contains("--dry-run does not compute importance scores"), layers.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db))
    }

    func testNegativeSeqLenIsAValidationError() throws {
        let r = try run(["eval", Fixtures.nemoTiny, "--data", Fixtures.nemoTiny + "/calib.jsonl", "--seq-len", "-5"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.err.contains("--seq-len must be in 1...16777216, got -5"), r.err)
        XCTAssertFalse(r.err.contains("Missing value"), r.err)
    }

    func testDirectoryAsDataIsAnErrorNotATrap() throws {
        for cmd in ["eval", "score"] {
            let r = try run([cmd, Fixtures.nemoTiny, "--data", dir, "--db", dir + "/x.sqlite", "--quiet"].filter { cmd == "score" || ($0 != "--db" && $0 != dir + "/x.sqlite") })
            XCTAssertFalse(r.signaled, r.err)
            XCTAssertEqual(r.status, 2, r.err)
            XCTAssertTrue(r.err.contains("is a directory"), r.err)
        }
    }

    func testTokenizeOutIsReusableAsData() throws {
        let ids = dir + "/ids.jsonl"
        let r = try run(["tokenize", Fixtures.nemoTiny, "--data", Fixtures.nemoTiny + "/calib.jsonl", "--samples", "3", "--seq-len", "16", "--out", ids, "--format", "json"])
        XCTAssertEqual(r.status, 0, r.err)
        let tok = try Tokenizer.load(modelDir: Fixtures.nemoTiny)
        let expected = try CalibrationSet.load(path: Fixtures.nemoTiny + "/calib.jsonl", tokenizer: tok, samples: 3, seqLen: 16)
        let written = try CalibrationSet.load(path: ids, tokenizer: nil)
        XCTAssertEqual(written.samples, expected.samples)
        XCTAssertEqual(written.fingerprint, expected.fingerprint)
        XCTAssertEqual(ls(dir), ["ids.jsonl"], "no temporary file left")
        // An output option never replaces a device or a directory by renaming over it.
        for (target, opt) in [("/dev/null", "--out"), (dir, "--out")] {
            let bad = try run(["tokenize", Fixtures.nemoTiny, "--data", Fixtures.nemoTiny + "/calib.jsonl", "--samples", "1", "--seq-len", "8", opt, target])
            XCTAssertEqual(bad.status, 2, bad.err)
            XCTAssertTrue(bad.err.contains("is not a regular file"), bad.err)
        }
        let logits = try run(["eval", Fixtures.nemoTiny, "--data", ids, "--quiet", "--logits-out", "/dev/null"])
        XCTAssertEqual(logits.status, 2, logits.err)
        var st = stat()
        XCTAssertEqual(stat("/dev/null", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFCHR, "/dev/null is still a device")
        let e = try run(["eval", Fixtures.nemoTiny, "--data", ids, "--quiet", "--format", "json"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.contains(expected.fingerprint), e.out)
    }

    /// Output files never replace an input: `eval --logits-out` and `tokenize --out` refuse the model's own files
    /// (weights, config), anything inside the model folder and the data file, and an existing file without --force;
    /// the inputs are left byte for byte.
    func testOutputFilesNeverReplaceInputs() throws {
        let model = dir + "/model"
        try FileManager.default.copyItem(atPath: Fixtures.nemoTiny, toPath: model)
        let before = try ls(model).map { ($0, try Data(contentsOf: URL(fileURLWithPath: model + "/" + $0))) }
        let data = model + "/heldout.jsonl"
        for target in [model + "/model.safetensors", model + "/config.json", data, model + "/new.safetensors"] {
            let e = try run(["eval", model, "--data", data, "--samples", "1", "--seq-len", "8", "--quiet", "--logits-out", target, "--force"])
            XCTAssertEqual(e.status, 2, "\(target): \(e.err)")
            XCTAssertTrue(e.err.contains("--logits-out") && e.err.contains(target), e.err)
            let t = try run(["tokenize", model, "--data", data, "--samples", "1", "--seq-len", "8", "--out", target, "--force"])
            XCTAssertEqual(t.status, 2, "\(target): \(t.err)")
            XCTAssertTrue(t.err.contains("--out") && t.err.contains(target), t.err)
        }
        for (name, content) in before {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: model + "/" + name)), content, "\(name) was modified")
        }
        XCTAssertEqual(try ls(model), before.map(\.0), "files appeared in the model folder")
        // An existing file elsewhere is replaced only with --force.
        let out = dir + "/logits.safetensors"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: out))
        let refused = try run(["eval", model, "--data", data, "--samples", "1", "--seq-len", "8", "--quiet", "--logits-out", out])
        XCTAssertEqual(refused.status, 2, refused.err)
        XCTAssertTrue(refused.err.contains("already exists") && refused.err.contains("--force"), refused.err)
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "keep")
        let replaced = try run(["eval", model, "--data", data, "--samples", "1", "--seq-len", "8", "--quiet", "--logits-out", out, "--force"])
        XCTAssertEqual(replaced.status, 0, replaced.err)
        XCTAssertNoThrow(try SafetensorsFile(path: out))
    }

    /// A FIFO named like a weights file is refused at once (opening it must not wait for a writer).
    func testFIFOWeightsFileIsRefusedWithoutBlocking() throws {
        let fifo = dir + "/model.safetensors"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let done = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var error: Error? }
        let box = Box()
        Thread.detachNewThread {
            do { _ = try SafetensorsFile(path: fifo) } catch { box.error = error }
            done.signal()
        }
        guard done.wait(timeout: .now() + 20) == .success else { return XCTFail("opening a FIFO blocked") }
        let e = try XCTUnwrap(box.error)
        XCTAssertTrue("\(e)".contains(fifo) && "\(e)".contains("not a regular file"), "\(e)")
        // The same for a FIFO given as the study database (read-only commands opened it and waited forever).
        let dbFifo = dir + "/studies.sqlite"
        XCTAssertEqual(mkfifo(dbFifo, 0o644), 0)
        for mode in [StoreMode.readOnly, .readWrite] {
            XCTAssertThrowsError(try SQLiteStudyStore(path: dbFifo, mode: mode)) { e in
                XCTAssertTrue("\(e)".contains(dbFifo) && "\(e)".contains("not a regular file"), "\(e)")
            }
        }
    }

    /// Progress reaches a redirected stderr as plain lines (the interval from PRUNEKIT_PROGRESS_INTERVAL), and
    /// `--quiet` silences it; `--per-sample` prints one row per sample.
    func testEvalProgressLinesInALogAndPerSampleTable() throws {
        let args = ["eval", Fixtures.nemoTiny, "--data", Fixtures.nemoTiny + "/calib-ids.jsonl", "--samples", "3", "--seq-len", "16"]
        let r = try run(args + ["--per-sample"], env: ["PRUNEKIT_PROGRESS_INTERVAL": "0.001"])
        XCTAssertEqual(r.status, 0, r.err)
        let lines = r.err.split(separator: "\n").filter { $0.hasPrefix("eval: ") }
        XCTAssertGreaterThanOrEqual(lines.count, 2, r.err)
        XCTAssertTrue(lines.last!.hasPrefix("eval: 48/48 tokens (100%), "), r.err)
        XCTAssertTrue(lines.last!.contains("tokens/s"), r.err)
        XCTAssertFalse(r.err.contains("\r"), "no bar when stderr is not a terminal")
        XCTAssertTrue(r.out.contains("± "), r.out)
        XCTAssertEqual(r.out.split(separator: "\n").filter { $0.hasPrefix("0 ") || $0.hasPrefix("1 ") || $0.hasPrefix("2 ") }.count, 3, r.out)
        let q = try run(args + ["--quiet"], env: ["PRUNEKIT_PROGRESS_INTERVAL": "0.001"])
        XCTAssertEqual(q.err, "")
    }

    /// `prune --format json` of a real export prints one JSON object (where it went, sizes, files) on stdout.
    func testPruneExportFormatJSON() throws {
        let dir = Fixtures.tempDir("cli-prune-json"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(["prune", Fixtures.nemoTiny, dir + "/out", "--hidden-size", "32", "--random-seed", "1", "--quiet", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.err)
        let j = try JSONParser().parse(r.out)
        XCTAssertEqual(j["output_dir"]?.stringValue, dir + "/out")
        XCTAssertEqual(j["target"]?["hidden_size"]?.intValue, 32)
        XCTAssertGreaterThan(j["weight_files"]?.intValue ?? 0, 0)
        XCTAssertGreaterThan(j["weight_bytes"]?.intValue ?? 0, 0)
        XCTAssertLessThan(j["parameters"]?["target"]?.intValue ?? .max, j["parameters"]?["source"]?.intValue ?? 0)
    }

    /// A NaN in the `--reference` model of `eval` is an error naming the reference and the layer (exit 2), as
    /// for the model evaluated, never a null KL.
    func testEvalReferenceWithNaNIsAnError() throws {
        let dir = Fixtures.tempDir("cli-eval-nan-ref"); defer { try? FileManager.default.removeItem(atPath: dir) }
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] where FileManager.default.fileExists(atPath: Fixtures.nemoTiny + "/" + f) {
            try FileManager.default.copyItem(atPath: Fixtures.nemoTiny + "/" + f, toPath: dir + "/" + f)
        }
        try writeSafetensors(path: dir + "/model.safetensors", tensors: try folder.config.expectedTensors().map { t in
            var v = try folder.floats(t.name)
            if t.name == "backbone.layers.2.mixer.in_proj.weight" { v[5] = .nan }
            return (t.name, DType.F32, t.shape, v)
        })
        let r = try run(["eval", Fixtures.nemoTiny, "--data", Fixtures.nemoTiny + "/calib-ids.jsonl", "--samples", "2", "--reference", dir, "--quiet"])
        XCTAssertEqual(r.status, 2, r.out + r.err)
        XCTAssertTrue(r.err.contains("--reference \(dir)") && r.err.contains("layer 2"), r.err)
    }
}
