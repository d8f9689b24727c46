import Foundation
import FuzzSupport
import PruneKit

// PruneKit's own JSON reader and writer (Util/JSON.swift).
// Invariants: a parse either throws JSONParseError with an offset inside the input, or yields a value that
// (a) writes, compact and indented, to text that parses back to an equal value, and (b) writes to the same
// text again after that round trip (the writer is a fixed point). The strict parser (no non-finite tokens,
// duplicate keys rejected) accepts a subset of what the lenient one accepts, with the same value.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Data(bytes: data, count: size)
    let lenient = JSONParser(allowNonFinite: true, rejectDuplicateKeys: false)
    let strict = JSONParser(allowNonFinite: false, rejectDuplicateKeys: true)
    var lenientValue: JSONValue?
    do { lenientValue = try lenient.parse(input) } catch {
        expectTyped(error, [JSONParseError.self], "JSONParser.parse")
        let e = error as! JSONParseError
        invariant(e.offset >= 0 && e.offset <= size, "error offset \(e.offset) outside 0...\(size)")
    }
    do {
        let v = try strict.parse(input)
        invariant(lenientValue != nil, "the strict parser accepted what the lenient one rejected")
        invariant(lenientValue! == v, "strict and lenient parses differ")
    } catch {
        expectTyped(error, [JSONParseError.self], "JSONParser.parse (strict)")
    }
    guard let value = lenientValue else { return 0 }
    for indent in [nil, 2] as [Int?] {
        let w = JSONWriter(indent: indent)
        let text = w.string(value)
        let back: JSONValue
        do { back = try lenient.parse(text) } catch {
            invariant(false, "written JSON does not parse back (indent \(String(describing: indent))): \(error)\n\(text)")
            return 0
        }
        invariant(back == value, "JSON round trip changed the value (indent \(String(describing: indent)))")
        invariant(w.string(back) == text, "the writer is not a fixed point (indent \(String(describing: indent)))")
    }
    return 0
}

@_cdecl("FuzzJSON_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzJSON(data, size) }
}
