import Foundation
import Testing
@testable import NoticeSpool

/// xorshift64*: reproducible inputs for the property tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

@Suite struct MIMEEncodingTests {
    @Test func encodedWordsRoundTripAndStayShort() {
        let name = "Åsa Öberg Handelsbolag med ett mycket långt namn — och ännu längre 🚀"
        let words = MIMEEncoding.encodedWords(name)
        #expect(words.allSatisfy { $0.utf8.count <= 75 })
        #expect(MIMEEncoding.decodeEncodedWords(words) == name)
    }

    @Test func crlfInASubjectCannotOpenANewHeader() {
        let header = MIMEEncoding.header("Subject", "Hello\r\nBcc: victim@example.com")
        // Every continuation line starts with white space, so no new field can begin.
        for line in header.split(separator: "\n").dropFirst() { #expect(line.first == " ") }
        #expect(!header.contains("\r"))
        #expect(header.utf8.allSatisfy { $0 < 0x80 })
    }

    @Test func plainSubjectsAreFoldedAt78Columns() {
        let header = MIMEEncoding.header("Subject", String(repeating: "word ", count: 40))
        #expect(header.split(separator: "\n").allSatisfy { $0.utf8.count <= 78 })
    }

    @Test func quotedPrintableKeepsLinesWithin76AndEncodesEqualsAndTrailingSpace() {
        let qp = MIMEEncoding.quotedPrintable(String(repeating: "ä=b ", count: 60) + "end \nnext")
        #expect(qp.split(separator: "\n").allSatisfy { $0.utf8.count <= 76 })
        #expect(qp.contains("=3D"))
        #expect(qp.contains("end=20\nnext"))
        #expect(qp.utf8.allSatisfy { $0 < 0x80 && $0 != 0x0D })
    }

    /// Decodes quoted-printable as a mail client would (RFC 2045 6.7).
    static func decodeQuotedPrintable(_ qp: String) -> [UInt8] {
        let bytes = Array(qp.utf8)
        var out: [UInt8] = []
        var i = 0
        func hexValue(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : c - 0x41 + 10 }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "=") {
                if i + 1 < bytes.count && bytes[i + 1] == 0x0A { i += 2; continue }  // soft break
                out.append(hexValue(bytes[i + 1]) << 4 | hexValue(bytes[i + 2]))
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    @Test(arguments: 0..<200)
    func quotedPrintableDecodesBackToTheTextWithinTheLineLimit(seed: Int) {
        var rng = SeededGenerator(state: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1)
        let pieces = ["a", "Z", " ", "\t", "=", "ä", "—", "🚀", "\n", "\r", ".", "word ", "x=y "]
        let text = (0..<Int.random(in: 0...300, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
        let qp = MIMEEncoding.quotedPrintable(text)
        #expect(Self.decodeQuotedPrintable(qp) == Array(text.utf8), "text \(text.debugDescription)")
        for line in qp.split(separator: "\n", omittingEmptySubsequences: false) {
            #expect(line.utf8.count <= 76)
            #expect(line.last != " " && line.last != "\t", "white space at a line's end: \(line.debugDescription)")
        }
        #expect(qp.utf8.allSatisfy { $0 < 0x80 && $0 != 0x0D })
    }

    @Test func addressesWithLineBreaksOrBracketsAreRefused() {
        for bad in ["a@b.example\r\nBcc: x@y", "a@b\n.example", "<a@b.example>", "a b@c.example", "a@b@c", "a@b.example\u{0}"] {
            #expect(throws: MailError.self) { _ = try MailAddress(displayName: nil, address: bad) }
        }
    }

    @Test func displayNamesWithQuotesOrNonASCIIAreEncoded() throws {
        let a = try MailAddress(displayName: "Evil\" <x@y>\nBcc: z", address: "ok@example.com")
        let header = MIMEEncoding.addressHeader("To", a)
        #expect(header.hasSuffix("<ok@example.com>"))
        #expect(header.contains("=?UTF-8?B?"))
        #expect(!header.contains("Bcc"))
    }

    @Test func composedMessageHasTheRequiredHeadersAndLFEndings() throws {
        let m = MailMessage(from: try MailAddress(parsing: "Disputes <d@provider.example>", field: "from"),
                            to: try MailAddress(displayName: "Müller GmbH", address: "m@shop.example"),
                            subject: "Reklamation D-1", date: 1_799_658_000, messageID: "D-1.1.disputeOpened@provider.example",
                            extraHeaders: [("X-Dispute-Id", "D-1"), ("X-Dispute-Notice-Kind", "disputeOpened")],
                            text: "Hallo\nWelt", html: "<p>Hallo</p>")
        let bytes = try MIMEComposer.compose(m)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!bytes.contains(0x0D))
        for h in ["Date: Mon, 11 Jan 2027 09:00:00 +0000", "Message-ID: <D-1.1.disputeOpened@provider.example>", "MIME-Version: 1.0",
                  "Auto-Submitted: auto-generated", "X-Dispute-Notice-Kind: disputeOpened"] {
            #expect(text.contains(h + "\n"), "\(h)")
        }
        let header = text.components(separatedBy: "\n\n").first!
        #expect(header.utf8.allSatisfy { $0 < 0x80 })
        #expect(text.split(separator: "\n", omittingEmptySubsequences: false).allSatisfy { $0.utf8.count <= 998 })
        #expect(text.range(of: "text/plain")!.lowerBound < text.range(of: "text/html")!.lowerBound)
    }

    @Test func badHeaderNamesAreRefused() throws {
        let a = try MailAddress(displayName: nil, address: "a@b.example")
        let m = MailMessage(from: a, to: a, subject: "s", date: 0, messageID: "x@y", extraHeaders: [("X-Bad\nName", "v")], text: "", html: "")
        #expect(throws: MailError.self) { _ = try MIMEComposer.compose(m) }
    }
}

@Suite struct SpoolWriterTests {
    func spool() throws -> SpoolWriter {
        let dir = "/tmp/spool-test-\(UUID().uuidString)"
        let w = SpoolWriter(directory: dir + "/outgoing")
        try w.prepare()
        return w
    }

    @Test func writeLandsInNewWithMode0640AndNothingInTmp() throws {
        let w = try spool()
        #expect(try w.write(noticeID: "D-1.1.disputeOpened", bytes: Array("hello\n".utf8)))
        let path = w.directory + "/new/D-1.1.disputeOpened.eml"
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "hello\n")
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
        #expect(mode == 0o640)
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.directory + "/tmp").isEmpty)
    }

    @Test func aNoticeIsNeverWrittenTwiceNorReplaced() throws {
        let w = try spool()
        #expect(try w.write(noticeID: "N1", bytes: Array("first".utf8)))
        #expect(try !w.write(noticeID: "N1", bytes: Array("second".utf8)))
        #expect(try String(contentsOfFile: w.directory + "/new/N1.eml", encoding: .utf8) == "first")
        // Claimed by the relay: still not written again.
        try FileManager.default.moveItem(atPath: w.directory + "/new/N1.eml", toPath: w.directory + "/cur/N1.eml")
        #expect(try !w.write(noticeID: "N1", bytes: Array("third".utf8)))
        #expect(!FileManager.default.fileExists(atPath: w.directory + "/new/N1.eml"))
    }

    @Test func pathTraversalIdsAreRefused() throws {
        let w = try spool()
        for id in ["../etc/passwd", "a/b", ".hidden", "", "x y"] {
            let error = #expect(throws: SpoolError.self) { try w.write(noticeID: id, bytes: [1]) }
            #expect(error?.kind == .unsafeNoticeID && error?.isUnsafeID == true)
        }
        // A system call's failure is the spool's, not the notice's.
        let readOnly = SpoolError(path: w.directory + "/tmp/N.eml", operation: "create", errno: EROFS)
        #expect(readOnly.kind == .system && !readOnly.isUnsafeID)
    }

    @Test func staleTmpFilesAreRemovedAtStart() throws {
        let w = try spool()
        #expect(FileManager.default.createFile(atPath: w.directory + "/tmp/half.eml", contents: Data("par".utf8)))
        #expect(try w.prepare() == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.directory + "/tmp").isEmpty)
    }
}

@Suite struct NoticeTemplateTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func shippedTemplatesLoadForEveryKindInEnglishSwedishAndGerman() throws {
        let t = try NoticeTemplates.load(directory: Self.root.appendingPathComponent("Notifications").path, overrideDirectory: nil)
        #expect(Set(t.locales).isSuperset(of: ["en", "sv", "de"]))
    }

    @Test func misspeltVariableIsAnErrorAtLoadTime() throws {
        let dir = "/tmp/tpl-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Self.root.appendingPathComponent("Notifications").path, toPath: dir)
        try "Dispute {{disputeID}}".write(toFile: dir + "/disputeOpened/en/subject.mustache", atomically: true, encoding: .utf8)
        #expect {
            _ = try NoticeTemplates.load(directory: dir, overrideDirectory: nil)
        } throws: { error in
            "\(error)".contains("subject.mustache: unknown variable 'disputeID'")
        }
    }

    @Test func aTemplateDirectoryThatCannotBeReadIsNamedOnceWithTheReason() throws {
        let shipped = Self.root.appendingPathComponent("Notifications").path
        let nowhere = "/tmp/tpl-\(UUID().uuidString)"
        #expect {
            _ = try NoticeTemplates.load(directory: nowhere, overrideDirectory: nil)
        } throws: { error in
            "\(error)" == "\(nowhere): cannot read the template directory: no such directory"
        }
        // An override directory that is not there overrides nothing; a file in its place is named.
        #expect(try NoticeTemplates.load(directory: shipped, overrideDirectory: nowhere).locales.contains("sv"))
        try "x".write(toFile: nowhere, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: nowhere) }
        #expect {
            _ = try NoticeTemplates.load(directory: shipped, overrideDirectory: nowhere)
        } throws: { error in
            "\(error)" == "\(nowhere): cannot read the template override directory: not a directory"
        }
    }

    @Test func overrideDirectoryReplacesAShippedTemplate() throws {
        let over = "/tmp/tpl-over-\(UUID().uuidString)/disputeOpened/en"
        try FileManager.default.createDirectory(atPath: over, withIntermediateDirectories: true)
        try "Custom {{{disputeId}}}".write(toFile: over + "/subject.mustache", atomically: true, encoding: .utf8)
        try "t".write(toFile: over + "/text.mustache", atomically: true, encoding: .utf8)
        try "h".write(toFile: over + "/html.mustache", atomically: true, encoding: .utf8)
        let t = try NoticeTemplates.load(directory: Self.root.appendingPathComponent("Notifications").path,
                                         overrideDirectory: (over as NSString).deletingLastPathComponent.replacingOccurrences(of: "/disputeOpened", with: ""))
        #expect(t.render(.disputeOpened, locale: "en", context: ["disputeId": "D-9"]).subject == "Custom D-9")
    }

    @Test func anOverrideOfOnePartKeepsTheShippedOthersAndANewLocaleNeedsAllThree() throws {
        let over = "/tmp/tpl-over-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: over + "/disputeOpened/sv", withIntermediateDirectories: true)
        try "Ny tvist {{{disputeId}}}".write(toFile: over + "/disputeOpened/sv/subject.mustache", atomically: true, encoding: .utf8)
        let shipped = Self.root.appendingPathComponent("Notifications").path
        let t = try NoticeTemplates.load(directory: shipped, overrideDirectory: over)
        let context = ["merchantName": "Åsa", "disputeId": "D-9", "orderReference": "O-1", "amount": "1 kr", "reason": "x"]
        let plain = try NoticeTemplates.load(directory: shipped, overrideDirectory: nil).render(.disputeOpened, locale: "sv", context: context)
        let r = t.render(.disputeOpened, locale: "sv", context: context)
        #expect(r.subject == "Ny tvist D-9")
        #expect(r.text == plain.text && r.html == plain.html)
        // A locale nothing ships must come whole: its missing parts are named, in the override.
        try FileManager.default.createDirectory(atPath: over + "/disputeOpened/cs", withIntermediateDirectories: true)
        try "Nový spor {{{disputeId}}}".write(toFile: over + "/disputeOpened/cs/subject.mustache", atomically: true, encoding: .utf8)
        #expect {
            _ = try NoticeTemplates.load(directory: shipped, overrideDirectory: over)
        } throws: { error in
            "\(error)" == "\(over)/disputeOpened/cs/text.mustache: missing\n\(over)/disputeOpened/cs/html.mustache: missing"
        }
        // One that is there but not UTF-8 says where.
        try Data("Dobr\u{FD} den\n\u{FF}".utf8 + [0xFF]).write(to: URL(fileURLWithPath: over + "/disputeOpened/cs/text.mustache"))
        try "<p>Dobrý den</p>".write(toFile: over + "/disputeOpened/cs/html.mustache", atomically: true, encoding: .utf8)
        #expect {
            _ = try NoticeTemplates.load(directory: shipped, overrideDirectory: over)
        } throws: { error in
            "\(error)" == "\(over)/disputeOpened/cs/text.mustache: cannot be read: is not UTF-8 text: byte 13 (line 2) is 0xFF"
        }
    }

    /// Values reach the renderer wrapped (for speed); every construct a template
    /// may use must render as it does with the plain strings: escaped and
    /// unescaped variables, sections and inverted sections on text (an empty
    /// text counts as present, as swift-mustache has it) and on flags.
    @Test func everyConstructRendersAsWithPlainStrings() throws {
        let over = "/tmp/tpl-over-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: over + "/disputeOpened/en", withIntermediateDirectories: true)
        let body = "{{merchantName}}|{{{merchantName}}}|{{#hasRefund}}R{{/hasRefund}}{{^hasRefund}}noR{{/hasRefund}}|"
            + "{{#refund}}[{{refund}}]{{/refund}}|{{^outcome}}none{{/outcome}}|{{#deadline}}{{amount}}{{/deadline}}"
        for part in ["subject", "text", "html"] {
            try (part == "subject" ? "{{{disputeId}}} {{merchantName}}" : body).write(toFile: over + "/disputeOpened/en/\(part).mustache", atomically: true, encoding: .utf8)
        }
        let t = try NoticeTemplates.load(directory: Self.root.appendingPathComponent("Notifications").path, overrideDirectory: over)
        let r = t.render(.disputeOpened, locale: "en", context: ["merchantName": "<Å&B>", "disputeId": "D-1", "refund": "", "outcome": "", "deadline": "x", "amount": "1 €"])
        #expect(r.subject == "D-1 &lt;Å&amp;B&gt;")  // {{name}} escapes in every part; text parts use {{{name}}}
        #expect(r.text == "&lt;Å&amp;B&gt;|<Å&B>|noR|[]||1 €")
        #expect(r.html == "&lt;Å&amp;B&gt;|<Å&B>|noR|[]||1 €")
    }

    @Test func unknownLocaleFallsBackToEnglishAndHTMLIsEscaped() throws {
        let t = try NoticeTemplates.load(directory: Self.root.appendingPathComponent("Notifications").path, overrideDirectory: nil)
        let r = t.render(.disputeClosed, locale: "cs-CZ", context: ["merchantName": "<b>Shop</b>", "disputeId": "D-1", "orderReference": "O", "amount": "1 €", "reason": "x"])
        #expect(r.subject == "Dispute D-1 is closed")
        #expect(r.html.contains("&lt;b&gt;Shop&lt;/b&gt;"))
        #expect(r.text.contains("<b>Shop</b>"))
    }

    @Test func aRegionFallsBackToItsLanguageAndNorwegianToBokmal() throws {
        let t = try NoticeTemplates.load(directory: Self.root.appendingPathComponent("Notifications").path, overrideDirectory: nil)
        let context = ["merchantName": "Shop", "disputeId": "D-1", "orderReference": "O", "amount": "1 €", "reason": "x"]
        #expect(t.render(.disputeClosed, locale: "fr-BE", context: context).subject == "Le litige D-1 est clos")
        for locale in ["nb", "no", "nn-NO", "no_NO"] {
            #expect(t.render(.disputeClosed, locale: locale, context: context).subject == "Tvist D-1 er avsluttet", "\(locale)")
        }
        #expect(NoticeTemplates.language(of: "de-AT") == "de" && NoticeTemplates.language(of: "nn") == "nb")
    }
}
