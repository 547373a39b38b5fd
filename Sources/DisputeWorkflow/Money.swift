/// An ISO 4217 currency the provider settles in, with its number of minor-unit digits.
public struct Currency: Hashable, Sendable, Codable, CustomStringConvertible {
    public let code: String
    public let minorDigits: Int

    /// The currencies of the shipped markets and the usual settlement currencies.
    /// An unknown code is refused rather than guessed: its minor units are unknown.
    static let known: [String: Int] = [
        "SEK": 2, "NOK": 2, "DKK": 2, "EUR": 2, "CHF": 2, "GBP": 2, "PLN": 2, "USD": 2,
        "CZK": 2, "HUF": 2, "RON": 2, "AUD": 2, "CAD": 2, "NZD": 2, "JPY": 0, "ISK": 0,
    ]

    public init?(code: String) {
        guard let digits = Currency.known[code] else { return nil }
        self.code = code
        minorDigits = digits
    }

    /// The codes ``init(code:)`` accepts, in alphabetical order.
    public static var knownCodes: [String] { known.keys.sorted() }

    public var description: String { code }

    public init(from decoder: Decoder) throws {
        let code = try decoder.singleValueContainer().decode(String.self)
        guard let c = Currency(code: code) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown currency '\(code)'"))
        }
        self = c
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(code)
    }
}

/// An amount in integer minor units of a currency; never floating point.
public struct Money: Hashable, Sendable, Codable, CustomStringConvertible {
    public let minorUnits: Int64
    public let currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// Parses a decimal amount ("499.00", "499", "0.5") without floating point.
    /// Refuses more decimals than the currency has, signs, and anything else.
    public init?(decimal text: String, currency: Currency) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].allSatisfy(\.isASCII), parts[0].allSatisfy(\.isNumber),
              parts[0].count <= 15 else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.count <= currency.minorDigits, fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
              parts.count == 1 || !fraction.isEmpty else { return nil }
        fraction += String(repeating: "0", count: currency.minorDigits - fraction.count)
        guard let whole = Int64(parts[0]), let minor = Int64(fraction.isEmpty ? "0" : fraction) else { return nil }
        var scale: Int64 = 1
        for _ in 0..<currency.minorDigits { scale *= 10 }
        minorUnits = whole * scale + minor
        self.currency = currency
    }

    /// "499.00"
    public var decimal: String {
        guard currency.minorDigits > 0 else { return String(minorUnits) }
        var scale: Int64 = 1
        for _ in 0..<currency.minorDigits { scale *= 10 }
        let sign = minorUnits < 0 ? "-" : ""
        let a = abs(minorUnits)
        let frac = String(a % scale)
        return sign + String(a / scale) + "." + String(repeating: "0", count: currency.minorDigits - frac.count) + frac
    }

    public var description: String { "\(decimal) \(currency.code)" }
}
