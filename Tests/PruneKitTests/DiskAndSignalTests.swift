import XCTest
import PruneKit
#if canImport(Glibc)
import Glibc
#endif

/// A full disk (ENOSPC on a small tmpfs the test mounts; skipped where mounting is not permitted) and
/// SIGINT / SIGTERM during an export: a clear error or a killed process, never a folder or database that looks
/// complete but is not, and a rerun of the same command completes.
final class DiskAndSignalTests: XCTestCase {
    var cleanup = [() -> Void]()
    override func tearDown() { for c in cleanup.reversed() { c() }; cleanup = [] }

    // MARK: - Helpers

    /// Mounts a tmpfs of `bytes` at a fresh folder (unmounted in tearDown), or skips the test with the reason.
    func smallDisk(_ bytes: Int) throws -> String {
        let dir = Fixtures.tempDir("prunekit-enospc")
        cleanup.append { try? FileManager.default.removeItem(atPath: dir) }
        let (status, err) = Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", dir])
        guard status == 0 else {
            throw XCTSkip("cannot mount a \(bytes)-byte tmpfs to provoke ENOSPC (needs root and mount permission): \(err)")
        }
        cleanup.append { _ = Self.run("/bin/umount", ["-l", dir]) }
        return dir
    }

    @discardableResult
    static func run(_ exe: String, _ args: [String]) -> (Int32, String) {
        do {
            let r = try TestBinaries.run(exe, args)
            return (r.status, r.err.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch { return (-1, "\(error)") }
    }

    /// Fills the file system holding `dir` until at most `leave` bytes are free; returns the filler's path.
    @discardableResult
    func fill(_ dir: String, leaving leave: Int) throws -> String {
        let path = dir + "/filler"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw XCTSkip("cannot create the filler file") }
        defer { close(fd) }
        let block = [UInt8](repeating: 0xAB, count: 4096)
        while freeBytes(dir) > leave {
            if write(fd, block, block.count) <= 0 { break }
        }
        return path
    }

    func freeBytes(_ dir: String) -> Int {
        var st = statvfs()
        guard statvfs(dir, &st) == 0 else { return 0 }
        return Int(st.f_bavail) * Int(st.f_frsize)
    }

    /// Files of `dir` that are not hidden temporary names (recursively empty when nothing was left).
    func visibleEntries(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    static var prunekit: String? { TestBinaries.prunekit }

    // MARK: - Export on a full disk

    /// The disk fills while the weights are being written (after the free-space check passed): a write error
    /// that names the file and says the disk is full, and no file left; once space is freed, the same write
    /// completes and the folder opens strictly.
    func testExportENOSPCMidWriteLeavesNothingAndRerunCompletes() throws {
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let entries = folder.config.expectedTensors().map { CheckpointWriter.Entry(name: $0.name, dtype: .BF16, shape: $0.shape) }
        let bytes = entries.reduce(0) { $0 + $1.byteCount }
        let disk = try smallDisk(bytes + (1 << 20))
        let out = disk + "/pruned"
        var filler: String?
        let writer = CheckpointWriter(outputDir: out, sourceDir: Fixtures.nemoTiny, maxShardBytes: bytes / 3)
        XCTAssertThrowsError(try writer.write(config: folder.config, tensors: entries, chunkElements: 1 << 16) { e, from, count, dst in
            // Past the free-space check: take all the space that is left, so the next write hits ENOSPC.
            if filler == nil { filler = try self.fill(disk, leaving: 0) }
            try folder.read(e.name, into: dst, from: from, count: count)
        }) { e in
            XCTAssertTrue(e is CheckpointError, "\(type(of: e)): \(e)")
            let m = String(describing: e)
            // The weights are written in a staging folder beside the output and moved in place when complete.
            XCTAssertTrue(m.contains(CheckpointWriter.stagingPath(out)) && m.contains(".safetensors"), "the error names the file: \(m)")
            XCTAssertTrue(m.lowercased().contains("no space") || m.contains("full"), "the error says the disk is full: \(m)")
        }
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [], [], "files left after ENOSPC")
        XCTAssertFalse(FileManager.default.fileExists(atPath: CheckpointWriter.stagingPath(out)), "staging folder left after ENOSPC")
        XCTAssertThrowsError(try ModelFolder(path: out))

        try FileManager.default.removeItem(atPath: XCTUnwrap(filler))
        try writer.write(config: folder.config, tensors: entries, chunkElements: 1 << 16) { e, from, count, dst in
            try folder.read(e.name, into: dst, from: from, count: count)
        }
        let written = try ModelFolder(path: out, strict: true)
        XCTAssertEqual(written.config, folder.config)
        XCTAssertEqual(visibleEntries(out).filter { $0.hasSuffix(".partial") }, [])
        XCTAssertTrue(((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).allSatisfy { !$0.hasSuffix(".partial") })
    }

    /// `prunekit prune` into a folder on a disk too small for the weights: refused before writing, with the
    /// sizes in the message, exit status non-zero, nothing created.
    func testPruneCommandOnFullDiskRefusesAndLeavesNothing() throws {
        guard let exe = Self.prunekit else { throw XCTSkip("prunekit is not built next to the tests") }
        let disk = try smallDisk(256 << 10)
        let out = disk + "/pruned"
        let (status, err) = Self.run(exe, ["prune", Fixtures.nemoTiny, out, "--hidden-size", "96", "--random-seed", "1"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("not enough space") && err.contains(out), err)
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: disk)) ?? [], [], "left on the full disk")
    }

    /// `prunekit eval --logits-out` (the teacher logits for distillation) on a disk that fills midway: a
    /// clear error, neither the file nor its temporary name left; with space, the same command writes it.
    func testEvalLogitsOutOnFullDiskLeavesNothingAndRerunCompletes() throws {
        guard let exe = Self.prunekit else { throw XCTSkip("prunekit is not built next to the tests") }
        let disk = try smallDisk(512 << 10) // the logits need 4 × 64 × 1024 × 4 B = 1 MiB
        let out = disk + "/teacher.safetensors"
        let args = ["eval", Fixtures.nemoTiny, "--data", Fixtures.nemoTiny + "/calib.jsonl", "--samples", "4", "--seq-len", "64",
                    "--logits-out", out]
        let (status, err) = Self.run(exe, args)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("full") || err.lowercased().contains("no space"), err)
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: disk)) ?? [], [], "left on the full disk")

        let roomy = Fixtures.tempDir("prunekit-logits")
        cleanup.append { try? FileManager.default.removeItem(atPath: roomy) }
        let (again, err2) = Self.run(exe, Array(args.dropLast()) + [roomy + "/teacher.safetensors"])
        XCTAssertEqual(again, 0, err2)
        let f = try SafetensorsFile(path: roomy + "/teacher.safetensors")
        XCTAssertEqual(try f.info("logits").shape, [4, 64, 1024])
    }

    // MARK: - Store on a full disk

    /// Scores saved until SQLite reports the disk full: the failing save throws StoreError (no crash), every
    /// earlier save is intact, the database passes SQLite's integrity check, and after space is freed the
    /// same save succeeds and a fresh process view (a new connection pool) reads it.
    func testStoreENOSPCKeepsEarlierRowsAndRecovers() throws {
        let disk = try smallDisk(2 << 20)
        let path = disk + "/s.sqlite"
        let store = try SQLiteStudyStore(path: path)
        func key(_ k: Int) -> ScoreKey { ScoreKey(checkpointFingerprint: "ckpt-\(k)", calibrationFingerprint: calibration.fingerprint, optionsKey: "o") }
        func save(_ k: Int) throws {
            try store.saveScores(ScoreSet(key: key(k), checkpointPath: "/m", calibrationSource: calibration.source, samples: 1, tokens: 4,
                                          scores: scores(k), seconds: 1, layerEvaluations: 0))
        }
        let calibration = CalibrationSet(samples: [[1, 2, 3, 4]], source: "calib.jsonl")
        func scores(_ k: Int) -> ImportanceScores {
            // ~80 KB of JSON per row, distinct per k.
            ImportanceScores(hidden: (0..<8000).map { Float($0 &* 31 &+ k) / 7 }, ffn: [:], attentionHeads: [:], mambaChannels: [:],
                             mambaHeadDim: [:], mambaHeads: [:], blockInfluence: nil, layerRanking: nil)
        }
        let filler = try fill(disk, leaving: 600 << 10)
        var saved = 0
        var failure: Error?
        for k in 0..<100 {
            do {
                try save(k)
                saved += 1
            } catch { failure = error; break }
        }
        let e = try XCTUnwrap(failure, "the disk never filled")
        XCTAssertTrue(e is StoreError, "\(type(of: e)): \(e)")
        XCTAssertTrue(String(describing: e).contains(path), "\(e)")
        XCTAssertGreaterThan(saved, 0)
        for k in 0..<saved {
            XCTAssertEqual(try store.scores(key(k))?.scores.hidden, scores(k).hidden)
        }
        XCTAssertNil(try? store.scores(key(saved)) ?? nil,
                     "the failed save left a row")

        try FileManager.default.removeItem(atPath: filler)
        try save(saved)
        let reopened = try SQLiteStudyStore(path: path, mode: .readOnly)
        let check = try reopened.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
        XCTAssertEqual(check, "ok")
        XCTAssertEqual(try reopened.scores(key(saved))?.scores.hidden, scores(saved).hidden)
    }

    // MARK: - Two writers of one folder

    /// A second writer of the same output folder while the first holds its lock (two `prune` runs at once) is
    /// refused with a message naming the folder, and touches neither the first one's staging folder nor the
    /// existing export; once the lock is released the write completes.
    func testSecondWriterOfTheSameFolderIsRefused() throws {
        let dir = Fixtures.tempDir("prunekit-lock")
        cleanup.append { try? FileManager.default.removeItem(atPath: dir) }
        let folder = try ModelFolder(path: Fixtures.nemoTiny)
        let entries = folder.config.expectedTensors().map { CheckpointWriter.Entry(name: $0.name, dtype: .BF16, shape: $0.shape) }
        let out = dir + "/pruned"
        let produce = { (e: CheckpointWriter.Entry, from: Int, count: Int, dst: UnsafeMutablePointer<Float>) throws in
            try folder.read(e.name, into: dst, from: from, count: count)
        }
        try CheckpointWriter(outputDir: out, sourceDir: Fixtures.nemoTiny).write(config: folder.config, tensors: entries, chunkElements: 1 << 16, read: produce)
        let exported = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        // Another process holds the lock and has a staging folder in progress.
        let staging = CheckpointWriter.stagingPath(out)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        try Data("in progress".utf8).write(to: URL(fileURLWithPath: staging + "/model.safetensors"))
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["--exclusive", CheckpointWriter.lockPath(out), "sleep", "30"]
        try holder.run()
        cleanup.append { if holder.isRunning { holder.terminate() } }
        var held = false
        for _ in 0..<200 where !held {
            let fd = open(CheckpointWriter.lockPath(out), O_RDWR)
            if fd >= 0 { held = flock(fd, LOCK_EX | LOCK_NB) != 0; close(fd) }
            if !held { usleep(10_000) }
        }
        XCTAssertTrue(held, "the test could not take the lock")
        let writer = CheckpointWriter(outputDir: out, sourceDir: Fixtures.nemoTiny, force: true)
        XCTAssertThrowsError(try writer.write(config: folder.config, tensors: entries, chunkElements: 1 << 16, read: produce)) { e in
            XCTAssertTrue("\(e)".contains(out) && "\(e)".contains("another process is writing"), "\(e)")
        }
        XCTAssertEqual(try String(contentsOfFile: staging + "/model.safetensors", encoding: .utf8), "in progress", "the other writer's staging folder was touched")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(), exported)
        holder.terminate(); holder.waitUntilExit()
        try FileManager.default.removeItem(atPath: staging)
        try writer.write(config: folder.config, tensors: entries, chunkElements: 1 << 16, read: produce)
        XCTAssertNoThrow(try ModelFolder(path: out, strict: true))
        XCTAssertFalse(FileManager.default.fileExists(atPath: CheckpointWriter.lockPath(out)), "the lock file is removed when the write ends")
    }

    // MARK: - Signals during an export

    /// SIGINT, then SIGTERM, while `prunekit prune` writes the weights of a 150 MB model: the process dies,
    /// nothing in or beside the output folder looks like a model (only hidden temporary names may be left),
    /// and rerunning the same command (no --force) completes with a folder that opens strictly.
    func testPruneInterruptedBySignalThenRerunCompletes() throws {
        guard let exe = Self.prunekit else { throw XCTSkip("prunekit is not built next to the tests") }
        let dir = Fixtures.tempDir("prunekit-signal")
        cleanup.append { try? FileManager.default.removeItem(atPath: dir) }
        let src = dir + "/src"
        // A sparse bf16 source (zeros, written instantly) whose pruned output is ~100 MB.
        let config = NemotronHConfig(pattern: "M*-M-", hiddenSize: 1024, ffnHiddenSize: 4096, numAttentionHeads: 8, numKeyValueHeads: 2,
                                     headDim: 128, mambaNumHeads: 32, mambaHeadDim: 64, ssmStateSize: 64, nGroups: 4, vocabSize: 49152)
        try SyntheticCheckpoint.writeSparse(config: config, dir: src)
        for (k, sig) in [SIGINT, SIGTERM].enumerated() {
            let out = dir + "/out\(k)"
            let args = ["prune", src, out, "--hidden-size", "768", "--random-seed", "1", "--max-shard-size", "20MB"]
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args
            p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
            try p.run()
            var signalled = false
            let deadline = Date().addingTimeInterval(120)
            while p.isRunning && Date() < deadline {
                // Weights are written in a hidden staging folder beside the output, moved in place when complete.
                let names = (try? FileManager.default.contentsOfDirectory(atPath: CheckpointWriter.stagingPath(out))) ?? []
                if names.contains(where: { $0.hasSuffix(".safetensors") }) {
                    kill(p.processIdentifier, sig); signalled = true; break
                }
                usleep(200)
            }
            p.waitUntilExit()
            XCTAssertTrue(signalled, "signal \(sig): the export finished before it could be interrupted (make the model larger)")
            XCTAssertNotEqual(p.terminationStatus, 0, "signal \(sig): the interrupted run reported success")
            XCTAssertEqual(visibleEntries(out), [], "signal \(sig): files under final names left in the output folder")
            XCTAssertEqual(visibleEntries(dir).filter { $0 != "src" && !$0.hasPrefix("out") }, [], "signal \(sig): files left beside it")
            XCTAssertThrowsError(try ModelFolder(path: out), "signal \(sig): the interrupted output opens as a model")

            let (status, err) = Self.run(exe, args)
            XCTAssertEqual(status, 0, "signal \(sig): the rerun failed: \(err)")
            let written = try ModelFolder(path: out, strict: true)
            XCTAssertEqual(written.config.hiddenSize, 768)
            let left = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
            XCTAssertFalse(left.contains { $0.hasSuffix(".partial") }, "signal \(sig): temporary files left after the rerun: \(left)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: CheckpointWriter.stagingPath(out)), "signal \(sig): staging folder left after the rerun")
        }
    }
}
