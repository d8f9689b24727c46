import Foundation
import PruneKit

/// Placeholder until the checkpoint benchmark lands: times `inspect` on the fixture.
func benchInspect() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let fixture = root.appendingPathComponent("Tests/Fixtures/nemo-tiny").path
    let t0 = Date()
    _ = try InspectReport.make(path: fixture)
    print(String(format: "  inspect nemo-tiny: %.2f ms", Date().timeIntervalSince(t0) * 1000))
}
