import Foundation
import FuzzSupport
import PruneKit

// The sharded-checkpoint index reader (ModelFolder with model.safetensors.index.json). A scratch model folder
// holds the config and the three shards of the nemo-tiny-bf16-sharded fixture (and a decoy shard outside the
// folder); the input is the index file. Invariants: opening either throws CheckpointError / ConfigError, or
// yields a folder whose files all lie inside it, where every tensor the config implies is located in a file
// that holds it, and every tensor of every file is located exactly there.

let source = (fixturesDir as NSString).appendingPathComponent("nemo-tiny-bf16-sharded")
let folder: String = {
    let dir = (fuzzScratch as NSString).appendingPathComponent("model")
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for name in try! FileManager.default.contentsOfDirectory(atPath: source)
    where name.hasSuffix(".safetensors") || name == "config.json" {
        let src = (source as NSString).appendingPathComponent(name)
        try? FileManager.default.copyItem(atPath: src, toPath: (dir as NSString).appendingPathComponent(name))
    }
    // A valid shard outside the folder: an index naming it (../decoy.safetensors) must never open it.
    let first = (source as NSString).appendingPathComponent("model-00001-of-00003.safetensors")
    try? FileManager.default.copyItem(atPath: first, toPath: (fuzzScratch as NSString).appendingPathComponent("decoy.safetensors"))
    return dir
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShardIndex(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let indexPath = (folder as NSString).appendingPathComponent(ModelFolder.indexName)
    _ = scratchFile("model/" + ModelFolder.indexName, UnsafeRawBufferPointer(start: data, count: size))
    let model: ModelFolder
    do { model = try ModelFolder(path: folder, strict: true) } catch {
        expectTyped(error, [CheckpointError.self, ConfigError.self], "ModelFolder(path:)")
        return 0
    }
    invariant(model.isSharded, "an index file present but the folder is not read as sharded")
    for f in model.files {
        invariant((f.path as NSString).deletingLastPathComponent == folder, "opened a file outside the folder: \(f.path)")
    }
    for (name, shape) in model.config.expectedTensors() {
        guard let k = model.location[name] else { invariant(false, "expected tensor \(name) has no location"); return 0 }
        invariant(k >= 0 && k < model.files.count, "location of \(name) out of range")
        invariant(model.files[k].tensors[name]?.shape == shape, "tensor \(name) is not in its file with shape \(shape)")
    }
    for (k, f) in model.files.enumerated() {
        for name in f.names { invariant(model.location[name] == k, "tensor \(name) of \(f.path) located elsewhere") }
    }
    invariant(model.location.count == model.files.reduce(0) { $0 + $1.names.count }, "location table and files disagree")
    _ = indexPath
    return 0
}

@_cdecl("FuzzShardIndex_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzShardIndex(data, size) }
}
