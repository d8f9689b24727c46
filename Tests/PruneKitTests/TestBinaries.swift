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

/// What a finished child process left: its exit status (or the signal number when `signaled`), stdout and stderr.
struct ProcessResult {
    var status: Int32
    /// The process was ended by a signal (`status` is then the signal number).
    var signaled: Bool
    var out: String
    var err: String
}

extension TestBinaries {
    /// Runs `executable` with `args` and waits for it, capturing stdout and stderr (read concurrently, so a child
    /// that fills one pipe while the other is being drained cannot deadlock). The child gets this process's
    /// environment with `env` laid over it, the working directory `cwd` (default: this process's), and /dev/null
    /// as its standard input. Throws what `Process.run()` throws when it cannot start.
    static func run(_ executable: String, _ args: [String], env: [String: String] = [:], cwd: String? = nil) throws -> ProcessResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = FileHandle.nullDevice
        try p.run()
        let group = DispatchGroup()
        final class Box: @unchecked Sendable { var data = Data() }   // written by the reader, read after group.wait()
        let errData = Box()
        DispatchQueue.global().async(group: group) { errData.data = err.fileHandleForReading.readDataToEndOfFile() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return ProcessResult(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal,
                             out: String(decoding: outData, as: UTF8.self), err: String(decoding: errData.data, as: UTF8.self))
    }
}

extension TestBinaries {
    /// Starts `executable` with `args` in the background and returns it running (the caller waits for or signals
    /// it): this process's environment with `env` laid over it, stdin /dev/null, stdout and stderr written to the
    /// files `stdout` and `stderr` (created empty, or truncated). Throws what `Process.run()` throws.
    static func start(_ executable: String, _ args: [String], env: [String: String] = [:], stdout: String, stderr: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        for path in [stdout, stderr] { FileManager.default.createFile(atPath: path, contents: nil) }
        p.standardOutput = FileHandle(forWritingAtPath: stdout)
        p.standardError = FileHandle(forWritingAtPath: stderr)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }
}
