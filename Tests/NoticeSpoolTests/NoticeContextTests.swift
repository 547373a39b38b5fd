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
