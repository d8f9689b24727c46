import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The identity of a worker process: host, pid and a per-run token.
public struct WorkerIdentity: Sendable, Equatable {
    public var host: String
    public var pid: Int
    /// Distinguishes workers in one process (threads) and runs reusing a pid.
    public var token: String
    public var id: String { "\(host):\(pid):\(token)" }

    public init(host: String, pid: Int, token: String) { self.host = host; self.pid = pid; self.token = token }

    /// This process. The host is `PRUNEKIT_WORKER_HOST` when set (for machines that report the same host name, e.g.
    /// containers: a RUNNING trial of a dead worker on *this* host is retried at once, one of another host after its
    /// lease), else the machine's host name.
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> WorkerIdentity {
        let host = environment["PRUNEKIT_WORKER_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? ProcessInfo.processInfo.hostName
        return WorkerIdentity(host: host, pid: Int(ProcessInfo.processInfo.processIdentifier), token: String(UUID().uuidString.prefix(8)).lowercased())
    }

    /// Whether process `pid` exists on this host and is not a zombie.
    public static func isAlive(pid: Int) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid_t(pid), 0) != 0 && errno == ESRCH { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let rest = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces)
            if rest.hasPrefix("Z") || rest.hasPrefix("X") { return false }
        }
        return true
    }
}
