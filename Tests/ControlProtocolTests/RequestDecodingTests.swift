import Foundation
import Testing
@testable import ControlProtocol

@Suite struct RequestDecodingTests {
    private func reject(_ text: String) -> RequestRejection? {
        if case let .failure(r) = ControlRequest.decode(line: Array(text.utf8)) { return r }
        return nil
    }

    @Test func decodesAWellFormedRequest() throws {
        let result = ControlRequest.decode(line: Array(#"{"v":1,"id":"r1","op":"status","args":{"x":1}}"#.utf8))
        let request = try result.get()
        #expect(request == ControlRequest(id: "r1", op: "status", args: .object(["x": .int(1)])))
    }

    @Test func missingArgsMeansEmptyObject() throws {
        let request = try ControlRequest.decode(line: Array(#"{"v":1,"id":"r1","op":"status"}"#.utf8)).get()
        #expect(request.args == .object([:]))
    }

    @Test func invalidJSONIsABadRequest() {
        #expect(reject("{nope")?.error == ControlError(.badRequest, "request is not valid JSON: expected a string key at byte 1"))
        #expect(reject(#"{"v":1,"id":"r1","op":"status","op":"dispute.open"}"#)?.error
                == ControlError(.badRequest, #"request is not valid JSON: repeated key "op" at byte 31"#))
    }

    @Test func invalidUTF8IsNamed() {
        let r = ControlRequest.decode(line: [0x7B, 0xFF, 0xFE, 0x7D])
        guard case let .failure(rejection) = r else { Issue.record("accepted invalid UTF-8"); return }
        #expect(rejection.error.message == "request is not valid UTF-8")
    }

    @Test func wrongVersionKeepsTheRequestID() {
        let r = reject(#"{"v":2,"id":"abc","op":"status"}"#)
        #expect(r?.id == "abc")
        #expect(r?.error.code == .badRequest)
        #expect(r?.error.message == "unsupported protocol version: 'v' is 2; this daemon speaks v1")
        #expect(reject(#"{"v":"1","id":"abc","op":"status"}"#)?.error.message
            == #"unsupported protocol version: 'v' is "1"; this daemon speaks v1"#)
    }

    @Test func nonStringIDIsRefused() {
        #expect(reject(#"{"v":1,"id":5,"op":"status"}"#)?.error.message == "'id' must be a string")
    }

    @Test func argsMustBeAnObject() {
        #expect(reject(#"{"v":1,"id":"a","op":"status","args":[1]}"#)?.error.message == "'args' must be a JSON object")
    }

    @Test func unknownTopLevelFieldIsNamed() {
        #expect(reject(#"{"v":1,"id":"a","op":"status","extra":true}"#)?.error.message == "unknown field 'extra' in request")
    }

    @Test func responseLineEndsWithNewlineAndRoundTrips() throws {
        let response = ControlResponse.failure(id: "x", ControlError(.conflict, "no"))
        let line = response.encodedLine()
        #expect(line.last == 0x0A)
        #expect(try JSONDecoder().decode(ControlResponse.self, from: line.dropLast()) == response)
        #expect(String(decoding: line, as: UTF8.self).contains(#""code":"conflict""#))
    }

    @Test func responseReaderAgreesWithCodableOnWhatTheDaemonWrites() throws {
        let responses = [
            ControlResponse.failure(id: "x", ControlError(.conflict, "no")),
            ControlResponse.success(id: "y", result: .object(["disputes": .array([.object(["id": .string("D-1"), "amount": .double(1.5)])]), "more": .bool(false)])),
            ControlResponse.success(id: "z", result: .array([])),
        ]
        for response in responses {
            let line = response.encodedLine().dropLast()
            #expect(try ControlResponse.decode(line: line) == response)
            #expect(try ControlResponse.decode(line: line) == JSONDecoder().decode(ControlResponse.self, from: line))
        }
    }

    @Test(arguments: [
        #"{"v":1,"id":"x"}"#, #"{"v":1,"id":"x","ok":"yes"}"#, #"[1]"#, #"{"v":1,"id":"x","ok":false,"error":{"code":"teapot","message":"m"}}"#,
        #"{"v":1,"id":"x","ok":false,"error":"boom"}"#, #"{"v":1,"id":"x","ok":true"#,
    ])
    func responseReaderRefusesWhatIsNotAResponse(line: String) {
        #expect(throws: (any Error).self) { try ControlResponse.decode(line: Array(line.utf8)) }
    }

    @Test func writeOperationsNeedAdminAndReadsNeedReader() {
        #expect(ControlRole.reader.may(.status))
        #expect(!ControlRole.reader.may(.disputeOpen))
        #expect(ControlRole.admin.may(.disputeOpen))
        #expect(!ControlRole.none.may(.status))
    }
}

@Suite struct FuzzRegressionTests {
    /// Found by `make fuzz`: an integral double re-encoded in exponent form reads back as an integer.
    @Test func largeIntegralNumbersRoundTripAsTheSameJSONValue() throws {
        let line = Array(#"{"v":1,"id":"r","op":"","args":{"n":[1.1111111105555558e+16, 1911111111111111111111]}}"#.utf8)
        let request = try ControlRequest.decode(line: line).get()
        let again = try ControlRequest.decode(line: Array(try JSONCoding.encoder.encode(request))).get()
        #expect(again == request)
    }
}

@Suite struct TimeTextTests {
    @Test func clockTimesParse() {
        #expect(parseClockTime("16:00") == 960)
        #expect(parseClockTime("00:00") == 0)
        #expect(parseClockTime("23:59") == 1439)
        #expect(parseClockTime("24:00") == nil)
        #expect(parseClockTime("9:00") == nil)
    }

    @Test func instantsParseWithZOrOffsetAndFormatInUTC() {
        #expect(Instant.parse("2027-01-12T09:00:00Z") == Instant.parse("2027-01-12T10:00:00+01:00"))
        #expect(Instant.parse("2027-01-12T09:00:00.5Z") != nil)
        #expect(Instant.parse("12 Jan 2027") == nil)
        #expect(Instant.format(Instant.parse("2027-01-12T10:00:00+01:00")!) == "2027-01-12T09:00:00Z")
    }
}
