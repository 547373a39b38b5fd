import BusinessCalendar
import DisputeWorkflow
import Foundation

/// The values a notice template sees, formatted for the merchant's locale and
/// time zone when the notice is created, so that a re-render after a crash
/// produces the same mail.
public enum NoticeContext {
    /// The deadline a notice of this kind is about, if any.
    public static func deadline(for kind: NoticeKind, in d: Dispute) -> StageDeadline? {
        let wanted: TimerKind?
        switch kind {
        case .disputeOpened, .responseReminder: wanted = .responseDeadline
        case .evidenceRequested, .evidenceReminder: wanted = .evidenceDeadline
        case .disputeEscalated: wanted = .statementDeadline
        default: wanted = nil
        }
        guard let wanted else { return nil }
        return d.deadlines.last { $0.kind == wanted }
    }

    public static func make(kind: NoticeKind, dispute d: Dispute, merchant m: Merchant) -> [String: String] {
        let locale = FormatterCache.shared.locale(merchantLocale: m.locale, country: m.country)
        var deadlineText = ""
        if let deadline = deadline(for: kind, in: d) {
            // The last second of the last day reads better than midnight of the next one.
            deadlineText = FormatterCache.shared.deadline(deadline.instant - 1, locale: locale, zone: m.timeZone) ?? ""
        }
        return [
            "merchantName": m.legalName,
            "disputeId": d.id,
            "orderReference": d.orderReference,
            "amount": format(d.disputedAmount, locale),
            "orderAmount": format(d.orderAmount, locale),
            "reason": reasonLabel(d.reason, language: NoticeTemplates.language(of: m.locale)),
            "deadline": deadlineText,
            "refund": d.refundAmount.map { format($0, locale) } ?? "",
            "outcome": d.outcome?.rawValue ?? "",
        ]
    }

    static func format(_ money: Money, _ locale: Locale) -> String {
        FormatterCache.shared.money(money, locale: locale)
    }

    static func reasonLabel(_ reason: DisputeReason, language: String) -> String {
        (reasonLabels[language] ?? reasonLabels["en"]!)[reason]!
    }

    static let reasonLabels: [String: [DisputeReason: String]] = [
        "sv": [.notReceived: "varan har inte kommit fram", .faulty: "varan är felaktig", .returned: "varan har returnerats",
               .notAsDescribed: "varan stämmer inte med beskrivningen", .incorrectInvoice: "fakturan är felaktig",
               .unauthorized: "köpet är inte godkänt av kunden", .other: "annat skäl"],
        "de": [.notReceived: "Ware nicht erhalten", .faulty: "Ware fehlerhaft", .returned: "Ware zurückgesendet",
               .notAsDescribed: "Ware entspricht nicht der Beschreibung", .incorrectInvoice: "Rechnung fehlerhaft",
               .unauthorized: "Kauf nicht vom Kunden autorisiert", .other: "anderer Grund"],
        "en": [.notReceived: "goods not received", .faulty: "goods faulty", .returned: "goods returned",
               .notAsDescribed: "goods not as described", .incorrectInvoice: "incorrect invoice",
               .unauthorized: "purchase not authorised by the customer", .other: "other reason"],
        "nb": [.notReceived: "varen er ikke mottatt", .faulty: "varen er defekt", .returned: "varen er returnert",
               .notAsDescribed: "varen samsvarer ikke med beskrivelsen", .incorrectInvoice: "fakturaen er feil",
               .unauthorized: "kjøpet er ikke godkjent av kunden", .other: "annen årsak"],
        "da": [.notReceived: "varen er ikke modtaget", .faulty: "varen er defekt", .returned: "varen er returneret",
               .notAsDescribed: "varen svarer ikke til beskrivelsen", .incorrectInvoice: "fakturaen er forkert",
               .unauthorized: "købet er ikke godkendt af kunden", .other: "anden årsag"],
        "fi": [.notReceived: "tuotetta ei ole vastaanotettu", .faulty: "tuote on viallinen", .returned: "tuote on palautettu",
               .notAsDescribed: "tuote ei vastaa kuvausta", .incorrectInvoice: "lasku on virheellinen",
               .unauthorized: "asiakas ei ole hyväksynyt ostoa", .other: "muu syy"],
        "nl": [.notReceived: "artikel niet ontvangen", .faulty: "artikel defect", .returned: "artikel geretourneerd",
               .notAsDescribed: "artikel komt niet overeen met de beschrijving", .incorrectInvoice: "onjuiste factuur",
               .unauthorized: "aankoop niet door de klant geautoriseerd", .other: "andere reden"],
        "fr": [.notReceived: "article non reçu", .faulty: "article défectueux", .returned: "article retourné",
               .notAsDescribed: "article non conforme à la description", .incorrectInvoice: "facture erronée",
               .unauthorized: "achat non autorisé par le client", .other: "autre raison"],
        "it": [.notReceived: "merce non ricevuta", .faulty: "merce difettosa", .returned: "merce restituita",
               .notAsDescribed: "merce non conforme alla descrizione", .incorrectInvoice: "fattura errata",
               .unauthorized: "acquisto non autorizzato dal cliente", .other: "altro motivo"],
        "es": [.notReceived: "artículo no recibido", .faulty: "artículo defectuoso", .returned: "artículo devuelto",
               .notAsDescribed: "artículo no conforme con la descripción", .incorrectInvoice: "factura incorrecta",
               .unauthorized: "compra no autorizada por el cliente", .other: "otro motivo"],
        "pl": [.notReceived: "towar nie został dostarczony", .faulty: "towar jest wadliwy", .returned: "towar został zwrócony",
               .notAsDescribed: "towar niezgodny z opisem", .incorrectInvoice: "błędna faktura",
               .unauthorized: "zakup nieautoryzowany przez klienta", .other: "inny powód"],
    ]
}

/// Formatters are expensive to build (ICU pattern generation) and cheap to
/// reuse: one per locale, zone and currency, used under a lock.
final class FormatterCache: @unchecked Sendable {
    static let shared = FormatterCache()
    private let lock = NSLock()
    private var dates: [String: DateFormatter] = [:]
    private var numbers: [String: NumberFormatter] = [:]
    private var locales: [String: Locale] = [:]
    /// Deadline texts already formatted: the disputes opened on one day in one
    /// market share their deadline, and ICU takes ~10 us per text. Emptied
    /// when full; a text never changes for its key.
    private var deadlines: [String: String] = [:]
    static let deadlineTexts = 4096

    /// The merchant's locale (`sv`, `de-AT`) completed with its country when it has none (`sv_SE`).
    func locale(merchantLocale: String, country: String) -> Locale {
        let key = merchantLocale + "|" + country
        lock.lock()
        defer { lock.unlock() }
        if let cached = locales[key] { return cached }
        let hasRegion = merchantLocale.contains("_") || merchantLocale.contains("-")
        let identifier = String(merchantLocale.map { $0 == "-" ? "_" : $0 }) + (hasRegion ? "" : "_" + country)
        let locale = Locale(identifier: identifier)
        locales[key] = locale
        return locale
    }

    /// An instant as the merchant reads it (weekday, date, time, zone); nil for an unknown zone.
    func deadline(_ instant: Int64, locale: Locale, zone identifier: String) -> String? {
        let key = "\(instant)|\(locale.identifier)|\(identifier)"
        lock.lock()
        defer { lock.unlock() }
        if let known = deadlines[key] { return known }
        let formatterKey = locale.identifier + "|" + identifier
        let f: DateFormatter
        if let cached = dates[formatterKey] { f = cached } else {
            guard let zone = TimeZone(identifier: identifier) else { return nil }
            f = DateFormatter()
            f.locale = locale
            f.timeZone = zone
            f.setLocalizedDateFormatFromTemplate("EEEEdMMMMyyyyHHmmzzz")
            dates[formatterKey] = f
        }
        let text = f.string(from: Date(timeIntervalSince1970: TimeInterval(instant)))
        if deadlines.count >= Self.deadlineTexts { deadlines.removeAll(keepingCapacity: true) }
        deadlines[key] = text
        return text
    }

    func money(_ money: Money, locale: Locale) -> String {
        lock.lock()
        defer { lock.unlock() }
        let key = locale.identifier + "|" + money.currency.code
        let f: NumberFormatter
        if let cached = numbers[key] { f = cached } else {
            f = NumberFormatter()
            f.locale = locale
            f.numberStyle = .currency
            f.currencyCode = money.currency.code
            f.minimumFractionDigits = money.currency.minorDigits
            f.maximumFractionDigits = money.currency.minorDigits
            numbers[key] = f
        }
        // Decimal keeps the minor units exact; built from its parts, no division.
        let value = Decimal(sign: money.minorUnits < 0 ? .minus : .plus, exponent: -money.currency.minorDigits,
                            significand: Decimal(money.minorUnits.magnitude))
        return f.string(from: value as NSDecimalNumber) ?? money.description
    }
}
