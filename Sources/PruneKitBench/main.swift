import Foundation
import PruneKit

// `make bench`: each section prints its own figures. Sections live in their own files.
// Usage: PruneKitBench [SECTION ...]   (default: all)
let sections: [(String, () throws -> Void)] = [
    ("inspect", benchInspect),
    ("tokenizer", benchTokenizer),
    ("forward", benchForward),
    ("nano12b", benchNano12B),
    ("ranking", benchRanking),
    ("panels", benchPanels),
    ("score12b", benchScore12B),
    ("compare", benchCompare),
    ("export", benchExport),
    ("teacher-cache", benchTeacherCache),
    ("distributed", benchDistributed),
]

let wanted = Set(CommandLine.arguments.dropFirst())
for (name, run) in sections where wanted.isEmpty || wanted.contains(name) {
    print("== \(name)")
    do { try run() } catch { print("  FAILED: \(error)") }
}
