import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Receives the advance of a long step — a forward pass over a data set, an export, the trials of a search —
/// so a front end can show it. Library code calls it from the thread doing the work; a step is
/// `start`, any number of `advance`, then `finish` (also when the step fails or stops early).
public protocol ProgressReporter: AnyObject {
    /// Begins a step named `phase` (e.g. "eval", "export", "trials") of `total` units of `unit`
    /// ("tokens", "bytes", "samples", "trials"…). A `start` while a step is open finishes that step first.
    func start(_ phase: String, total: Int, unit: String)
    /// `n` more units are done.
    func advance(by n: Int)
    /// The step ended.
    func finish()
}

extension ProgressReporter {
    /// An adapter for `(phase, done, total)` callbacks (``Importance/compute(model:set:options:progress:)``):
    /// a new phase starts a step; `done` reaching `total` finishes it. `prefix` is prepended to the phase names;
    /// `units` names the unit of a phase (default `unit`), e.g. `["layers": "sample-rounds"]` for the iterative ranking.
    public func callback(prefix: String = "", unit: String = "samples", units: [String: String] = [:]) -> (String, Int, Int) -> Void {
        let s = PhaseState()
        return { [self] phase, done, total in
            if s.phase != phase || done < s.done {
                if s.phase != nil { finish() }
                start(prefix + phase, total: total, unit: units[phase] ?? unit)
                s.phase = phase; s.done = 0
            }
            if done > s.done { advance(by: done - s.done); s.done = done }
            if done >= total { finish(); s.phase = nil; s.done = 0 }
        }
    }
}

/// The open phase of a ``ProgressReporter/callback(prefix:unit:units:)`` adapter.
private final class PhaseState { var phase: String?; var done = 0 }

/// The one ``ProgressReporter`` implementation: writes to a text stream (stderr in the CLI).
///
/// - ``Style/bar``: a bar redrawn in place (`\r`, at most 10 times a second) with done/total, elapsed time and
///   ETA — for a terminal.
/// - ``Style/lines(interval:)``: a plain line when a step starts, then at most one every `interval` seconds,
///   and one when it finishes, each `phase: done/total unit (pct%), rate unit/s, elapsed …, ETA …` — for a log file
///   or a batch job's captured stderr.
///
/// With `heartbeat`, a timer also redraws while no `advance` comes (one forward of a 12B sample takes minutes):
/// the bar every second, a line every `interval` seconds — so a log shows the step is alive, with its elapsed time.
///
/// Byte counts (unit "bytes") are printed in KiB/MiB/GiB. Thread-safe (one lock).
public final class StreamProgress: ProgressReporter, @unchecked Sendable {
    public enum Style: Sendable, Equatable {
        case bar
        case lines(interval: Double)
    }

    public let style: Style
    private let write: (String) -> Void
    private let now: () -> Double
    private let lock = NSLock()
    private var phase = "", unit = ""
    private var total = 0, done = 0
    private var started = 0.0, lastDraw = -Double.infinity
    private var open = false
    private let heartbeat: Bool
    /// Incremented by every start/finish, so a pending heartbeat of an earlier step does nothing.
    private var generation = 0
    /// The last line written (lines style), so `finish` right after the final `advance` does not repeat it.
    private var lastLine = ""

    /// - Parameters:
    ///   - write: where text goes (default: stderr, unbuffered).
    ///   - now: the clock in seconds (tests inject one).
    ///   - heartbeat: redraw on a timer (real time) while a step is open, not only on `advance`.
    public init(style: Style, write: @escaping (String) -> Void = StreamProgress.standardError,
                now: @escaping () -> Double = { Date().timeIntervalSinceReferenceDate }, heartbeat: Bool = false) {
        self.style = style; self.write = write; self.now = now; self.heartbeat = heartbeat
    }

    /// Writes to file descriptor 2.
    public static func standardError(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }

    /// The style for stderr: a bar when it is a terminal, otherwise lines every `interval` seconds.
    public static func forStandardError(interval: Double = 10) -> StreamProgress {
        let p = StreamProgress(style: isatty(2) != 0 ? .bar : .lines(interval: interval), heartbeat: true)
        current = p
        return p
    }

    public func start(_ phase: String, total: Int, unit: String) {
        lock.lock(); defer { lock.unlock() }
        if open { finishLocked() }
        self.phase = phase; self.unit = unit; self.total = max(0, total); done = 0
        started = now(); lastDraw = -Double.infinity; open = true
        generation &+= 1
        draw(force: true)
        if heartbeat { scheduleHeartbeat(generation) }
    }

    /// Seconds between redraws without progress: the bar's 1 s, or the line interval.
    private var heartbeatInterval: Double {
        switch style { case .bar: return 1; case let .lines(interval): return interval }
    }

    private func scheduleHeartbeat(_ gen: Int) {
        // Due when the last draw is `heartbeatInterval` old (an `advance` in between postpones it).
        let delay = max(0.05, lastDraw + heartbeatInterval - now() + 0.01)
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [weak self] in
            guard let self else { return }
            self.lock.lock(); defer { self.lock.unlock() }
            guard self.open, self.generation == gen else { return }
            self.draw(force: false)
            self.scheduleHeartbeat(gen)
        }
    }

    /// Writes a message line (`text` without its newline) between progress output: on a terminal the bar is
    /// cleared first and redrawn below the message, so messages never run into the bar.
    public func interject(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        if style == .bar && open {
            write("\r\u{1B}[K" + text + "\n")
            draw(force: true)
        } else {
            write(text + "\n")
        }
    }

    /// The reporter most recently made by ``forStandardError(interval:)``: messages to stderr go through its
    /// ``interject(_:)`` so they do not run into a bar.
    public nonisolated(unsafe) static weak var current: StreamProgress?

    public func advance(by n: Int) {
        lock.lock(); defer { lock.unlock() }
        guard open else { return }
        let (s, o) = done.addingReportingOverflow(max(0, n))
        done = o ? Int.max : s
        draw(force: false)
    }

    public func finish() {
        lock.lock(); defer { lock.unlock() }
        finishLocked()
    }

    private func finishLocked() {
        guard open else { return }
        open = false
        generation &+= 1
        switch style {
        case .bar: draw(force: true); write("\n")
        case .lines:
            let l = line()
            if l != lastLine { write(l + "\n") }
        }
    }

    private func draw(force: Bool) {
        let t = now()
        switch style {
        case .bar:
            guard force || t - lastDraw >= 0.1 - 1e-9 else { return }
            lastDraw = t
            let frac = total > 0 ? min(1, Double(done) / Double(total)) : 0
            let width = 30, filled = Int(frac * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            // (String(format:) does not pad %@ on Linux: pad by hand.)
            let label = phase.count >= 12 ? phase : phase + String(repeating: " ", count: 12 - phase.count)
            write("\r\(label) [\(bar)] \(Int(frac * 100))% \(amount(done))/\(amount(total))\(unitName)  elapsed \(Self.duration(t - started))  ETA \(eta(t))")
        case let .lines(interval):
            guard force || t - lastDraw >= interval else { return }
            lastDraw = t
            lastLine = line()
            write(lastLine + "\n")
        }
    }

    /// `phase: done/total unit (pct%), rate unit/s, elapsed …, ETA …`
    func line() -> String {
        let t = now(), elapsed = t - started
        let pct = total > 0 ? String(format: " (%.0f%%)", min(100, 100 * Double(done) / Double(total))) : ""
        let rate = elapsed > 0 && done > 0 ? ", \(rateText(Double(done) / elapsed))" : ""
        return "\(phase): \(amount(done))/\(amount(total))\(unitName)\(pct)\(rate), elapsed \(Self.duration(elapsed)), ETA \(eta(t))"
    }

    /// " tokens" (with its space), or "" for bytes (their amounts carry the unit).
    private var unitName: String { unit == "bytes" ? "" : " " + unit }

    private func amount(_ v: Int) -> String { unit == "bytes" ? byteString(v) : String(v) }

    private func rateText(_ r: Double) -> String {
        unit == "bytes" ? "\(byteString(Int(min(r, 1e15))))/s" : (r >= 10 ? String(format: "%.0f", r) : String(format: "%.2f", r)) + " \(unit)/s"
    }

    private func eta(_ t: Double) -> String {
        guard done > 0, total > done else { return done >= total && total > 0 ? "0s" : "?" }
        return Self.duration((t - started) / Double(done) * Double(total - done))
    }

    /// `42s`, `3m05s`, `2h07m`.
    static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "?" }
        let t = Int(min(s, 1e9).rounded())
        if t >= 3600 { return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) }
        if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
        return "\(t)s"
    }
}
