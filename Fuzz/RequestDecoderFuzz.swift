// libFuzzer target: the control protocol's request decoder must answer every
// byte string with a request or a named refusal, never crash or hang.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    // The hand-written JSON reader accepts nothing Foundation's decoder refuses
    // and reads the same value; its writer's text reads back as that value.
    if let ours = try? JSONValue.parse(bytes) {
        let theirs = try? JSONCoding.decoder.decode(JSONValue.self, from: Data(bytes))
        precondition(theirs.map { sameValue($0, ours) } ?? false, "parse disagrees with Foundation")
        precondition((try? JSONValue.parse(Array(ours.jsonText().utf8))) == ours, "written text does not read back")
    }
    switch ControlRequest.decode(line: bytes) {
    case let .success(request):
        // A decoded request re-encodes and decodes to itself.
        if let encoded = try? JSONCoding.encoder.encode(request),
           case let .success(again) = ControlRequest.decode(line: Array(encoded)) {
            precondition(again == request, "request did not round-trip")
        }
    case let .failure(rejection):
        precondition(!rejection.error.message.isEmpty, "refusal without a message")
        let line = ControlResponse.failure(id: rejection.id, rejection.error).encodedLine()
        precondition(line.last == 0x0A && !line.dropLast().contains(0x0A), "response is not one line")
    }
    return 0
}

/// JSON equality, except that Foundation reads a numeral with a fraction beyond
/// 2^53 (11111105557183981.055) as the integer of its digits, one unit off the
/// nearest double, which is what this reader keeps (found by this fuzzer).
func sameValue(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case let (.int(i), .double(d)), let (.double(d), .int(i)):
        return abs(d) >= 9_007_199_254_740_992 ? abs(Double(i) - d) <= d.ulp : Double(i) == d
    case let (.array(x), .array(y)):
        return x.count == y.count && zip(x, y).allSatisfy(sameValue)
    case let (.object(x), .object(y)):
        return x.count == y.count && x.allSatisfy { key, value in y[key].map { sameValue(value, $0) } ?? false }
    default:
        return a == b
    }
}
