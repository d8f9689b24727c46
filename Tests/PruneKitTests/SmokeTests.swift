import XCTest
import PruneKit
final class SmokeTests: XCTestCase { func testVersion() { XCTAssertFalse(PruneKitVersion.string.isEmpty) } }
