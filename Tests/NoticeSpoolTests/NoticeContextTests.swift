import DisputeWorkflow
import Foundation
import Testing
@testable import NoticeSpool

@Suite struct NoticeContextTests {
    /// Amounts are formatted from a Decimal built from its parts; it must show
    /// exactly what dividing the minor units by 10^digits shows, in every
    /// locale, for zero-, two-digit and negative amounts alike.
    @Test(arguments: ["sv_SE", "de_DE", "en_US", "ja_JP", "nb_NO"])
    func moneyIsFormattedExactlyAsByDivision(localeID: String) throws {
        let locale = Locale(identifier: localeID)
        for code in ["SEK", "EUR", "JPY", "ISK", "USD"] {
            let currency = try #require(Currency(code: code))
            for minor: Int64 in [0, 1, 9, 10, 99, 100, 49_900, 123_456_789, -250, Int64(Int32.max) * 1000] {
                let money = Money(minorUnits: minor, currency: currency)
                let reference = NumberFormatter()
                reference.locale = locale
                reference.numberStyle = .currency
                reference.currencyCode = code
                reference.minimumFractionDigits = currency.minorDigits
                reference.maximumFractionDigits = currency.minorDigits
                let divided = Decimal(minor) / pow(Decimal(10), currency.minorDigits)
                #expect(NoticeContext.format(money, locale) == reference.string(from: divided as NSDecimalNumber),
                        "\(minor) \(code) in \(localeID)")
            }
        }
        #expect(NoticeContext.format(Money(minorUnits: 49_900, currency: Currency(code: "SEK")!), Locale(identifier: "sv_SE")) == "499,00\u{a0}kr")
    }
}

@Suite struct DeadlineTextTests {
    /// Deadline texts are kept once formatted; a kept text must be the one a
    /// fresh formatter writes, for every zone and locale it was asked in, also
    /// once the store of texts has been emptied for being full.
    @Test func aKeptDeadlineTextIsWhatAFreshFormatterWrites() throws {
        let cache = FormatterCache()
        func fresh(_ instant: Int64, _ locale: String, _ zone: String) -> String {
            let f = DateFormatter()
            f.locale = Locale(identifier: locale)
            f.timeZone = TimeZone(identifier: zone)
            f.setLocalizedDateFormatFromTemplate("EEEEdMMMMyyyyHHmmzzz")
            return f.string(from: Date(timeIntervalSince1970: TimeInterval(instant)))
        }
        let cases = [(1_801_263_599, "sv_SE", "Europe/Stockholm"), (1_801_263_599, "de_DE", "Europe/Berlin"),
                     (1_801_263_599, "sv_SE", "Europe/Helsinki"), (1_801_350_000, "sv_SE", "Europe/Stockholm")]
        for round in 0..<2 {
            for (instant, locale, zone) in cases {
                #expect(cache.deadline(Int64(instant), locale: Locale(identifier: locale), zone: zone) == fresh(Int64(instant), locale, zone),
                        "\(instant) \(locale) \(zone), round \(round)")
            }
        }
        #expect(cache.deadline(1_801_263_599, locale: Locale(identifier: "sv_SE"), zone: "Stockholm") == nil)
        for i in 0..<(FormatterCache.deadlineTexts + 10) {
            _ = cache.deadline(1_800_000_000 + Int64(i) * 60, locale: Locale(identifier: "sv_SE"), zone: "Europe/Stockholm")
        }
        #expect(cache.deadline(1_801_263_599, locale: Locale(identifier: "de_DE"), zone: "Europe/Berlin") == fresh(1_801_263_599, "de_DE", "Europe/Berlin"))
        #expect(cache.deadline(1_800_000_000, locale: Locale(identifier: "sv_SE"), zone: "Europe/Stockholm") == fresh(1_800_000_000, "sv_SE", "Europe/Stockholm"))
    }
}
