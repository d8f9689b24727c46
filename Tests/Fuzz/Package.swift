// swift-tools-version:6.0
// libFuzzer targets for PruneKit's parsers. A separate package so that the fuzzer and address-sanitizer
// flags (passed with -Xswiftc by the Makefile) never reach the normal build. See README.md.
import Foundation
import PackageDescription

// The root package is referenced by path; its identity is the name of the folder it was cloned into.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let rootIdentity = root.lastPathComponent.lowercased()

let fuzzTargets = ["FuzzJSON", "FuzzSafetensorsHeader", "FuzzShardIndex", "FuzzConfig", "FuzzTokenizer",
                   "FuzzCalibration", "FuzzRecipe"]

let package = Package(
    name: "PruneKitFuzz",
    platforms: [.macOS(.v13)],
    products: fuzzTargets.map { .executable(name: $0, targets: [$0]) },
    dependencies: [.package(path: root.path)],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "PruneKit", package: rootIdentity)],
                path: "Targets/FuzzSupport"),
    ] + fuzzTargets.map {
        .executableTarget(name: $0, dependencies: ["FuzzSupport", .product(name: "PruneKit", package: rootIdentity)],
                          path: "Targets/\($0)")
    }
)
