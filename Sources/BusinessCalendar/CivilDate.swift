/// A date on the proleptic Gregorian calendar, with no time and no zone.
///
/// Stored as the number of days since 1970-01-01, so that comparing, adding
/// and subtracting days are integer operations.
public struct CivilDate: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// Days since 1970-01-01 (negative before).
    public let dayNumber: Int32

    public init(dayNumber: Int32) { self.dayNumber = dayNumber }

    /// A date from its parts; nil when the day does not exist (2027-02-29) or
    /// its year is beyond ±1,000,000 (a day number is 32 bits, and no calendar
    /// question needs them).
    public init?(year: Int, month: Int, day: Int) {
        guard CivilDate.years.contains(year), (1...12).contains(month), day >= 1,
              day <= CivilDate.daysIn(month: month, year: year) else { return nil }
        dayNumber = Int32(CivilDate.days(year: year, month: month, day: day))
    }

    /// The years a date may have.
    public static let years = -1_000_000...1_000_000

    /// Howard Hinnant's days_from_civil.
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Year, month and day (Hinnant's civil_from_days).
    public var components: (year: Int, month: Int, day: Int) {
        let z = Int(dayNumber) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    public var year: Int { components.year }

    /// The day of the week.
    public var weekday: Weekday {
        // 1970-01-01 was a Thursday.
        let index = ((Int(dayNumber) % 7) + 7 + 3) % 7  // 0 = Monday
        return Weekday.allCases[index]
    }

    public func adding(days: Int) -> CivilDate { CivilDate(dayNumber: dayNumber + Int32(days)) }

    public static func < (a: CivilDate, b: CivilDate) -> Bool { a.dayNumber < b.dayNumber }

    /// `YYYY-MM-DD`.
    public var description: String {
        let (y, m, d) = components
        if (0...9999).contains(y) {
            // Written digit by digit: every deadline's explanation lists each day it counts.
            return String(unsafeUninitializedCapacity: 10) { out in
                func put(_ value: Int, endingAt end: Int, width: Int) {
                    var v = value
                    for p in stride(from: end - 1, through: end - width, by: -1) {
                        out[p] = UInt8(ascii: "0") + UInt8(v % 10)
                        v /= 10
                    }
                }
                put(y, endingAt: 4, width: 4)
                out[4] = UInt8(ascii: "-")
                put(m, endingAt: 7, width: 2)
                out[7] = UInt8(ascii: "-")
                put(d, endingAt: 10, width: 2)
                return 10
            }
        }
        let ys = y < 0 ? "-" + String(-y) : String(y)
        return String(repeating: "0", count: max(0, 4 - ys.count)) + ys + "-" + (m < 10 ? "0" : "") + String(m) + "-" + (d < 10 ? "0" : "") + String(d)
    }

    /// Parses `YYYY-MM-DD`.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = CivilDate(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a date YYYY-MM-DD"))
        }
        self = date
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public static func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Easter Sunday of `year` (Gregorian computus, anonymous algorithm).
    public static func easterSunday(year: Int) -> CivilDate {
        let a = year % 19, b = year / 100, c = year % 100
        let d = b / 4, e = b % 4, f = (b + 8) / 25, g = (b - f + 1) / 3
        let h = (19 * a + b - d - g + 15) % 30
        let i = c / 4, k = c % 4
        let l = (32 + 2 * e + 2 * i - h - k) % 7
        let m = (a + 11 * h + 22 * l) / 451
        let month = (h + l - 7 * m + 114) / 31
        let day = (h + l - 7 * m + 114) % 31 + 1
        return CivilDate(year: year, month: month, day: day)!
    }
}

/// Monday first, as ISO 8601 and every market here counts.
public enum Weekday: Int, CaseIterable, Sendable, Codable {
    case monday, tuesday, wednesday, thursday, friday, saturday, sunday

    /// `Mon` ... `Sun`, as calendar files write them.
    public var abbreviation: String { ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][rawValue] }
    public var name: String { ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"][rawValue] }

    public init?(abbreviation: String) {
        guard let i = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].firstIndex(of: abbreviation.lowercased().prefix(3).description),
              abbreviation.count >= 3 else { return nil }
        self = Weekday.allCases[i]
    }
}

/// The days of the week that are working days in a market.
public struct Weekmask: Hashable, Sendable {
    /// Bit `weekday.rawValue` set for a working weekday.
    public let bits: UInt8

    public init(workingDays: [Weekday]) {
        bits = workingDays.reduce(0) { $0 | (1 << UInt8($1.rawValue)) }
    }

    public static let mondayToFriday = Weekmask(workingDays: [.monday, .tuesday, .wednesday, .thursday, .friday])

    public func isWorking(_ day: Weekday) -> Bool { bits & (1 << UInt8(day.rawValue)) != 0 }
}
