import Foundation
import XCTest
import PruneKit

/// One test per validation rule of formats.md §1, on byte-level crafted files, plus the accepted cases
/// and exact widening / rounding of BF16 and F16.
final class SafetensorsTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Fixtures.tempDir("st") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    // MARK: - Helpers

    /// u64 little-endian length + header bytes + data bytes.
    static func bytes(header: [UInt8], data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        let n = length ?? UInt64(header.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + header + data
    }
    static func bytes(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        bytes(header: Array(header.utf8), data: data, length: length)
    }

    func write(_ b: [UInt8], _ name: String = "case.safetensors") -> String {
        let p = (dir as NSString).appendingPathComponent(name)
        FileManager.default.createFile(atPath: p, contents: Data(b))
        return p
    }

    /// Opens crafted bytes, expects a ``CheckpointError`` matching `match`, whose message names the file and `check`.
    func expectRejected(_ b: [UInt8], check: String, file: StaticString = #filePath, line: UInt = #line,
                        _ match: (CheckpointError) -> Bool) {
        let p = write(b)
        do {
            _ = try SafetensorsFile(path: p)
            XCTFail("accepted a bad file (expected \(check))", file: file, line: line)
        } catch let e as CheckpointError {
            XCTAssertTrue(match(e), "wrong error case: \(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(p), "message does not name the file: \(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(check), "message does not name the check '\(check)': \(e)", file: file, line: line)
        } catch {
            XCTFail("not a CheckpointError: \(error)", file: file, line: line)
        }
    }

    static let f32one: [UInt8] = [0, 0, 0x80, 0x3F]

    // MARK: - Header length

    func testHeaderTooSmall() {
        expectRejected([1, 2, 3, 4, 5], check: "HeaderTooSmall") { if case .headerTooSmall(_, 5) = $0 { return true }; return false }
    }

    func testHeaderTooLarge() {
        expectRejected(Self.bytes("{}", length: 100_000_001), check: "HeaderTooLarge") { if case .headerTooLarge = $0 { return true }; return false }
        expectRejected(Self.bytes("{}", length: UInt64.max), check: "HeaderTooLarge") { if case .headerTooLarge = $0 { return true }; return false }
    }

    func testHeaderLengthBeyondEndOfFile() {
        expectRejected(Self.bytes("{}", length: 3), check: "InvalidHeaderLength") { if case .invalidHeaderLength(_, 3, 10) = $0 { return true }; return false }
        expectRejected(Self.bytes("{}", length: 100_000_000), check: "InvalidHeaderLength") { if case .invalidHeaderLength = $0 { return true }; return false }
    }

    // MARK: - Header content

    func testHeaderNotUTF8() {
        expectRejected(Self.bytes(header: [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]), check: "UTF-8") { if case .invalidHeader = $0 { return true }; return false }
    }

    func testHeaderNotJSON() {
        expectRejected(Self.bytes("{\"a\": "), check: "not valid JSON") { if case .invalidHeader = $0 { return true }; return false }
        // Non-finite numbers are not JSON (the header parser is strict, unlike the config parser).
        expectRejected(Self.bytes("{\"__metadata__\": {\"a\": NaN}}"), check: "not valid JSON") { if case .invalidHeader = $0 { return true }; return false }
    }

    func testHeaderNotAnObject() {
        expectRejected(Self.bytes("[1, 2]"), check: "not a JSON object") { if case .invalidHeader = $0 { return true }; return false }
    }

    func testUnknownDType() {
        expectRejected(Self.bytes(#"{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#, data: Self.f32one), check: "unknown dtype \"F33\"") {
            if case .invalidHeaderDeserialization(_, "w", _) = $0 { return true }; return false
        }
    }

    func testLowerCaseDType() {
        expectRejected(Self.bytes(#"{"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}"#, data: Self.f32one), check: "unknown dtype \"f32\"") {
            if case .invalidHeaderDeserialization(_, "w", _) = $0 { return true }; return false
        }
    }

    func testNegativeShapeEntry() {
        expectRejected(Self.bytes(#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: Self.f32one), check: "shape entry -1") {
            if case .invalidHeaderDeserialization(_, "w", _) = $0 { return true }; return false
        }
    }

    func testFractionalShapeEntry() {
        expectRejected(Self.bytes(#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: Self.f32one), check: "shape entry 1.5") {
            if case .invalidHeaderDeserialization(_, "w", _) = $0 { return true }; return false
        }
        expectRejected(Self.bytes(#"{"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, data: Self.f32one), check: "shape entry 1.0") {
            if case .invalidHeaderDeserialization(_, "w", _) = $0 { return true }; return false
        }
    }

    func testHugeShapeEntry() {
        expectRejected(Self.bytes(#"{"w":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}}"#, data: Self.f32one), check: "shape entry 18446744073709551616") {
            if case .invalidHeaderDeserialization(_, "w", _) = $0 { return true }; return false
        }
        expectRejected(Self.bytes(#"{"w":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}}"#, data: Self.f32one), check: "shape entry 1e30") {
            if case .invalidHeaderDeserialization(_, "w", _) = $0 { return true }; return false
        }
    }

    func testNonStringMetadata() {
        expectRejected(Self.bytes(#"{"__metadata__":{"format":1}}"#), check: "__metadata__ value for 'format' is not a string") {
            if case .invalidHeaderDeserialization(_, nil, _) = $0 { return true }; return false
        }
        expectRejected(Self.bytes(#"{"__metadata__":["pt"]}"#), check: "__metadata__ must be an object") {
            if case .invalidHeaderDeserialization(_, nil, _) = $0 { return true }; return false
        }
    }

    func testDuplicateFieldInEntry() {
        expectRejected(Self.bytes(#"{"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}"#, data: Self.f32one), check: "field \"dtype\" appears twice") {
            if case .invalidHeaderDeserialization(_, "w", _) = $0 { return true }; return false
        }
    }

    // MARK: - Offsets and sizes

    func testGap() {
        let h = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        expectRejected(Self.bytes(h, data: [UInt8](repeating: 0, count: 12)), check: "InvalidOffset(b): gap") {
            if case .invalidOffset(_, "b", _) = $0 { return true }; return false
        }
    }

    func testOverlap() {
        let h = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        expectRejected(Self.bytes(h, data: [UInt8](repeating: 0, count: 8)), check: "InvalidOffset(b): overlap") {
            if case .invalidOffset(_, "b", _) = $0 { return true }; return false
        }
    }

    func testEndBeforeBegin() {
        let h = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#
        expectRejected(Self.bytes(h, data: [UInt8](repeating: 0, count: 8)), check: "InvalidOffset(a): end 4 < begin 8") {
            if case .invalidOffset(_, "a", _) = $0 { return true }; return false
        }
    }

    func testWrongByteCount() {
        let h = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#
        expectRejected(Self.bytes(h, data: Self.f32one), check: "TensorInvalidInfo(a)") {
            if case .tensorInvalidInfo(_, "a", 8, 4) = $0 { return true }; return false
        }
    }

    func testSizeOverflow() {
        let h = #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#
        expectRejected(Self.bytes(h), check: "ValidationOverflow(a)") {
            if case .validationOverflow(_, "a") = $0 { return true }; return false
        }
    }

    func testTrailingBytes() {
        let h = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        expectRejected(Self.bytes(h, data: Self.f32one + [0, 0, 0, 0]), check: "MetadataIncompleteBuffer") {
            if case .metadataIncompleteBuffer(_, 4, 8) = $0 { return true }; return false
        }
    }

    func testMissingBytes() {
        let h = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        expectRejected(Self.bytes(h, data: Self.f32one), check: "MetadataIncompleteBuffer") {
            if case .metadataIncompleteBuffer(_, 8, 4) = $0 { return true }; return false
        }
    }

    // MARK: - Stricter than the reference

    func testDuplicateTensorName() {
        let h = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        expectRejected(Self.bytes(h, data: Self.f32one + Self.f32one), check: "duplicate tensor name 'a'") {
            if case .duplicateTensor(_, "a") = $0 { return true }; return false
        }
    }

    func testTensorNamedMetadata() {
        let h = #"{"__metadata__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        expectRejected(Self.bytes(h, data: Self.f32one), check: "named '__metadata__'") {
            if case .reservedTensorName = $0 { return true }; return false
        }
        let twice = #"{"__metadata__":{"format":"pt"},"__metadata__":{"format":"pt"}}"#
        expectRejected(Self.bytes(twice), check: "named '__metadata__'") {
            if case .reservedTensorName = $0 { return true }; return false
        }
    }

    // MARK: - Accepted

    func testUnknownExtraFieldsAccepted() throws {
        let h = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"quant":{"x":[1,2]},"note":"hi"},"__metadata__":{"format":"pt"}}"#
        let f = try SafetensorsFile(path: write(Self.bytes(h, data: Self.f32one)))
        XCTAssertEqual(f.names, ["a"])
        XCTAssertEqual(f.metadata, ["format": "pt"])
        XCTAssertEqual(try f.floats("a"), [1.0])
    }

    func testWhitespacePaddingAccepted() throws {
        let h = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"# + "   \n\t  "
        let f = try SafetensorsFile(path: write(Self.bytes(h, data: Self.f32one)))
        XCTAssertEqual(try f.floats("a"), [1.0])
    }

    func testUnalignedDataAccepted() throws {
        // Header of odd length: the F32 data starts at an odd file offset.
        var h = #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#
        if (8 + h.utf8.count) % 2 == 0 { h += " " }
        let values: [Float] = [1.5, -2.25, 3e-7]
        let data = values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * UInt32($0))) } }
        let f = try SafetensorsFile(path: write(Self.bytes(h, data: data)))
        XCTAssertEqual(f.dataStart % 2, 1)
        XCTAssertEqual(try f.floats("a"), values)
        var two = [Float](repeating: 0, count: 2)
        try two.withUnsafeMutableBufferPointer { try f.read("a", into: $0.baseAddress!, from: 1, count: 2) }
        XCTAssertEqual(two, [-2.25, 3e-7])
    }

    func testEmptyAndZeroSizedTensors() throws {
        let h = #"{"e":{"dtype":"BF16","shape":[0,4],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#
        let f = try SafetensorsFile(path: write(Self.bytes(h, data: Self.f32one)))
        XCTAssertEqual(try f.floats("e"), [])
        XCTAssertEqual(try f.floats("a"), [1.0])
    }

    // MARK: - Widening and rounding

    func testBF16WideningExact() throws {
        let bits: [UInt16] = [0x3F80, 0xC000, 0x3FC0, 0x7F80, 0xFF80, 0x0001, 0x8000, 0x7F7F]
        let expected: [Float] = [1.0, -2.0, 1.5, .infinity, -.infinity, Float(bitPattern: 0x0001_0000), -0.0, Float(bitPattern: 0x7F7F_0000)]
        let data = bits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let h = #"{"b":{"dtype":"BF16","shape":[8],"data_offsets":[0,16]}}"#
        let got = try SafetensorsFile(path: write(Self.bytes(h, data: data))).floats("b")
        XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern))
        XCTAssertEqual(got.map(\.bitPattern), bits.map { UInt32($0) << 16 })
    }

    func testF16WideningExact() throws {
        let bits: [UInt16] = [0x3C00, 0xC000, 0x3555, 0x7C00, 0x0001, 0x03FF, 0x7BFF, 0x8000]
        let expected: [Float] = [1.0, -2.0, 0.333251953125, .infinity, 5.9604644775390625e-08, 6.0975551605224609375e-05, 65504, -0.0]
        let data = bits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let h = #"{"h":{"dtype":"F16","shape":[2,4],"data_offsets":[0,16]}}"#
        let got = try SafetensorsFile(path: write(Self.bytes(h, data: data))).floats("h")
        XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern))
    }

    func testBF16RoundsToNearestEven() {
        let one: Float = 1
        XCTAssertEqual(bf16Bits(one), 0x3F80)
        XCTAssertEqual(bf16Bits(one + 0x1p-8), 0x3F80, "halfway, rounds down to even")
        XCTAssertEqual(bf16Bits(one + 3 * 0x1p-8), 0x3F82, "halfway, rounds up to even")
        XCTAssertEqual(bf16Bits(one + 0x1p-8 + 0x1p-20), 0x3F81, "above halfway rounds up")
        XCTAssertEqual(bf16Bits(one + 0x1p-8 - 0x1p-20), 0x3F80, "below halfway rounds down")
        XCTAssertEqual(bf16Bits(-(one + 3 * 0x1p-8)), 0xBF82)
        XCTAssertEqual(bf16Bits(.greatestFiniteMagnitude), 0x7F80, "overflows to infinity as torch does")
        XCTAssertEqual(bf16Bits(.infinity), 0x7F80)
        XCTAssertTrue(bf16ToFloat(bf16Bits(.nan)).isNaN)
        XCTAssertTrue(bf16ToFloat(bf16Bits(Float(bitPattern: 0x7F80_0001))).isNaN, "a NaN with only low payload bits must not become infinity")
    }

    func testWriterRoundsBF16AndWritesValidFile() throws {
        let values: [Float] = [1, 1 + 0x1p-8, 1 + 3 * 0x1p-8, -0.1, 3.14159, 1e-30, 0]
        let p = (dir as NSString).appendingPathComponent("w.safetensors")
        try writeSafetensors(path: p, tensors: [("b", .BF16, [7], values), ("h", .F16, [7], values), ("f", .F32, [7], values)])
        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(f.dataStart % 8, 0, "header padded to 8 bytes")
        let raw = try f.rawBytes("b")
        let stored = (0..<7).map { raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self) }
        XCTAssertEqual(stored, values.map(bf16Bits))
        XCTAssertEqual(Array(stored.prefix(3)), [0x3F80, 0x3F80, 0x3F82])
        XCTAssertEqual(try f.floats("b"), values.map { bf16ToFloat(bf16Bits($0)) })
        XCTAssertEqual(try f.floats("h"), values.map { Float(Float16($0)) })
        XCTAssertEqual(try f.floats("f"), values)
    }

    func testStreamWriterRejectsOutOfOrderAndShort() throws {
        let p = (dir as NSString).appendingPathComponent("o.safetensors")
        let w = try SafetensorsStreamWriter(path: p, entries: [.init(name: "a", dtype: .F32, shape: [2]), .init(name: "b", dtype: .F32, shape: [1])])
        XCTAssertThrowsError(try w.append("b", [1]))
        XCTAssertThrowsError(try w.append("a", [1]))
        try w.append("a", [1, 2])
        XCTAssertThrowsError(try w.finish()) { XCTAssertTrue("\($0)".contains("only 1 of 2")) }
        w.abandon()
    }
}

/// Writing one tensor in parts (e.g. logits [N, T, V], one sample at a time) gives the same file as writing it whole.
final class SafetensorsPartsTests: XCTestCase {
    func testTensorWrittenInPartsEqualsWhole() throws {
        let dir = Fixtures.tempDir()
        let values = (0..<1000).map { Float($0) * 0.5 - 7 }
        let entries: [SafetensorsStreamWriter.Entry] = [.init(name: "a", dtype: .F32, shape: [4]), .init(name: "logits", dtype: .F32, shape: [10, 100])]
        let whole = try SafetensorsStreamWriter(path: dir + "/whole.safetensors", entries: entries)
        try whole.append("a", [1, 2, 3, 4]); try whole.append("logits", values); try whole.finish()
        let parts = try SafetensorsStreamWriter(path: dir + "/parts.safetensors", entries: entries)
        try parts.append("a", [1, 2, 3, 4])
        for k in 0..<10 { try parts.appendPart("logits", Array(values[(k * 100)..<((k + 1) * 100)])) }
        try parts.finish()
        XCTAssertEqual(FileManager.default.contents(atPath: dir + "/whole.safetensors"), FileManager.default.contents(atPath: dir + "/parts.safetensors"))
        XCTAssertEqual(try SafetensorsFile(path: dir + "/parts.safetensors").floats("logits"), values)
        // A part that overruns the tensor, and a tensor left incomplete, are errors naming it.
        let bad = try SafetensorsStreamWriter(path: dir + "/bad.safetensors", entries: entries)
        try bad.append("a", [1, 2, 3, 4])
        try bad.appendPart("logits", Array(values[0..<600]))
        XCTAssertThrowsError(try bad.appendPart("logits", Array(values[0..<600]))) { e in XCTAssertTrue("\(e)".contains("logits"), "\(e)") }
        XCTAssertThrowsError(try bad.finish()) { e in XCTAssertTrue("\(e)".contains("1 of 2 tensors"), "\(e)") }
        bad.abandon()
    }
}
