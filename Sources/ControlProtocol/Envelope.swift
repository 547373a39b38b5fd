import Foundation

/// The protocol version both sides speak; a request with another `v` is refused.
public let controlProtocolVersion = 1

/// The largest request or response line, newline excluded (interfaces.md: 64 KiB).
public let maximumLineLength = 64 * 1024

/// The longest span a request may name (`clock.advance`, the window of
/// `deadlines.upcoming`): 20 years of 366 days, in seconds.
public let longestSpanSeconds: Int64 = 20 * 366 * 86400

/// One request line: `{"v":1,"id":"…","op":"dispute.open","args":{…}}`.
public struct ControlRequest: Sendable, Codable, Equatable {
    public var v: Int
    /// The request id; for write operations it is also the idempotency key.
    public var id: String
    public var op: String
    public var args: JSONValue

    public init(id: String, op: String, args: JSONValue = .object([:]), v: Int = controlProtocolVersion) {
        self.v = v
        self.id = id
        self.op = op
        self.args = args
    }

    enum CodingKeys: String, CodingKey { case v, id, op, args }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        v = try c.decode(Int.self, forKey: .v)
        id = try c.decode(String.self, forKey: .id)
        op = try c.decode(String.self, forKey: .op)
        args = try c.decodeIfPresent(JSONValue.self, forKey: .args) ?? .object([:])
    }
}

/// The error codes of interfaces.md.
public enum ControlErrorCode: String, Sendable, Codable, CaseIterable {
    case badRequest = "bad_request"
    case notFound = "not_found"
    case conflict
    case duplicateMismatch = "duplicate_mismatch"
    case forbidden
    case tooLarge = "too_large"
    case unavailable
    case `internal`
}

/// A refusal: a code a program can branch on and a sentence a person can act on.
public struct ControlError: Error, Sendable, Codable, Equatable, CustomStringConvertible {
    public var code: ControlErrorCode
    public var message: String

    public init(_ code: ControlErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// One response line: `ok` with a `result`, or not `ok` with an `error`.
public struct ControlResponse: Sendable, Codable, Equatable {
    public var v: Int
    public var id: String
    public var ok: Bool
    public var result: JSONValue?
    public var error: ControlError?

    public static func success(id: String, result: JSONValue) -> ControlResponse {
        ControlResponse(v: controlProtocolVersion, id: id, ok: true, result: result, error: nil)
    }

    public static func failure(id: String, _ error: ControlError) -> ControlResponse {
        ControlResponse(v: controlProtocolVersion, id: id, ok: false, result: nil, error: error)
    }

    /// The response as one line, terminated by `\n`.
    public func encodedLine() -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        jsonValue.writeJSON(into: &out)
        out.append(0x0A)
        return Data(out)
    }

    /// Reads one response line with the protocol's own JSON reader: a list of
    /// 100,000 disputes (80 MB) took Foundation's decoder, going through
    /// Codable for every nested value, 50 % of disputectl's time.
    public static func decode(line: some Collection<UInt8>) throws -> ControlResponse {
        guard case let .object(fields) = try JSONValue.parse(line),
              case let .int(v)? = fields["v"], case let .string(id)? = fields["id"], case let .bool(ok)? = fields["ok"]
        else { throw NotAResponse() }
        var error: ControlError?
        if let value = fields["error"], value != .null {
            guard case let .object(e) = value, case let .string(raw)? = e["code"], let code = ControlErrorCode(rawValue: raw),
                  case let .string(message)? = e["message"] else { throw NotAResponse() }
            error = ControlError(code, message)
        }
        let result = fields["result"].flatMap { $0 == .null ? nil : $0 }
        return ControlResponse(v: Int(v), id: id, ok: ok, result: result, error: error)
    }

    /// The response as a JSON value, with the keys and shape Codable gives it.
    public var jsonValue: JSONValue {
        var fields: [String: JSONValue] = ["v": .int(Int64(v)), "id": .string(id), "ok": .bool(ok)]
        if let result { fields["result"] = result }
        if let error { fields["error"] = .object(["code": .string(error.code.rawValue), "message": .string(error.message)]) }
        return .object(fields)
    }
}

/// A line that parses as JSON but is not a control-protocol response.
struct NotAResponse: Error {}

extension ControlRequest {
    /// Decodes one request line and says precisely what is wrong with a bad one.
    ///
    /// The returned error carries the request id when it could be read, so that
    /// the client can match the refusal to its request.
    public static func decode(line: some Collection<UInt8>) -> Result<ControlRequest, RequestRejection> {
        let bytes = Array(line)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            return .failure(RequestRejection(id: "", error: ControlError(.badRequest, "request is not valid UTF-8")))
        }
        let object: JSONValue
        do {
            object = try JSONValue.parse(bytes)
        } catch {
            return .failure(RequestRejection(id: "", error: ControlError(.badRequest, "request is not valid JSON: \(error)")))
        }
        guard case let .object(fields) = object else {
            return .failure(RequestRejection(id: "", error: ControlError(.badRequest, "request must be a JSON object")))
        }
        let id: String
        switch fields["id"] {
        case let .string(s)?: id = s
        case nil: return .failure(RequestRejection(id: "", error: ControlError(.badRequest, "request has no 'id'")))
        default: return .failure(RequestRejection(id: "", error: ControlError(.badRequest, "'id' must be a string")))
        }
        // Logged with every write and kept as the idempotency key: one line of text.
        guard !id.isEmpty, id.utf8.count <= 200, !PlainText.hasControlCharacters(id) else {
            return .failure(RequestRejection(id: id, error: ControlError(.badRequest, "'id' must be 1 to 200 bytes without control characters")))
        }
        switch fields["v"] {
        case .int(Int64(controlProtocolVersion))?: break
        case nil: return .failure(RequestRejection(id: id, error: ControlError(.badRequest, "request has no 'v' (protocol version)")))
        case let other?:
            return .failure(RequestRejection(id: id, error: ControlError(.badRequest,
                "unsupported protocol version: 'v' is \(other.jsonText()); this daemon speaks v\(controlProtocolVersion)")))
        }
        guard case let .string(op)? = fields["op"] else {
            return .failure(RequestRejection(id: id, error: ControlError(.badRequest, "request has no 'op' string")))
        }
        let args = fields["args"] ?? .object([:])
        guard case .object = args else {
            return .failure(RequestRejection(id: id, error: ControlError(.badRequest, "'args' must be a JSON object")))
        }
        for key in fields.keys where !["v", "id", "op", "args"].contains(key) {
            return .failure(RequestRejection(id: id, error: ControlError(.badRequest, "unknown field '\(key)' in request")))
        }
        return .success(ControlRequest(id: id, op: op, args: args))
    }
}

/// A request line that was refused before it reached an operation, with the
/// request id when it could be read.
public struct RequestRejection: Error, Sendable, Equatable {
    public var id: String
    public var error: ControlError
    public init(id: String, error: ControlError) {
        self.id = id
        self.error = error
    }
}
