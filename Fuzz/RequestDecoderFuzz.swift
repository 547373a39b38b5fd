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
    // The pull reader, walked generically, reads what parse reads; it accepts
    // nothing more than parse but a repeated key (handed on, not refused).
    if let text = String(validating: bytes, as: UTF8.self) {
        let parsed = Result { () throws(JSONSyntaxError) -> JSONValue in try JSONValue.parse(bytes) }
        let pulled = Result { () throws(JSONSyntaxError) -> JSONValue in try JSONPullReader.read(text) { (r: inout JSONPullReader) throws(JSONSyntaxError) in try walk(&r) } }
        switch (parsed, pulled) {
        case let (.success(a), .success(b)): precondition(samePulled(a, b), "pull reader disagrees with parse")
        case (.success, .failure): preconditionFailure("pull reader refuses what parse reads")
        case let (.failure(error), .success): precondition(error.reason.hasPrefix("repeated key"), "pull reader reads what parse refuses")
        case (.failure, .failure): break
        }
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
    sameJSON(a, b) { a, b in
        switch (a, b) {
        case let (.int(i), .double(d)), let (.double(d), .int(i)):
            return abs(d) >= 9_007_199_254_740_992 ? abs(Double(i) - d) <= d.ulp : Double(i) == d
        default:
            return a == b
        }
    }
}

/// Equality of two values' shapes, their scalars compared by `scalar`.
func sameJSON(_ a: JSONValue, _ b: JSONValue, scalar: (JSONValue, JSONValue) -> Bool) -> Bool {
    switch (a, b) {
    case let (.array(x), .array(y)):
        return x.count == y.count && zip(x, y).allSatisfy { sameJSON($0, $1, scalar: scalar) }
    case let (.object(x), .object(y)):
        return x.count == y.count && x.allSatisfy { key, value in y[key].map { sameJSON(value, $0, scalar: scalar) } ?? false }
    default:
        return scalar(a, b)
    }
}

/// Any JSON value through the pull reader's public calls only, trying each
/// kind in turn on a copy of the reader. A number that is not an integer is
/// passed over (the pull reader reads none) and stands as NaN.
func walk(_ r: inout JSONPullReader) throws(JSONSyntaxError) -> JSONValue {
    if try r.skipNull() { return .null }
    var attempt = r
    if let b = try? attempt.bool() { r = attempt; return .bool(b) }
    attempt = r
    if let s = try? attempt.string() { r = attempt; return .string(s) }
    attempt = r
    if let i = try? attempt.int64() { r = attempt; return .int(i) }
    attempt = r
    if (try? attempt.beginObject()) != nil {
        r = attempt
        var fields: [String: JSONValue] = [:]
        while let key = try r.nextKey() { fields[key] = try walk(&r) }
        return .object(fields)
    }
    attempt = r
    if (try? attempt.beginArray()) != nil {
        r = attempt
        var items: [JSONValue] = []
        while try r.nextElement() { items.append(try walk(&r)) }
        return .array(items)
    }
    try r.skipValue()
    return .double(.nan)
}

/// Equality where the walker's NaN stands for any non-integral number.
func samePulled(_ parsed: JSONValue, _ pulled: JSONValue) -> Bool {
    sameJSON(parsed, pulled) { a, b in
        if case .double = a, case let .double(d) = b, d.isNaN { return true }
        return a == b
    }
}
