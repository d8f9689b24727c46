import Foundation
import PruneKit
#if canImport(Glibc)
import Glibc
#endif

/// `inspect` reads only headers, so its time must not grow with the weights: time it on a ~2 GB synthetic
/// checkpoint (real Nano-12B-v2 widths, a few layers, BF16, 3 shards) against the 5 MB fixture.
///
/// The synthetic shards get valid headers (from the same plan and header code CheckpointWriter uses) and
/// zero data made with ftruncate, i.e. sparse files: writing 2 GB of real values would take minutes on
/// this machine and measure the disk, not inspect.
func benchInspect() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let fixture = root.appendingPathComponent("Tests/Fixtures/nemo-tiny").path

    let big = NSTemporaryDirectory() + "prunekit-bench-inspect-\(UUID().uuidString.prefix(8))"
    defer { try? FileManager.default.removeItem(atPath: big) }
    let t0 = Date()
    let bytes = try makeSparseCheckpoint(at: big)
    print(String(format: "  synthetic checkpoint: %.2f GB in %d shards (sparse, built in %.2f s)",
                 Double(bytes) / 1e9, try ModelFolder(path: big).files.count, Date().timeIntervalSince(t0)))

    let runs = 7
    let tFixture = try medianSeconds(runs) { _ = try InspectReport.make(path: fixture) }
    let tBig = try medianSeconds(runs) { _ = try InspectReport.make(path: big) }
    let r = try InspectReport.make(path: big)
    precondition(r.tensorParameters == r.formulaParameters, "synthetic checkpoint disagrees with its config")
    let fixtureBytes = (try ModelFolder(path: fixture).bytesPerDType.values.reduce(0, +))
    print(String(format: "  inspect nemo-tiny (%.1f MB):      median %.2f ms of %d runs", Double(fixtureBytes) / 1e6, tFixture * 1000, runs))
    print(String(format: "  inspect synthetic-12B-widths (%.2f GB): median %.2f ms of %d runs", Double(bytes) / 1e9, tBig * 1000, runs))
    print(String(format: "  ratio %.2fx for %.0fx the weight bytes (headers only, so ≈ flat)", tBig / tFixture, Double(bytes) / Double(fixtureBytes)))
}

private func medianSeconds(_ runs: Int, _ body: () throws -> Void) throws -> Double {
    try body() // warm-up
    var times = [Double]()
    for _ in 0..<runs {
        let t = Date()
        try body()
        times.append(Date().timeIntervalSince(t))
    }
    return times.sorted()[runs / 2]
}

/// Nano-12B-v2 widths (H 5120, F 20480, 40/8 heads × 128, Mamba 128 × 80, N 128, G 8), layers `M*-`,
/// vocab 65536 to land near 2 GB. Returns the tensor bytes.
private func makeSparseCheckpoint(at dir: String) throws -> Int {
    let config = NemotronHConfig(pattern: "M*-", hiddenSize: 5120, ffnHiddenSize: 20480, numAttentionHeads: 40, numKeyValueHeads: 8,
                                 headDim: 128, mambaNumHeads: 128, mambaHeadDim: 80, ssmStateSize: 128, nGroups: 8, convKernel: 4,
                                 vocabSize: 65536)
    let entries = config.expectedTensors().map { SafetensorsStreamWriter.Entry(name: $0.name, dtype: .BF16, shape: $0.shape) }
    let writer = CheckpointWriter(outputDir: dir, maxShardBytes: 1_000_000_000, dtype: .BF16)
    let plan = writer.dryRunPlan(tensors: entries)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for shard in plan.shards {
        let header = SafetensorsStreamWriter.header(entries: shard.entries)
        let n = UInt64(header.count)
        let prefix: [UInt8] = (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) }
        let path = (dir as NSString).appendingPathComponent(shard.fileName)
        guard FileManager.default.createFile(atPath: path, contents: Data(prefix + header)) else {
            throw CheckpointError.write(path: path, message: "cannot create")
        }
        guard truncate(path, off_t(8 + header.count + shard.dataBytes)) == 0 else {
            throw CheckpointError.write(path: path, message: "ftruncate failed: \(String(cString: strerror(errno)))")
        }
    }
    try JSONWriter(indent: 2).string(config.updatedJSON()).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
    if plan.isSharded {
        try JSONWriter(indent: 2).string(plan.indexJSON).write(toFile: dir + "/" + ModelFolder.indexName, atomically: true, encoding: .utf8)
    }
    return plan.totalBytes
}
