import DisputeWorkflow
import Foundation
import Testing
@testable import NoticeSpool

/// Every notice kind in every shipped locale, composed from a fixed context and
/// compared byte for byte with `Golden/<kind>.<locale>.eml`. After an intended
/// change to a template or the composer, regenerate them with
/// `UPDATE_GOLDEN=1 swift test --filter GoldenTests` and review the diff.
@Suite struct GoldenTests {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let root = here.deletingLastPathComponent().deletingLastPathComponent()

    static let contexts: [String: [String: String]] = [
        "en": ["merchantName": "Brown & Sons Ltd", "disputeId": "D-1001", "orderReference": "GB-3001", "amount": "£40.00",
               "orderAmount": "£90.00", "reason": "goods faulty", "deadline": "Friday, 29 January 2027 at 23:59 GMT", "refund": "£10.00", "outcome": ""],
        "sv": ["merchantName": "Åsa Handel AB", "disputeId": "D-1001", "orderReference": "SE-1001", "amount": "499,00 kr",
               "orderAmount": "899,00 kr", "reason": "varan är felaktig", "deadline": "fredag 29 januari 2027 23:59 CET", "refund": "", "outcome": ""],
        "de": ["merchantName": "Müller GmbH", "disputeId": "D-1001", "orderReference": "DE-2001", "amount": "80,00 €",
               "orderAmount": "120,00 €", "reason": "Ware fehlerhaft", "deadline": "Freitag, 29. Januar 2027 um 23:59 MEZ", "refund": "", "outcome": ""],
    ]

    @Test(arguments: NoticeKind.allCases)
    func composedNoticeMatchesItsGoldenFile(kind: NoticeKind) throws {
        let templates = try NoticeTemplates.load(directory: Self.root.appendingPathComponent("Notifications").path, overrideDirectory: nil)
        for locale in ["en", "sv", "de"] {
            let context = Self.contexts[locale]!
            let r = templates.render(kind, locale: locale, context: context)
            let bytes = try MIMEComposer.compose(MailMessage(
                from: try MailAddress(parsing: "Merchant Disputes <disputes@provider.example>", field: "from"),
                to: try MailAddress(displayName: context["merchantName"], address: "merchant@shop.example"),
                subject: r.subject, date: 1_799_658_000, messageID: "D-1001.1.\(kind.rawValue)@provider.example",
                extraHeaders: [("X-Dispute-Id", "D-1001"), ("X-Dispute-Notice-Kind", kind.rawValue)], text: r.text, html: r.html))
            let golden = Self.here.appendingPathComponent("Golden/\(kind.rawValue).\(locale).eml")
            if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] != nil {
                try Data(bytes).write(to: golden)
                continue
            }
            let expected = try Data(contentsOf: golden)
            #expect(Data(bytes) == expected, "\(golden.lastPathComponent) differs; run UPDATE_GOLDEN=1 swift test --filter GoldenTests and review")
        }
    }
}
