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
            "reason": reasonLabel(d.reason, language: String(m.locale.prefix(2))),
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
