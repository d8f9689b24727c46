import Foundation
import FuzzSupport
import PruneKit

// config.json of Nemotron-H (Config/NemotronHConfig.swift), bare Infinity included (time_step_limit).
// Invariants: loading either throws ConfigError naming the file, or yields a config that validates, whose
// parameter counts and expected tensor shapes are computable (no overflow trap) and positive, and which
// round-trips: updatedJSON → JSONWriter → JSONParser → NemotronHConfig equals it, keeps every key of the input
// in order, and writes the same text again.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = scratchFile("config.json", UnsafeRawBufferPointer(start: data, count: size))
    let config: NemotronHConfig
    do { config = try NemotronHConfig.load(path: path) } catch {
        expectTyped(error, [ConfigError.self], "NemotronHConfig.load")
        invariant("\(error)".contains(path), "the error does not name the file: \(error)")
        return 0
    }
    do { try config.validate() } catch { invariant(false, "a loaded config does not validate: \(error)") }
    invariant(config.numLayers == config.pattern.count && config.numLayers > 0, "layer count")
    for kind in LayerKind.allCases where config.count(kind) > 0 {
        invariant(config.parameterCount(kind) > 0, "parameter count of \(kind) is not positive")
    }
    for (name, shape) in config.expectedTensors() {
        invariant(!shape.isEmpty && shape.allSatisfy { $0 > 0 }, "tensor \(name) has shape \(shape)")
    }
    let writer = JSONWriter(indent: 2)
    let text = writer.string(config.updatedJSON())
    do {
        let json = try JSONParser(allowNonFinite: true, rejectDuplicateKeys: true).parse(text)
        let again = try NemotronHConfig(json: json, file: "round-trip")
        invariant(again == config, "config round trip changed the architecture")
        invariant(writer.string(again.updatedJSON()) == text, "config round trip changed the written text")
        let inputKeys = config.raw.objectValue!.map(\.0)
        let outputKeys = json.objectValue!.map(\.0)
        invariant(Array(outputKeys.prefix(inputKeys.count)) == inputKeys, "the written config lost or reordered keys")
    } catch {
        invariant(false, "the written config does not load back: \(error)\n\(text)")
    }
    return 0
}

@_cdecl("FuzzConfig_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzConfig(data, size) }
}
