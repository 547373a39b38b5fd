/// A direct JSON reader and writer for ``JSONValue``: the hot path of every
/// control request (the request line, the idempotency fingerprint, the stored
/// answer and the response line).
///
/// Foundation's `JSONEncoder`/`JSONDecoder` go through `Codable`'s generic
/// containers; profiling the daemon under `dispute.open` load showed them as
/// the largest single cost per request. This writer emits the same text as
/// `JSONCoding.encoder` for these values (keys sorted, slashes not escaped,
/// control characters as `\uXXXX`, integral numbers without a fraction), so
/// fingerprints stored by earlier versions still match.
extension JSONValue {
    /// The value as compact JSON text with sorted keys.
    public func jsonText() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        writeJSON(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the value as compact JSON text with sorted keys.
    public func writeJSON(into out: inout [UInt8]) { write(into: &out, indent: nil) }

    /// The value as indented JSON text with sorted keys: the same text as
    /// `JSONCoding.encoder` with `.prettyPrinted` (what `disputectl --json`
    /// prints), written directly (Foundation took 2 s of CPU for a list of
    /// 20,000 disputes).
    public func prettyJSONText() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        write(into: &out, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Compact when `indent` is nil; otherwise Foundation's pretty layout at
    /// that depth: two spaces a level, `"key" : value`, one element a line, and
    /// an empty container as an opening and a closing line with an empty line
    /// between.
    func write(into out: inout [UInt8], indent depth: Int?) {
        func newline(_ level: Int?) {
            guard let level else { return }
            out.append(0x0A)
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
        }
        let inner = depth.map { $0 + 1 }
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case let .bool(b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case let .int(i): out.append(contentsOf: String(i).utf8)
        case let .double(d): Self.writeNumber(d, into: &out)
        case let .string(s): Self.writeString(s, into: &out)
        case let .array(items):
            out.append(UInt8(ascii: "["))
            if items.isEmpty && depth != nil { out.append(0x0A) }
            for (n, item) in items.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                newline(inner)
                item.write(into: &out, indent: inner)
            }
            newline(depth)
            out.append(UInt8(ascii: "]"))
        case let .object(fields):
            out.append(UInt8(ascii: "{"))
            if fields.isEmpty && depth != nil { out.append(0x0A) }
            for (n, key) in fields.keys.sorted().enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                newline(inner)
                Self.writeString(key, into: &out)
                out.append(contentsOf: (depth == nil ? ":" : " : ").utf8)
                fields[key].unsafelyUnwrapped.write(into: &out, indent: inner)
            }
            newline(depth)
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeNumber(_ d: Double, into out: inout [UInt8]) {
        guard d.isFinite else {
            // JSON has no infinities or NaN; nothing in the daemon produces them.
            out.append(contentsOf: "null".utf8)
            return
        }
        if d == d.rounded(), abs(d) < 1e15 {
            out.append(contentsOf: String(Int64(d)).utf8)
        } else {
            out.append(contentsOf: "\(d)".utf8)
        }
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            // Runs of bytes that need no escape are copied whole.
            var runStart = 0
            for (i, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
                runStart = i + 1
                out.append(0x5C)
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                default:
                    out.append(UInt8(ascii: "u"))
                    out.append(0x30)
                    out.append(0x30)
                    out.append(hexDigits[Int(byte >> 4)])
                    out.append(hexDigits[Int(byte & 15)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Why a text is not one JSON value, with the byte offset where reading stopped.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "\(reason) at byte \(offset)" }
}

extension JSONValue {
    /// Nesting deeper than this is refused (a request never needs more than 3).
    public static let maximumNesting = 64

    /// Reads exactly one JSON value (RFC 8259) from UTF-8 bytes; surrounding
    /// white space is allowed, anything else after the value is not. Strings
    /// must be valid UTF-8 and `\u` escapes valid UTF-16. Integers that fit in
    /// 64 bits are `.int`, other numbers `.double`. An object with a repeated
    /// key is refused: readers disagree on which value counts (Foundation's
    /// decoder keeps the first, JSONSerialization the last), so a request that
    /// depends on it is ambiguous.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONSyntaxError) -> JSONValue {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer throws(JSONSyntaxError) -> JSONValue in
            var reader = JSONReader(bytes: buffer)
            reader.skipWhitespace()
            let value = try reader.value(depth: 0)
            reader.skipWhitespace()
            guard reader.position == buffer.count else { throw reader.error("unexpected text after the JSON value") }
            return value
        }
    }
}

struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    func error(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: position, reason: reason)
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func expect(_ literal: StaticString, _ value: JSONValue) throws(JSONSyntaxError) -> JSONValue {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error("truncated literal") }
        for i in 0..<count where bytes[position + i] != literal.utf8Start[i] {
            throw error("invalid literal")
        }
        position += count
        return value
    }

    mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard position < bytes.count else { throw error("unexpected end of text") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= JSONValue.maximumNesting else { throw error("nested too deeply") }
        position += 1
        var fields: [String: JSONValue] = [:]
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(fields)
        }
        while true {
            skipWhitespace()
            let keyStart = position
            let key = try quotedString("a string key")
            guard fields[key] == nil else { throw JSONSyntaxError(offset: keyStart, reason: "repeated key \"\(key.prefix(64))\"") }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            fields[key] = try value(depth: depth)
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of text in an object") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(fields)
            } else {
                throw error("expected ',' or '}'")
            }
        }
    }

    mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= JSONValue.maximumNesting else { throw error("nested too deeply") }
        position += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of text in an array") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            } else {
                throw error("expected ',' or ']'")
            }
        }
    }

    mutating func hex4() throws(JSONSyntaxError) -> UInt16 {
        guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt16 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | UInt16(d)
            position += 1
        }
        return v
    }

    /// The string at the position, which must open with a quote (else an
    /// error saying `what` was expected).
    mutating func quotedString(_ what: String) throws(JSONSyntaxError) -> String {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected \(what)") }
        return try string()
    }

    mutating func string() throws(JSONSyntaxError) -> String {
        position += 1  // the opening quote
        let start = position
        // Fast path: no escapes. A string of ASCII only (what the daemon's own
        // texts nearly all are) needs no UTF-8 validation.
        var ored: UInt8 = 0
        while position < bytes.count {
            let c = bytes[position]
            if c == UInt8(ascii: "\"") {
                let text = UnsafeBufferPointer(start: bytes.baseAddress.unsafelyUnwrapped + start, count: position - start)
                let s: String
                if ored < 0x80 {
                    s = String(decoding: text, as: UTF8.self)
                } else {
                    guard let valid = String(validating: text, as: UTF8.self) else {
                        throw JSONSyntaxError(offset: start, reason: "string is not valid UTF-8")
                    }
                    s = valid
                }
                position += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            guard c >= 0x20 else { throw error("control character in a string") }
            ored |= c
            position += 1
        }
        var out = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
        while position < bytes.count {
            let c = bytes[position]
            switch c {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else {
                    throw JSONSyntaxError(offset: start, reason: "string is not valid UTF-8")
                }
                position += 1
                return s
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { throw error("truncated escape") }
                let e = bytes[position]
                position += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    var scalar = UInt32(try hex4())
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard position + 2 <= bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired UTF-16 surrogate in \\u escape")
                        }
                        position += 2
                        let low = UInt32(try hex4())
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired UTF-16 surrogate in \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("unpaired UTF-16 surrogate in \\u escape")
                    }
                    out.append(contentsOf: String(Character(Unicode.Scalar(scalar).unsafelyUnwrapped)).utf8)
                default: throw error("invalid escape")
                }
            default:
                guard c >= 0x20 else { throw error("control character in a string") }
                out.append(c)
                position += 1
            }
        }
        throw error("unterminated string")
    }

    mutating func number() throws(JSONSyntaxError) -> JSONValue {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        func digits(_ r: inout JSONReader) -> Int {
            let s = r.position
            while r.position < r.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(r.bytes[r.position]) { r.position += 1 }
            return r.position - s
        }
        let intStart = position
        let intDigits = digits(&self)
        guard intDigits > 0 else { throw error("invalid number") }
        guard !(intDigits > 1 && bytes[intStart] == UInt8(ascii: "0")) else { throw JSONSyntaxError(offset: intStart, reason: "leading zero in a number") }
        var integral = true
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            integral = false
            position += 1
            guard digits(&self) > 0 else { throw error("invalid number") }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            integral = false
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digits(&self) > 0 else { throw error("invalid number") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if integral, let i = Int64(text) { return .int(i) }
        guard let d = Double(text), d.isFinite else { throw JSONSyntaxError(offset: start, reason: "number out of range") }
        return .double(d)
    }
}

/// Reads a JSON text value by value, for a reader that knows the shape it
/// expects (the daemon's stored dispute bodies): no tree of dictionaries is
/// built, so a 1.5 KB body reads in a few microseconds instead of the ~55 that
/// Foundation's `JSONDecoder` takes through `Codable`.
///
/// The same rules as ``JSONValue/parse(_:)`` for what is JSON (strings, escapes,
/// numbers, nesting); a value of the wrong kind, or anything after the
/// document, is an error naming the byte offset. One difference: a repeated
/// key is not refused here, each occurrence is handed to the caller in turn
/// (the dispute reader keeps the last; no writer of stored bodies repeats one).
public struct JSONPullReader {
    var reader: JSONReader
    /// Set by `beginObject`/`beginArray`: no separator before the next member.
    var atFirstMember = false
    /// Containers open around the position; at most ``JSONValue/maximumNesting``, as for `parse`.
    var depth = 0

    /// Reads `text` with `body`, which must consume exactly one value.
    public static func read<T>(_ text: String, _ body: (inout JSONPullReader) throws(JSONSyntaxError) -> T) throws(JSONSyntaxError) -> T {
        var text = text
        var outcome: Result<T, JSONSyntaxError>? = nil
        text.withUTF8 { buffer in
            outcome = Result { () throws(JSONSyntaxError) -> T in
                var pull = JSONPullReader(reader: JSONReader(bytes: buffer))
                pull.reader.skipWhitespace()
                let value = try body(&pull)
                pull.reader.skipWhitespace()
                guard pull.reader.position == buffer.count else { throw pull.error("unexpected text after the JSON value") }
                return value
            }
        }
        return try outcome.unsafelyUnwrapped.get()
    }

    /// An error at the current position.
    public func error(_ reason: String) -> JSONSyntaxError { reader.error(reason) }

    mutating func expectByte(_ byte: UInt8, _ what: String) throws(JSONSyntaxError) {
        reader.skipWhitespace()
        guard reader.position < reader.bytes.count, reader.bytes[reader.position] == byte else { throw error("expected \(what)") }
        reader.position += 1
    }

    /// Whether the next value is `null`; consumes it if so.
    public mutating func skipNull() throws(JSONSyntaxError) -> Bool {
        reader.skipWhitespace()
        guard reader.position < reader.bytes.count, reader.bytes[reader.position] == UInt8(ascii: "n") else { return false }
        _ = try reader.expect("null", .null)
        return true
    }

    public mutating func beginObject() throws(JSONSyntaxError) {
        try expectByte(UInt8(ascii: "{"), "an object")
        try enterContainer()
    }

    mutating func enterContainer() throws(JSONSyntaxError) {
        // Named at the bracket that opens one level too many, as parse does.
        guard depth < JSONValue.maximumNesting else { throw JSONSyntaxError(offset: reader.position - 1, reason: "nested too deeply") }
        depth += 1
        atFirstMember = true
    }

    /// The next key of the object being read (positioned at its value), or nil
    /// after the object's closing brace.
    public mutating func nextKey() throws(JSONSyntaxError) -> String? {
        guard try nextMember(closing: UInt8(ascii: "}")) else { return nil }
        reader.skipWhitespace()
        let key = try reader.quotedString("a string key")
        try expectByte(UInt8(ascii: ":"), "':'")
        return key
    }

    public mutating func beginArray() throws(JSONSyntaxError) {
        try expectByte(UInt8(ascii: "["), "an array")
        try enterContainer()
    }

    /// Whether another element of the array being read follows (positioned at
    /// it); false after the array's closing bracket.
    public mutating func nextElement() throws(JSONSyntaxError) -> Bool {
        try nextMember(closing: UInt8(ascii: "]"))
    }

    /// Steps over the separator before the next member, or over the closing
    /// byte (then false). A container that ends leaves its parent after a member.
    mutating func nextMember(closing: UInt8) throws(JSONSyntaxError) -> Bool {
        reader.skipWhitespace()
        guard reader.position < reader.bytes.count else { throw error("unexpected end of text") }
        let first = atFirstMember
        atFirstMember = false
        if reader.bytes[reader.position] == closing {
            reader.position += 1
            depth -= 1
            return false
        }
        if !first {
            guard reader.bytes[reader.position] == UInt8(ascii: ",") else { throw error(closing == UInt8(ascii: "}") ? "expected ',' or '}'" : "expected ',' or ']'") }
            reader.position += 1
            reader.skipWhitespace()
            guard reader.position < reader.bytes.count, reader.bytes[reader.position] != closing else { throw error("expected a value after ','") }
        }
        return true
    }

    public mutating func string() throws(JSONSyntaxError) -> String {
        reader.skipWhitespace()
        return try reader.quotedString("a string")
    }

    public mutating func int64() throws(JSONSyntaxError) -> Int64 {
        reader.skipWhitespace()
        let start = reader.position
        guard start < reader.bytes.count, reader.bytes[start] == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(reader.bytes[start]),
              case let .int(i) = try reader.number() else {
            throw JSONSyntaxError(offset: start, reason: "expected an integer")
        }
        return i
    }

    public mutating func int() throws(JSONSyntaxError) -> Int { Int(try int64()) }

    public mutating func bool() throws(JSONSyntaxError) -> Bool {
        reader.skipWhitespace()
        guard reader.position < reader.bytes.count else { throw error("expected true or false") }
        switch reader.bytes[reader.position] {
        case UInt8(ascii: "t"): _ = try reader.expect("true", .bool(true)); return true
        case UInt8(ascii: "f"): _ = try reader.expect("false", .bool(false)); return false
        default: throw error("expected true or false")
        }
    }

    /// Reads past a value of any kind (a key this reader does not know).
    public mutating func skipValue() throws(JSONSyntaxError) {
        reader.skipWhitespace()
        _ = try reader.value(depth: depth)
        atFirstMember = false
    }
}
