import Foundation
import XCTest
import Yams

/// The cluster launchers (Scripts/cluster) cannot run here; what can be checked is: the shell scripts' syntax
/// (`bash -n`), that the Kubernetes manifest parses as YAML of an Indexed Job with the DB URL from a Secret, and
/// that the worker command line in each is accepted by the real `prunekit` argument parser (`worker --dry-run`).
final class ClusterLaunchersTests: XCTestCase {
    let cluster = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scripts/cluster")

    /// `prunekit <args> --dry-run` through the real parser.
    func assertParses(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        guard let bin = TestBinaries.prunekit else { XCTFail("prunekit not built", file: file, line: line); return }
        let r = try TestBinaries.run(bin, args + ["--dry-run"])
        XCTAssertEqual(r.status, 0, "prunekit \(args.joined(separator: " ")): \(r.err)", file: file, line: line)
        XCTAssertTrue(r.out.hasPrefix("worker: "), r.out, file: file, line: line)
    }

    func testShellScriptsHaveValidSyntax() throws {
        for name in ["slurm-workers.sbatch", "netns-workers.sh"] {
            let r = try TestBinaries.run("/bin/bash", ["-n", cluster.appendingPathComponent(name).path])
            XCTAssertEqual(r.status, 0, "\(name): \(r.err)")
        }
        // The check can fail: a script with an unclosed quote.
        let bad = NSTemporaryDirectory() + "prunekit-bad-\(getpid()).sh"
        try "echo \"unclosed\n".write(toFile: bad, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: bad) }
        XCTAssertNotEqual(try TestBinaries.run("/bin/bash", ["-n", bad]).status, 0)
    }

    func testSlurmWorkerCommandLineParses() throws {
        let text = try String(contentsOf: cluster.appendingPathComponent("slurm-workers.sbatch"), encoding: .utf8)
        let exec = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("exec prunekit worker ") })
        // Expand the script's variables as bash would, printing one argument per line.
        let script = "THREADS=32; SAMPLES=64; SEQ_LEN=1024; " + exec.replacingOccurrences(of: "exec prunekit", with: "printf '%s\\n'")
        let r = try TestBinaries.run("/bin/bash", ["-c", script], env: ["PRUNEKIT_DB": "postgresql://u@db:5432/prunekit", "MODEL": "/models/m", "DATA": "/models/c.jsonl", "JOB": "1"])
        XCTAssertEqual(r.status, 0, r.err)
        let args = r.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(args.first, "worker")
        XCTAssertTrue(text.contains("--dependency=afterok:"), "the submit-then-report sequence uses --dependency")
        try assertParses(args)
        // And a wrong command line is refused by the same parser.
        guard let bin = TestBinaries.prunekit else { return }
        XCTAssertNotEqual(try TestBinaries.run(bin, args + ["--threads", "0", "--dry-run"]).status, 0)
    }

    func testKubernetesManifestParsesAndWorkerCommandLineParses() throws {
        let text = try String(contentsOf: cluster.appendingPathComponent("k8s-workers.yaml"), encoding: .utf8)
        let doc = try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any])
        XCTAssertEqual(doc["kind"] as? String, "Job")
        let spec = try XCTUnwrap(doc["spec"] as? [String: Any])
        XCTAssertEqual(spec["completionMode"] as? String, "Indexed")
        let pod = try XCTUnwrap((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try XCTUnwrap((pod["containers"] as? [[String: Any]])?.first)
        let env = try XCTUnwrap(container["env"] as? [[String: Any]])
        let db = try XCTUnwrap(env.first { $0["name"] as? String == "PRUNEKIT_DB" })
        XCTAssertNotNil((db["valueFrom"] as? [String: Any])?["secretKeyRef"], "the DB URL comes from a Secret")
        let command = try XCTUnwrap(container["command"] as? [String])
        XCTAssertEqual(Array(command.prefix(2)), ["prunekit", "worker"])
        let args = command.dropFirst().map {
            $0.replacingOccurrences(of: "$(PRUNEKIT_DB)", with: "postgresql://u:p@db:5432/prunekit").replacingOccurrences(of: "$(PRUNEKIT_JOB)", with: "1")
        }
        try assertParses(Array(args))
        XCTAssertThrowsError(try Yams.load(yaml: "a: [unclosed"))
    }
}
