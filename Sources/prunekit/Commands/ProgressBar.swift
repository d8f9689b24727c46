import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A progress bar with ETA on stderr; silent when stderr is not a terminal or with --quiet (formats.md §5).
final class ProgressBar {
    let enabled: Bool
    private var phaseStart = Date()
    private var phase = ""
    private var lastDraw = Date.distantPast

    init(quiet: Bool) { enabled = !quiet && isatty(2) != 0 }

    func update(_ phase: String, _ done: Int, _ total: Int) {
        guard enabled else { return }
        if phase != self.phase { self.phase = phase; phaseStart = Date() }
        let now = Date()
        guard done == total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        let frac = total > 0 ? Double(done) / Double(total) : 1
        let width = 30
        let filled = Int(frac * Double(width))
        let elapsed = now.timeIntervalSince(phaseStart)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        // (String(format:) does not pad %@ on Linux: pad by hand.)
        let label = phase.count >= 12 ? phase : phase + String(repeating: " ", count: 12 - phase.count)
        let line = "\r\(label) [\(bar)] " + String(format: "%3d%% %d/%d", Int(frac * 100), done, total)
            + "  elapsed \(fmt(elapsed))  ETA \(fmt(eta))"
        FileHandle.standardError.write(Data(line.utf8))
        if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func fmt(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }
}
