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

    /// The values a notice of dispute D-1001 sees, as the merchant's locale formats them.
    static func context(_ merchant: String, order: String, amount: String, of orderAmount: String, reason: String,
                        deadline: String, refund: String = "") -> [String: String] {
        ["merchantName": merchant, "disputeId": "D-1001", "orderReference": order, "amount": amount, "orderAmount": orderAmount,
         "reason": reason, "deadline": deadline, "refund": refund, "outcome": ""]
    }

    static let contexts: [String: [String: String]] = [
        "en": context("Brown & Sons Ltd", order: "GB-3001", amount: "£40.00", of: "£90.00", reason: "goods faulty",
                       deadline: "Friday, 29 January 2027 at 23:59 GMT", refund: "£10.00"),
        "sv": context("Åsa Handel AB", order: "SE-1001", amount: "499,00 kr", of: "899,00 kr", reason: "varan är felaktig",
                       deadline: "fredag 29 januari 2027 23:59 CET"),
        "de": context("Müller GmbH", order: "DE-2001", amount: "80,00 €", of: "120,00 €", reason: "Ware fehlerhaft",
                       deadline: "Freitag, 29. Januar 2027 um 23:59 MEZ"),
        "nb": context("Fjord Handel AS", order: "NO-4001", amount: "kr 499,00", of: "kr 899,00", reason: "varen er defekt",
                       deadline: "fredag 29. januar 2027 kl. 23:59 CET", refund: "kr 100,00"),
        "da": context("Østergaard ApS", order: "DK-5001", amount: "499,00 kr.", of: "899,00 kr.", reason: "varen er defekt",
                       deadline: "fredag den 29. januar 2027 kl. 23.59 CET"),
        "fi": context("Mäkelä Oy", order: "FI-6001", amount: "80,00 €", of: "120,00 €", reason: "tuote on viallinen",
                       deadline: "perjantaina 29. tammikuuta 2027 klo 23.59 UTC+2"),
        "nl": context("De Vries B.V.", order: "NL-7001", amount: "€ 80,00", of: "€ 120,00", reason: "artikel defect",
                       deadline: "vrijdag 29 januari 2027 om 23:59 CET"),
        "fr": context("Lefèvre & Fils SARL", order: "FR-8001", amount: "80,00 €", of: "120,00 €", reason: "article défectueux",
                       deadline: "vendredi 29 janvier 2027 à 23:59 UTC+1", refund: "20,00 €"),
        "it": context("Rossi S.r.l.", order: "IT-9001", amount: "80,00 €", of: "120,00 €", reason: "merce difettosa",
                       deadline: "venerdì 29 gennaio 2027 alle ore 23:59 CET"),
        "es": context("García y Núñez S.L.", order: "ES-1101", amount: "80,00 €", of: "120,00 €", reason: "artículo defectuoso",
                       deadline: "viernes, 29 de enero de 2027, 23:59 CET"),
        "pl": context("Kowalski sp. z o.o.", order: "PL-1201", amount: "350,00 zł", of: "500,00 zł", reason: "towar jest wadliwy",
                       deadline: "piątek, 29 stycznia 2027 o 23:59 CET"),
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
