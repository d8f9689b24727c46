import Foundation

/// Shared helpers of the fuzz targets: a scratch folder per process and invariant checks that stop the
/// fuzzer with a message (libFuzzer records the input that made them fail).

/// A per-process scratch folder (in /dev/shm when present, so the file-based loaders cost no disk I/O).
public let fuzzScratch: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let dir = (base as NSString).appendingPathComponent("prunekit-fuzz-\(getpid())")
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()) + "/prunekit-fuzz-\(getpid())") }
    return dir
}()

/// Writes `bytes` to `name` inside the scratch folder and returns its path.
public func scratchFile(_ name: String, _ bytes: UnsafeRawBufferPointer) -> String {
    let path = (fuzzScratch as NSString).appendingPathComponent(name)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "cannot create \(path)")
    var off = 0
    while off < bytes.count {
        let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
        precondition(n > 0, "cannot write \(path)")
        off += n
    }
    close(fd)
    return path
}

/// Stops the run when an invariant does not hold (precondition survives -O; the message names the invariant).
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #file, line: UInt = #line) {
    if !condition() {
        FileHandle.standardError.write(Data("INVARIANT FAILED: \(message())\n".utf8))
        fatalError(message(), file: file, line: line)
    }
}

/// Fails unless `error` is one of the typed errors the API documents.
public func expectTyped(_ error: Error, _ types: [Any.Type], _ what: String) {
    invariant(types.contains { type(of: error) == $0 }, "\(what) threw an undocumented error type \(type(of: error)): \(error)")
    // Every message must be printable (the CLI prints it) and non-empty.
    invariant(!"\(error)".isEmpty, "\(what) threw an error with an empty message")
}

/// The fixtures folder of the repository (Tests/Fixtures), found from this source file or PRUNEKIT_FIXTURES.
public let fixturesDir: String = {
    if let env = ProcessInfo.processInfo.environment["PRUNEKIT_FIXTURES"] { return env }
    // #filePath: Tests/Fuzz/Targets/FuzzSupport/FuzzSupport.swift
    var u = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { u.deleteLastPathComponent() }
    return u.appendingPathComponent("Fixtures").path
}()

/// libFuzzer's entry point (compiler-rt FuzzerDriver.cpp).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

/// Runs libFuzzer on `callback`. SwiftPM links an executable target with `main` defined as `<Module>_main`,
/// which replaces libFuzzer's own `main`, so each target defines that symbol and calls this.
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                      _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v, callback)
}
