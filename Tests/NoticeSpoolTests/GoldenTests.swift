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
        "nb": ["merchantName": "Fjord Handel AS", "disputeId": "D-1001", "orderReference": "NO-4001", "amount": "kr 499,00",
               "orderAmount": "kr 899,00", "reason": "varen er defekt", "deadline": "fredag 29. januar 2027 kl. 23:59 CET", "refund": "kr 100,00", "outcome": ""],
        "da": ["merchantName": "Østergaard ApS", "disputeId": "D-1001", "orderReference": "DK-5001", "amount": "499,00 kr.",
               "orderAmount": "899,00 kr.", "reason": "varen er defekt", "deadline": "fredag den 29. januar 2027 kl. 23.59 CET", "refund": "", "outcome": ""],
        "fi": ["merchantName": "Mäkelä Oy", "disputeId": "D-1001", "orderReference": "FI-6001", "amount": "80,00 €",
               "orderAmount": "120,00 €", "reason": "tuote on viallinen", "deadline": "perjantaina 29. tammikuuta 2027 klo 23.59 UTC+2", "refund": "", "outcome": ""],
        "nl": ["merchantName": "De Vries B.V.", "disputeId": "D-1001", "orderReference": "NL-7001", "amount": "€ 80,00",
               "orderAmount": "€ 120,00", "reason": "artikel defect", "deadline": "vrijdag 29 januari 2027 om 23:59 CET", "refund": "", "outcome": ""],
        "fr": ["merchantName": "Lefèvre & Fils SARL", "disputeId": "D-1001", "orderReference": "FR-8001", "amount": "80,00 €",
               "orderAmount": "120,00 €", "reason": "article défectueux", "deadline": "vendredi 29 janvier 2027 à 23:59 UTC+1", "refund": "20,00 €", "outcome": ""],
        "it": ["merchantName": "Rossi S.r.l.", "disputeId": "D-1001", "orderReference": "IT-9001", "amount": "80,00 €",
               "orderAmount": "120,00 €", "reason": "merce difettosa", "deadline": "venerdì 29 gennaio 2027 alle ore 23:59 CET", "refund": "", "outcome": ""],
        "es": ["merchantName": "García y Núñez S.L.", "disputeId": "D-1001", "orderReference": "ES-1101", "amount": "80,00 €",
               "orderAmount": "120,00 €", "reason": "artículo defectuoso", "deadline": "viernes, 29 de enero de 2027, 23:59 CET", "refund": "", "outcome": ""],
        "pl": ["merchantName": "Kowalski sp. z o.o.", "disputeId": "D-1001", "orderReference": "PL-1201", "amount": "350,00 zł",
               "orderAmount": "500,00 zł", "reason": "towar jest wadliwy", "deadline": "piątek, 29 stycznia 2027 o 23:59 CET", "refund": "", "outcome": ""],
    ]

    @Test(arguments: NoticeKind.allCases)
    func composedNoticeMatchesItsGoldenFile(kind: NoticeKind) throws {
        let templates = try NoticeTemplates.load(directory: Self.root.appendingPathComponent("Notifications").path, overrideDirectory: nil)
        #expect(Set(templates.locales) == Set(Self.contexts.keys), "a shipped locale without a golden context, or the reverse")
        for locale in Self.contexts.keys.sorted() {
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
