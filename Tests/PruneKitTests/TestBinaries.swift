import Foundation

/// Executables of this build, for tests that run the command-line tool.
enum TestBinaries {
    /// `prunekit` beside the test bundle (the same build configuration and sanitizer as the tests; the xctest
    /// runner gets the bundle's path, …/.build/<config>/PruneKitPackageTests.xctest, as an argument), else
    /// .build/release/prunekit, else nil.
    static var prunekit: String? {
        let beside = (CommandLine.arguments + Bundle.allBundles.map(\.bundlePath)).filter { $0.hasSuffix(".xctest") }
            .map { (($0 as NSString).deletingLastPathComponent as NSString).appendingPathComponent("prunekit") }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (beside + [root.appendingPathComponent(".build/release/prunekit").path]).first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

extension TestBinaries {
    /// Whether this process runs under AddressSanitizer or ThreadSanitizer (`make sanitize`), where code runs
    /// several times slower: loose speed bounds in tests are scaled by ``sanitizerSlowdown``.
    static let underSanitizer: Bool = {
        guard let handle = dlopen(nil, RTLD_NOW) else { return false }
        defer { dlclose(handle) }
        return dlsym(handle, "__tsan_init") != nil || dlsym(handle, "__asan_init") != nil
    }()
    static var sanitizerSlowdown: Double { underSanitizer ? 20 : 1 }
}
