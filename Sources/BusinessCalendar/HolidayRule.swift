/// One rule of a market's rule set: which day(s) of a year banks are closed.
public struct HolidayRule: Sendable {
    public enum Kind: Sendable {
        /// The same month and day every year.
        case fixed(month: Int, day: Int)
        /// Days after (or, negative, before) Easter Sunday.
        case easter(offset: Int)
        /// The n-th weekday of a month; n = -1 is the last.
        case nthWeekday(month: Int, weekday: Weekday, n: Int)
        /// The first `weekday` on or after `from` and on or before `to` (Midsommarafton: Friday 19–25 June).
        case weekdayBetween(weekday: Weekday, from: (month: Int, day: Int), to: (month: Int, day: Int))
    }

    /// What happens when the day falls on a non-working weekday.
    public enum Observance: String, Sendable, CaseIterable {
        /// Nothing: the closure is lost to the weekend.
        case none
        /// Saturday moves to Friday, Sunday to Monday (US federal holidays).
        case nearestWeekday = "nearest-weekday"
        /// Saturday and Sunday move to the following Monday.
        case followingMonday = "following-monday"
        /// Only Sunday moves to Monday.
        case sundayToMonday = "sunday-to-monday"
        /// The next working day that is not already a holiday (UK and Irish substitute days).
        case substitute
    }

    public var name: String
    public var kind: Kind
    public var observance: Observance
    /// First and last year the rule applies (law changes); nil means unbounded.
    public var fromYear: Int?
    public var toYear: Int?

    public init(name: String, kind: Kind, observance: Observance = .none, fromYear: Int? = nil, toYear: Int? = nil) {
        self.name = name
        self.kind = kind
        self.observance = observance
        self.fromYear = fromYear
        self.toYear = toYear
    }

    public func applies(in year: Int) -> Bool {
        (fromYear.map { year >= $0 } ?? true) && (toYear.map { year <= $0 } ?? true)
    }

    /// The rule's actual date in `year` (before any observance), or nil when it does not occur.
    public func date(in year: Int) -> CivilDate? {
        guard applies(in: year) else { return nil }
        switch kind {
        case let .fixed(month, day):
            return CivilDate(year: year, month: month, day: day)
        case let .easter(offset):
            return CivilDate.easterSunday(year: year).adding(days: offset)
        case let .nthWeekday(month, weekday, n):
            if n > 0 {
                guard let first = CivilDate(year: year, month: month, day: 1) else { return nil }
                let shift = (weekday.rawValue - first.weekday.rawValue + 7) % 7
                let date = first.adding(days: shift + 7 * (n - 1))
                return date.components.month == month ? date : nil
            }
            guard let last = CivilDate(year: year, month: month, day: CivilDate.daysIn(month: month, year: year)) else { return nil }
            let shift = (last.weekday.rawValue - weekday.rawValue + 7) % 7
            return last.adding(days: -shift - 7 * (-n - 1))
        case let .weekdayBetween(weekday, from, to):
            guard var day = CivilDate(year: year, month: from.month, day: from.day),
                  let end = CivilDate(year: year, month: to.month, day: to.day) else { return nil }
            while day <= end {
                if day.weekday == weekday { return day }
                day = day.adding(days: 1)
            }
            return nil
        }
    }
}
