import Foundation
import Testing
@testable import ControlProtocol

@Suite struct JSONTextTests {
    static let samples: [JSONValue] = [
        .null, .bool(true), .bool(false), .int(0), .int(-42), .int(Int64.max), .int(Int64.min),
        .double(1.5), .double(-0.25), .double(2.0), .double(1e16), .double(1e-7),
        .string(""), .string("plain"), .string("quote \" backslash \\ slash / tab \t nl \n cr \r"),
        .string("bell \u{07} unit-sep \u{1F} del \u{7F}"), .string("Åsa Öberg – 日本 🚀"),
        .array([]), .array([.int(1), .string("a"), .null, .array([.bool(false)])]),
        .object([:]),
        .object(["b": .int(1), "a": .object(["z": .string("x"), "A": .array([.double(0.5)])]), "ä": .null, "B": .bool(true)]),
    ]

    @Test(arguments: samples)
    func writerProducesFoundationsTextSoStoredFingerprintsStillMatch(value: JSONValue) throws {
        let foundation = String(decoding: try JSONCoding.encoder.encode(value), as: UTF8.self)
        #expect(value.jsonText() == foundation)
    }

    @Test(arguments: samples + [.object(["list": .array(samples), "empty": .object([:]), "nested": .object(["in": .array([.array([]), .object([:])])])])])
    func prettyWriterProducesFoundationsPrettyText(value: JSONValue) throws {
        let encoder = JSONCoding.encoder
        encoder.outputFormatting.insert(.prettyPrinted)
        let foundation = String(decoding: try encoder.encode(value), as: UTF8.self)
        #expect(value.prettyJSONText() == foundation)
    }

    @Test(arguments: samples)
    func parserReadsBackWhatTheWriterWrote(value: JSONValue) throws {
        #expect(try JSONValue.parse(Array(value.jsonText().utf8)) == value)
    }

    @Test func parserAgreesWithFoundationOnEscapesAndNumbers() throws {
        let text = #" { "s" : "a\u00e9\ud83d\ude80\/\b\f\n\r\t\"\\" , "n" : [0, -0, 12, -3.5e2, 1E3, 9223372036854775807, 9223372036854775808] } "#
        let ours = try JSONValue.parse(Array(text.utf8))
        let theirs = try JSONCoding.decoder.decode(JSONValue.self, from: Data(text.utf8))
        #expect(ours == theirs)
        #expect(ours["s"] == .string("aé🚀/\u{08}\u{0C}\n\r\t\"\\"))
    }

    @Test(arguments: [
        ("", "unexpected end of text") as (String, String),
        ("{", "expected a string key"),
        (#"{"a":1,}"#, "expected a string key"),
        (#"{"a" 1}"#, "expected ':'"),
        ("[1 2]", "expected ',' or ']'"),
        ("[1,]", "unexpected character"),
        (#"{"a":1} x"#, "unexpected text after the JSON value"),
        ("01", "leading zero in a number"),
        ("-", "invalid number"),
        ("1.", "invalid number"),
        ("1e", "invalid number"),
        ("1e999", "number out of range"),
        ("tru", "truncated literal"),
        ("nul!", "invalid literal"),
        (#""abc"#, "unterminated string"),
        ("\"a\u{01}b\"", "control character in a string"),
        (#""\x""#, "invalid escape"),
        (#""\ud800""#, "unpaired UTF-16 surrogate in \\u escape"),
        (#""\udc00""#, "unpaired UTF-16 surrogate in \\u escape"),
        (#""\u12g4""#, "invalid \\u escape"),
    ])
    func parserNamesWhatIsWrong(text: String, reason: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(Array(text.utf8)) }
        do {
            _ = try JSONValue.parse(Array(text.utf8))
        } catch {
            #expect(error.reason == reason, "\(text)")
        }
    }

    @Test func parserRefusesInvalidUTF8InStrings() {
        let bytes: [UInt8] = [0x22, 0x61, 0xC3, 0x28, 0x22]
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(bytes) }
    }

    @Test func parserRefusesDeepNestingInsteadOfOverflowingTheStack() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        do {
            _ = try JSONValue.parse(Array(deep.utf8))
            Issue.record("accepted 100,000 levels")
        } catch {
            #expect(error.reason == "nested too deeply")
        }
        let fine = String(repeating: "[", count: JSONValue.maximumNesting) + String(repeating: "]", count: JSONValue.maximumNesting)
        #expect(throws: Never.self) { try JSONValue.parse(Array(fine.utf8)) }
    }

    /// A reader walking arrays by hand stops at parse's limit too, and so
    /// does passing over a deep value from inside a container (found by the
    /// fuzzer: a walk of 12,000 levels overflowed its stack).
    @Test func pullReaderRefusesNestingBeyondParsesLimit() throws {
        func descend(_ r: inout JSONPullReader) throws(JSONSyntaxError) -> Int {
            try r.beginArray()
            let below = try r.nextElement() ? try descend(&r) : 0
            if below > 0 { _ = try r.nextElement() }
            return below + 1
        }
        let max = JSONValue.maximumNesting
        let fine = String(repeating: "[", count: max) + String(repeating: "]", count: max)
        #expect(try JSONPullReader.read(fine) { (r: inout JSONPullReader) throws(JSONSyntaxError) in try descend(&r) } == max)
        let deep = String(repeating: "[", count: max + 1) + String(repeating: "]", count: max + 1)
        let error = #expect(throws: JSONSyntaxError.self) { try JSONPullReader.read(deep) { (r: inout JSONPullReader) throws(JSONSyntaxError) in try descend(&r) } }
        #expect(error?.reason == "nested too deeply" && error?.offset == max)
        // Passed over from one level down: the skipped value may nest one level less.
        let skipped = "[" + String(repeating: "[", count: max) + String(repeating: "]", count: max) + "]"
        let skipError = #expect(throws: JSONSyntaxError.self) {
            try JSONPullReader.read(skipped) { (r: inout JSONPullReader) throws(JSONSyntaxError) in
                try r.beginArray()
                while try r.nextElement() { try r.skipValue() }
            }
        }
        #expect(skipError?.reason == "nested too deeply")
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(Array(skipped.utf8)) }
    }

    @Test func repeatedKeyIsRefusedAndNamed() {
        do {
            _ = try JSONValue.parse(Array(#"{"a":1,"b":{"x":true,"x":false}}"#.utf8))
            Issue.record("accepted a repeated key")
        } catch {
            #expect(error.reason == #"repeated key "x""#)
            #expect(error.offset == 21)
        }
    }

    @Test func responseLineMatchesCodable() throws {
        for response in [ControlResponse.success(id: "r1", result: .object(["x": .int(1)])),
                         ControlResponse.failure(id: "r2", ControlError(.notFound, "no dispute \"D-1\""))] {
            var expected = try JSONCoding.encoder.encode(response)
            expected.append(0x0A)
            #expect(response.encodedLine() == expected)
        }
    }
}

/// A type using every shape Codable can produce, for the tree encoder.
private struct Shapes: Codable {
    enum Color: String, Codable, CodingKeyRepresentable { case red, green }
    struct Inner: Codable { var a: Int8; var b: UInt32?; var c: [Float] }
    var text = "slash / quote \" nl \n"
    var flag = true
    var small: Int16 = -3
    var big: UInt64 = 1 << 40
    var ratio = 0.125
    var missing: String? = nil
    var present: String? = "here"
    var inner = Inner(a: 7, b: nil, c: [1.5, 2])
    var list: [Inner] = [Inner(a: 1, b: 2, c: []), Inner(a: 3, b: nil, c: [0.25])]
    var byName: [String: Int] = ["z": 1, "a": 2]
    var byNumber: [Int: String] = [10: "ten", 2: "two"]
    var byColor: [Color: Bool] = [.red: true, .green: false]
    var nested: [[String]] = [["x"], [], ["y", "z"]]
    var empty: [String: String] = [:]
}

/// Codable used the unusual ways a hand-written `encode(to:)` may use it.
private struct Unusual: Encodable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: Encoder) throws {
        var first = encoder.container(keyedBy: Key.self)
        try first.encode("first", forKey: Key("b"))
        try first.encode(1, forKey: Key("twice"))
        var nested = first.nestedContainer(keyedBy: Key.self, forKey: Key("nested"))
        try first.encode(2, forKey: Key("twice"))  // the parent written to while a nested container is open
        try nested.encode(true, forKey: Key("late"))
        // The same container asked for again keeps what the first one wrote.
        var again = encoder.container(keyedBy: Key.self)
        try again.encode("again", forKey: Key("a"))
        var list = again.nestedUnkeyedContainer(forKey: Key("list"))
        try list.encode("x")
        try list.encodeNil()
        // A super encoder used only after its parent wrote another key.
        let parent = again.superEncoder()
        try again.encode(3, forKey: Key("z"))
        var inherited = parent.container(keyedBy: Key.self)
        try inherited.encode("base", forKey: Key("p"))
    }
}

@Suite struct JSONValueEncoderTests {
    @Test func encoderWritesFoundationsTextForEveryCodableShape() throws {
        let foundation = String(decoding: try JSONCoding.encoder.encode(Shapes()), as: UTF8.self)
        #expect(try JSONValueEncoder.jsonText(Shapes()) == foundation)
    }

    @Test func containersUsedOutOfOrderOrTwiceGiveFoundationsText() throws {
        let foundation = String(decoding: try JSONCoding.encoder.encode(Unusual()), as: UTF8.self)
        #expect(foundation == #"{"a":"again","b":"first","list":["x",null],"nested":{"late":true},"super":{"p":"base"},"twice":2,"z":3}"#)
        #expect(try JSONValueEncoder.jsonText(Unusual()) == foundation)
    }

    @Test func typesFoundationSpecialCasesAreRefusedNotWrittenDifferently() {
        #expect(throws: EncodingError.self) { try JSONValueEncoder.jsonText(["d": Decimal(1)]) }
        #expect(throws: EncodingError.self) { try JSONValueEncoder.jsonText([Data([1, 2])]) }
        #expect(throws: EncodingError.self) { try JSONValueEncoder.jsonText(URL(fileURLWithPath: "/tmp")) }
    }

    @Test func aRefusalNamesThePathToTheValue() {
        do {
            _ = try JSONValueEncoder.jsonText(["outer": [["a": Decimal(1)]]])
            Issue.record("encoded a Decimal")
        } catch let EncodingError.invalidValue(_, context) {
            #expect(context.codingPath.map(\.stringValue) == ["outer", "Index 0", "a"])
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func anUnsignedIntegerBeyondSignedJSONIsRefusedWithItsPath() throws {
        struct Wrapped: Encodable { var values: [UInt64]; var single: UInt64 }
        for (value, path) in [(Wrapped(values: [1, .max], single: 1), ["values", "Index 1"]), (Wrapped(values: [], single: .max), ["single"])] {
            do {
                _ = try JSONValueEncoder.jsonText(value)
                Issue.record("encoded \(value)")
            } catch let EncodingError.invalidValue(_, context) {
                #expect(context.codingPath.map(\.stringValue) == path)
            } catch {
                Issue.record("\(error)")
            }
        }
        #expect(try JSONValueEncoder.jsonText([UInt64(Int64.max)]) == "[9223372036854775807]")
    }
}
