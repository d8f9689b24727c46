import Foundation

/// One GPU as the cost model sees it (pruning.md §5): usable memory, memory bandwidth and dense bf16 peak.
///
/// Profiles are data, not code: the built-in ones ship in `Cost/hardware.json` (loaded through
/// `Bundle.module`), and a user file in the same format adds or replaces profiles (`--hardware-file`).
public struct HardwareProfile: Sendable, Equatable {
    /// Display name, e.g. "A10G".
    public var name: String
    /// Lower-case names it can be selected by, besides `name` (matching is case-insensitive).
    public var aliases: [String]
    /// Device memory the runtime can use, in bytes (before the framework fraction and reserved memory).
    public var memoryBytes: Int
    /// Memory bandwidth in bytes/s (peak; the cost model multiplies by an efficiency).
    public var memoryBandwidth: Double
    /// Dense bf16 tensor peak in FLOP/s (no sparsity; the cost model multiplies by an efficiency).
    public var peakFLOPS: Double
    /// Where the figures come from, and what is unverified.
    public var source: String
    /// Throughput parameters fitted to measured runs (`prunekit cost calibrate`); nil for an uncalibrated profile.
    public var calibration: HardwareCalibration?

    public init(name: String, aliases: [String] = [], memoryBytes: Int, memoryBandwidth: Double, peakFLOPS: Double, source: String = "",
                calibration: HardwareCalibration? = nil) {
        self.name = name; self.aliases = aliases; self.memoryBytes = memoryBytes
        self.memoryBandwidth = memoryBandwidth; self.peakFLOPS = peakFLOPS; self.source = source
        self.calibration = calibration
    }

    /// Whether `query` names this profile (case-insensitive, name or alias).
    public func matches(_ query: String) -> Bool {
        let q = query.lowercased()
        return name.lowercased() == q || aliases.contains { $0.lowercased() == q }
    }

    /// Reads one profile object: `name`, optional `aliases`, one of `memory_bytes` / `memory_gib` (2³⁰) /
    /// `memory_gb` (10⁹), `memory_bandwidth_gbps` (10⁹ bytes/s), `bf16_dense_tflops` (10¹² FLOP/s), optional `source`,
    /// optional `calibration` (``HardwareCalibration``).
    /// - Throws: ``CostError/badHardwareFile(file:message:)`` naming the profile and key.
    public init(json: JSONValue, file: String) throws {
        guard json.objectValue != nil else { throw CostError.badHardwareFile(file: file, message: "a profile is not a JSON object") }
        guard let name = json["name"]?.stringValue, !name.isEmpty else {
            throw CostError.badHardwareFile(file: file, message: "a profile has no \"name\"")
        }
        func positive(_ key: String) throws -> Double? {
            guard let v = json[key], !v.isNull else { return nil }
            guard let d = v.doubleValue, d.isFinite, d > 0 else {
                throw CostError.badHardwareFile(file: file, message: "profile \"\(name)\": \"\(key)\" must be a positive number")
            }
            return d
        }
        func required(_ key: String) throws -> Double {
            guard let d = try positive(key) else { throw CostError.badHardwareFile(file: file, message: "profile \"\(name)\": missing \"\(key)\"") }
            return d
        }
        let memoryValue: Double, memoryKey: String
        if let b = try positive("memory_bytes") { memoryValue = b; memoryKey = "memory_bytes" }
        else if let g = try positive("memory_gib") { memoryValue = g * Double(GiB.bytes); memoryKey = "memory_gib" }
        else if let g = try positive("memory_gb") { memoryValue = g * 1e9; memoryKey = "memory_gb" }
        else { throw CostError.badHardwareFile(file: file, message: "profile \"\(name)\": give one of \"memory_bytes\", \"memory_gib\" or \"memory_gb\"") }
        guard memoryValue <= GiB.maxGiB * Double(GiB.bytes) else {
            throw CostError.badHardwareFile(file: file, message: "profile \"\(name)\": \"\(memoryKey)\" is beyond the supported \(Int(GiB.maxGiB)) GiB")
        }
        let memory = Int(memoryValue.rounded())
        self.init(name: name,
                  aliases: (json["aliases"]?.arrayValue ?? []).compactMap(\.stringValue),
                  memoryBytes: memory,
                  memoryBandwidth: try required("memory_bandwidth_gbps") * 1e9,
                  peakFLOPS: try required("bf16_dense_tflops") * 1e12,
                  source: json["source"]?.stringValue ?? "",
                  calibration: try json["calibration"].flatMap { $0.isNull ? nil : try HardwareCalibration(json: $0, file: file, profile: name) })
    }
}

/// The catalogue of hardware profiles: the built-in `hardware.json` plus any user file.
public enum HardwareProfiles {
    /// Parses a profile file: `{"profiles": [...]}`, a bare array of profiles, or a single profile object.
    /// - Throws: ``CostError/badHardwareFile(file:message:)``.
    public static func parse(_ json: JSONValue, file: String) throws -> [HardwareProfile] {
        let list: [JSONValue]
        if let p = json["profiles"]?.arrayValue { list = p }
        else if let a = json.arrayValue { list = a }
        else if json["name"] != nil { list = [json] }
        else { throw CostError.badHardwareFile(file: file, message: "expected {\"profiles\": [...]}, an array of profiles, or one profile object") }
        guard !list.isEmpty else { throw CostError.badHardwareFile(file: file, message: "no profiles") }
        return try list.map { try HardwareProfile(json: $0, file: file) }
    }

    /// Reads a profile file from disk.
    /// - Throws: ``CostError/badHardwareFile(file:message:)``.
    public static func load(path: String) throws -> [HardwareProfile] {
        let data: Data
        do { data = try readRegularFile(path) } catch let e as FileAccessError {
            throw CostError.badHardwareFile(file: path, message: e.message)
        }
        let json: JSONValue
        do { json = try JSONParser().parse(data) } catch {
            throw CostError.badHardwareFile(file: path, message: "not valid JSON: \(error)")
        }
        return try parse(json, file: path)
    }

    private static let builtInResult: Result<[HardwareProfile], CostError> = {
        guard let url = Bundle.module.url(forResource: "hardware", withExtension: "json") else {
            return .failure(.badHardwareFile(file: "hardware.json", message: "the built-in hardware profiles are missing from the PruneKit resource bundle"))
        }
        do { return .success(try load(path: url.path)) } catch let e as CostError { return .failure(e) } catch {
            return .failure(.badHardwareFile(file: url.path, message: "\(error)"))
        }
    }()

    /// The built-in profiles (A10G, L40S, H100-SXM, H200), read once from the bundled `hardware.json`.
    /// - Throws: ``CostError/badHardwareFile(file:message:)`` if the resource bundle is missing or broken.
    public static func builtIn() throws -> [HardwareProfile] { try builtInResult.get() }

    /// Built-in profiles with those of `userFile` added; a user profile replaces a built-in one of the same name.
    public static func catalogue(userFile: String? = nil) throws -> [HardwareProfile] {
        var all = try builtIn()
        if let userFile {
            for p in try load(path: userFile) {
                all.removeAll { $0.name.lowercased() == p.name.lowercased() }
                all.append(p)
            }
        }
        return all
    }

    /// The profile called `name` (case-insensitive; name or alias), from `profiles`.
    /// - Throws: ``CostError/unknownHardware(name:known:)`` listing the known names.
    public static func named(_ name: String, in profiles: [HardwareProfile]) throws -> HardwareProfile {
        if let p = profiles.last(where: { $0.matches(name) }) { return p }
        throw CostError.unknownHardware(name: name, known: profiles.map(\.name))
    }

    /// A built-in profile by name (case-insensitive), e.g. `a10g`, `h100-sxm`.
    public static func named(_ name: String) throws -> HardwareProfile { try named(name, in: builtIn()) }
}

/// The result of fitting the throughput model to measured serving runs (`prunekit cost calibrate`, pruning.md §5),
/// stored in a profile under `calibration`.
///
/// ```json
/// "calibration": {"compute_efficiency": 0.61, "bandwidth_efficiency": 0.83, "step_overhead_ms": 2.9,
///                  "fitted": ["compute_efficiency", "bandwidth_efficiency", "step_overhead_ms"], "defaults": [],
///                  "runs": 6, "rms_error_percent": 1.8, "loo_rms_error_percent": 3.0, "loo_max_error_percent": 5.2,
///                  "measurements_sha256": "…", "serving": {…}, "residuals": [{…}, …]}
/// ```
public struct HardwareCalibration: Sendable, Equatable {
    /// The fitted η_c, η_b, τ (those not fitted are at their defaults).
    public var parameters: ThroughputParameters
    /// Names of the fitted parameters and of those left at their defaults (`compute_efficiency`,
    /// `bandwidth_efficiency`, `step_overhead_ms`).
    public var fitted: [String]
    public var defaults: [String]
    /// Number of runs fitted.
    public var runs: Int
    /// Root mean square of predicted / measured − 1 over the runs, percent.
    public var rmsErrorPercent: Double
    /// Leave-one-out: RMS and largest |predicted / measured − 1| of each run predicted by a fit to the others, percent
    /// (nil with a single run).
    public var looRMSErrorPercent: Double?
    public var looMaxErrorPercent: Double?
    /// SHA-256 (hex) of the measurement files' bytes, in the order read.
    public var measurementsSHA256: String
    /// Serving settings and per-run residuals as written (kept for the record; not used in predictions).
    public var serving: JSONValue
    public var residuals: JSONValue

    public init(parameters: ThroughputParameters, fitted: [String], defaults: [String], runs: Int, rmsErrorPercent: Double,
                looRMSErrorPercent: Double?, looMaxErrorPercent: Double?, measurementsSHA256: String,
                serving: JSONValue = .null, residuals: JSONValue = .array([])) {
        self.parameters = parameters; self.fitted = fitted; self.defaults = defaults; self.runs = runs
        self.rmsErrorPercent = rmsErrorPercent; self.looRMSErrorPercent = looRMSErrorPercent
        self.looMaxErrorPercent = looMaxErrorPercent; self.measurementsSHA256 = measurementsSHA256
        self.serving = serving; self.residuals = residuals
    }

    /// One line: what was fitted and how well, e.g. "A10G fitted to 6 runs (η_c 0.610, …); RMS error 1.8 %,
    /// leave-one-out 3.0 % (max 5.2 %)".
    public func summary(profile: String) -> String {
        var s = "\(profile) fitted to \(runs) run\(runs == 1 ? "" : "s") (\(parameters.description)); RMS error " + String(format: "%.1f %%", rmsErrorPercent)
        if let l = looRMSErrorPercent, let m = looMaxErrorPercent { s += String(format: ", leave-one-out %.1f %% (max %.1f %%)", l, m) }
        if !defaults.isEmpty { s += "; at defaults: " + defaults.joined(separator: ", ") }
        return s
    }

    /// Reads a `calibration` object.
    /// - Throws: ``CostError/badHardwareFile(file:message:)`` naming the profile and key.
    public init(json: JSONValue, file: String, profile: String) throws {
        func bad(_ m: String) -> CostError { .badHardwareFile(file: file, message: "profile \"\(profile)\": calibration: \(m)") }
        guard json.objectValue != nil else { throw bad("not a JSON object") }
        func number(_ k: String, required: Bool = true) throws -> Double? {
            guard let v = json[k], !v.isNull else { if required { throw bad("missing \"\(k)\"") }; return nil }
            guard let d = v.doubleValue, d.isFinite, d >= 0 else { throw bad("\"\(k)\" must be a non-negative number") }
            return d
        }
        let p = ThroughputParameters(computeEfficiency: try number("compute_efficiency")!, bandwidthEfficiency: try number("bandwidth_efficiency")!,
                                     stepOverheadSeconds: try number("step_overhead_ms")! / 1e3)
        do { try p.validate() } catch { throw bad("\(error)") }
        self.init(parameters: p,
                  fitted: (json["fitted"]?.arrayValue ?? []).compactMap(\.stringValue),
                  defaults: (json["defaults"]?.arrayValue ?? []).compactMap(\.stringValue),
                  runs: json["runs"]?.intValue ?? 0, rmsErrorPercent: try number("rms_error_percent")!,
                  looRMSErrorPercent: try number("loo_rms_error_percent", required: false),
                  looMaxErrorPercent: try number("loo_max_error_percent", required: false),
                  measurementsSHA256: json["measurements_sha256"]?.stringValue ?? "",
                  serving: json["serving"] ?? .null, residuals: json["residuals"] ?? .array([]))
    }
}

/// `Codable` in the hardware-file format (``PruneKitJSON``): memory as `memory_bytes` (and `memory_gib` for
/// reading), bandwidth in GB/s, peak in TFLOP/s, `calibration` when calibrated. Decoding applies the strict
/// reader (``init(json:file:)``).
extension HardwareProfile: Codable {
    enum CodingKeys: String, CodingKey {
        case name, aliases, memoryBytes = "memory_bytes", memoryGiB = "memory_gib", memoryBandwidthGBps = "memory_bandwidth_gbps"
        case bf16DenseTFLOPS = "bf16_dense_tflops", source, calibration
    }
    public init(from decoder: Decoder) throws { try self.init(json: try JSONValue(from: decoder), file: "(hardware profile)") }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name); try c.encode(aliases, forKey: .aliases); try c.encode(memoryBytes, forKey: .memoryBytes)
        try c.encode(FiniteOrNull(GiB.of(memoryBytes)), forKey: .memoryGiB)
        try c.encode(FiniteOrNull(memoryBandwidth / 1e9), forKey: .memoryBandwidthGBps); try c.encode(FiniteOrNull(peakFLOPS / 1e12), forKey: .bf16DenseTFLOPS)
        try c.encode(source, forKey: .source); try c.encodeIfPresent(calibration, forKey: .calibration)
    }
}

/// `Codable` as the `calibration` object of a hardware file (``PruneKitJSON``); decoding applies the strict reader.
extension HardwareCalibration: Codable {
    enum CodingKeys: String, CodingKey {
        case computeEfficiency = "compute_efficiency", bandwidthEfficiency = "bandwidth_efficiency", stepOverheadMs = "step_overhead_ms"
        case fitted, defaults, runs, rmsErrorPercent = "rms_error_percent", looRMSErrorPercent = "loo_rms_error_percent"
        case looMaxErrorPercent = "loo_max_error_percent", measurementsSHA256 = "measurements_sha256", serving, residuals
    }
    public init(from decoder: Decoder) throws { try self.init(json: try JSONValue(from: decoder), file: "(hardware profile)", profile: "calibration") }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(FiniteOrNull(parameters.computeEfficiency), forKey: .computeEfficiency)
        try c.encode(FiniteOrNull(parameters.bandwidthEfficiency), forKey: .bandwidthEfficiency)
        try c.encode(FiniteOrNull(parameters.stepOverheadSeconds * 1e3), forKey: .stepOverheadMs)
        try c.encode(fitted, forKey: .fitted); try c.encode(defaults, forKey: .defaults); try c.encode(runs, forKey: .runs)
        try c.encode(FiniteOrNull(rmsErrorPercent), forKey: .rmsErrorPercent); try c.encode(FiniteOrNull(looRMSErrorPercent), forKey: .looRMSErrorPercent)
        try c.encode(FiniteOrNull(looMaxErrorPercent), forKey: .looMaxErrorPercent); try c.encode(measurementsSHA256, forKey: .measurementsSHA256)
        try c.encode(serving, forKey: .serving); try c.encode(residuals, forKey: .residuals)
    }
}

/// A hardware-profiles file (the built-in `hardware.json`'s format, written by `cost calibrate --out`).
public struct HardwareProfileFile: Codable, Sendable, Equatable {
    public var format = "prunekit-hardware-profiles"
    public var version = 1
    public var profiles: [HardwareProfile]
    public init(profiles: [HardwareProfile]) { self.profiles = profiles }
}
