// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "PruneKit",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "PruneKit", targets: ["PruneKit"]),
        .library(name: "PruneKitPostgres", targets: ["PruneKitPostgres"]),
        .executable(name: "prunekit", targets: ["prunekit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // OpenBLAS through pkg-config `openblas` (not `blas`, which may bind the slow reference BLAS).
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "PruneKit",
            dependencies: [
                "CBLAS",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Cost/hardware.json")]
        ),
        // The PostgreSQL store backend (postgres-nio, SwiftNIO, BoringSSL): its own module so that what needs only
        // PruneKit (the fuzzers in Tests/Fuzz, SQLite-only users) never builds it. Programs register it at startup.
        .target(
            name: "PruneKitPostgres",
            dependencies: [
                "PruneKit",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .executableTarget(
            name: "prunekit",
            dependencies: [
                "PruneKit",
                "PruneKitPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "PruneKitBench",
            dependencies: ["PruneKit"],
            path: "Sources/PruneKitBench"
        ),
        .testTarget(
            name: "PruneKitTests",
            dependencies: ["PruneKit", "PruneKitPostgres", .product(name: "Yams", package: "Yams"), .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
    ]
)
