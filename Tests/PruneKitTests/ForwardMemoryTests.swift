import XCTest
import PruneKit

/// Streaming weights: `prunekit eval` on a checkpoint with the real Nano-12B-v2 widths (4 layers, bf16,
/// 2.9 GB of weights, sparse zeros) stays within the promised bound: the weight-cache budget plus one
/// layer's fp32 weights, one lm_head chunk (256 MiB) and activations.
final class ForwardMemoryTests: XCTestCase {
    func testEvalPeakMemoryOn12BShapedCheckpointIsBounded() throws {
        let bin = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/release/prunekit").path
        guard FileManager.default.isExecutableFile(atPath: bin) else { throw XCTSkip("\(bin) not built (run `make test`)") }
        let dir = Fixtures.tempDir("prunekit-12b-shaped")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cfg = SyntheticCheckpoint.nano12BShaped(pattern: "M*-M")
        let bytes = try SyntheticCheckpoint.writeSparse(config: cfg, dir: dir)
        let ids = dir + "/ids.jsonl"
        try "{\"input_ids\": [\((0..<64).map { String($0 * 997 % 131072) }.joined(separator: ", "))]}\n".write(toFile: ids, atomically: true, encoding: .utf8)
        let r = try TestBinaries.run(bin, ["eval", dir, "--data", ids, "--format", "json", "--weight-cache-gib", "0.5"])
        XCTAssertEqual(r.status, 0, r.err)
        let json = try JSONParser().parse(r.out)
        let peak = json["peak_resident_bytes"]!.intValue!
        // Largest layer in fp32: a Mamba layer's tensors.
        let mambaLayer = cfg.parameterCount(.mamba) * 4
        let bound = (1 << 29) + mambaLayer + (256 << 20) + (512 << 20)  // budget + layer + lm_head chunk + activations/runtime
        print(String(format: "12B-shaped eval: weights %.2f GB (bf16) → peak RSS %.0f MiB; bound %.0f MiB (budget 512 MiB + Mamba layer fp32 %.0f MiB + lm_head chunk 256 MiB + 512 MiB)",
                     Double(bytes) / 1e9, Double(peak) / 1_048_576, Double(bound) / 1_048_576, Double(mambaLayer) / 1_048_576))
        XCTAssertLessThan(peak, bound)
        XCTAssertLessThan(peak, bytes / 2, "peak memory should be far below the checkpoint size")
    }
}
