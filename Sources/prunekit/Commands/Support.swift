import ArgumentParser
import Foundation
import PruneKit

/// Output format shared by the subcommands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Distinct, documented exit codes (see the root command's discussion).
enum ExitCodes {
    static let failure: Int32 = 1
    static let badInput: Int32 = 2
    static let database: Int32 = 3
    static let infeasible: Int32 = 4
}

/// Runs a subcommand body, printing errors as `error: …` on stderr with a distinct exit code.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch {
        let code: Int32
        switch error {
        case is CheckpointError, is ConfigError, is JSONParseError: code = ExitCodes.badInput
        default: code = PruneKitErrors.exitCode(for: error) ?? ExitCodes.failure
        }
        FileHandle.standardError.write(Data("error: \(String(describing: error))\n".utf8))
        throw ExitCode(code)
    }
}

func printJSON(_ v: JSONValue) {
    print(JSONWriter(indent: 2).string(v))
}

/// "1,314,872"
func grouped(_ n: Int) -> String {
    let s = String(n.magnitude)
    var out = ""
    for (i, c) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

func gib(_ bytes: Int) -> String { String(format: "%.2f GiB", Double(bytes) / 1_073_741_824) }
