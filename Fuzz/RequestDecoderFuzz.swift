// libFuzzer target: the control protocol's request decoder must answer every
// byte string with a request or a named refusal, never crash or hang.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
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
