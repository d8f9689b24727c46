import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file that could not be read or written: the path and what went wrong, in words (no Foundation error dump).
public struct FileAccessError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public var description: String { "\(path): \(message)" }
}

/// Words for an errno of a failed write: the full disk, the read-only file system and the missing folder are
/// named as such.
private func describeErrno(_ e: Int32) -> String {
    switch e {
    case ENOSPC, EDQUOT: return "no space left on the device (the disk or quota is full)"
    case EROFS: return "the file system is read-only"
    case ENOENT: return "the folder does not exist"
    case EACCES, EPERM: return "permission denied"
    case EISDIR: return "is a directory"
    default: return String(cString: strerror(e))
    }
}

/// The bytes of the regular file `path` (a directory, FIFO or device is refused without blocking).
/// - Throws: ``FileAccessError`` saying why.
public func readRegularFile(_ path: String) throws -> Data {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { throw FileAccessError(path: path, message: "cannot open: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw FileAccessError(path: path, message: "cannot stat: \(String(cString: strerror(errno)))") }
    switch st.st_mode & S_IFMT {
    case S_IFREG: break
    case S_IFDIR: throw FileAccessError(path: path, message: "is a directory; a file is expected")
    default: throw FileAccessError(path: path, message: "is not a regular file (a FIFO, device or socket)")
    }
    var data = Data(count: Int(st.st_size))
    var got = 0
    while got < data.count {
        let r = data.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, $0.count - got) }
        if r < 0 && errno == EINTR { continue }
        guard r > 0 else { throw FileAccessError(path: path, message: r == 0 ? "the file shrank while it was read" : "cannot read: \(String(cString: strerror(errno)))") }
        got += r
    }
    return data
}

/// Writes `data` to `path` through a hidden `.NAME.partial` beside it, flushed and renamed over `path` when
/// complete, so `path` is never a partial file. An existing directory, FIFO or device at `path` is refused.
/// - Throws: ``FileAccessError`` naming the full disk, read-only file system or missing folder; the temporary
///   file is removed.
public func writeFileAtomically(_ data: Data, to path: String) throws {
    var st = stat()
    if stat(path, &st) == 0, st.st_mode & S_IFMT != S_IFREG {
        throw FileAccessError(path: path, message: "exists and is not a regular file (a \(st.st_mode & S_IFMT == S_IFDIR ? "directory" : "FIFO, device or socket")); give a file path")
    }
    let dir = (path as NSString).deletingLastPathComponent, name = (path as NSString).lastPathComponent
    let tmp = (dir.isEmpty ? "" : dir + "/") + "." + name + ".partial"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FileAccessError(path: path, message: "cannot create \(tmp): \(describeErrno(errno))") }
    var failure: Int32 = 0
    data.withUnsafeBytes { b in
        var done = 0
        while done < b.count {
            let r = write(fd, b.baseAddress! + done, b.count - done)
            if r < 0 { if errno == EINTR { continue }; failure = errno; return }
            done += r
        }
    }
    if failure == 0 && fsync(fd) != 0 { failure = errno }
    close(fd)
    if failure == 0 && rename(tmp, path) != 0 { failure = errno }
    if failure != 0 {
        unlink(tmp)
        throw FileAccessError(path: path, message: "cannot write: \(describeErrno(failure))")
    }
}
