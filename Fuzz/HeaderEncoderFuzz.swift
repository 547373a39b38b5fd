// libFuzzer target: whatever a merchant name or subject contains, the MIME
// header encoder yields 7-bit header lines where every continuation starts with
// white space (no new header can be injected), and encoded words round-trip.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHeaderEncoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for header in [MIMEEncoding.header("Subject", text),
                   (try? MailAddress(displayName: text, address: "m@shop.example")).map { MIMEEncoding.addressHeader("To", $0) } ?? "To: x"] {
        precondition(header.utf8.allSatisfy { $0 < 0x80 && $0 != 0x0D && $0 != 0 }, "8-bit, CR or NUL in a header")
        let lines = header.split(separator: "\n", omittingEmptySubsequences: false)
        precondition(lines.dropFirst().allSatisfy { $0.first == " " }, "a continuation line could start a new header")
        precondition(lines.allSatisfy { $0.utf8.count <= 998 }, "header line over 998 octets")
    }
    if !MIMEEncoding.isPlainHeaderText(text) {
        precondition(MIMEEncoding.decodeEncodedWords(MIMEEncoding.encodedWords(text)) == text, "encoded words do not round-trip")
    }
    let qp = MIMEEncoding.quotedPrintable(text)
    precondition(qp.split(separator: "\n", omittingEmptySubsequences: false).allSatisfy { $0.utf8.count <= 76 }, "QP line over 76")
    return 0
}
