/// A market's rule set as written in its calendar file, before compilation.
public struct CalendarRules: Sendable {
    public var market: String
    public var name: String
    /// The file's own version, plus a hash of its text (see ``CalendarLoader``).
    public var version: String
    /// The market's usual IANA time zone (a merchant may have another).
    public var timeZone: String
    public var validYears: ClosedRange<Int>
    public var weekmask: Weekmask
    public var rules: [HolidayRule]
    /// Closing days ops add by hand (a national day of mourning, a system change-over).
    public var extraClosed: [(date: CivilDate, name: String)]
    /// Days ops declare open although a rule closes them.
    public var extraOpen: [CivilDate]

    public init(market: String, name: String, version: String, timeZone: String, validYears: ClosedRange<Int>,
                weekmask: Weekmask, rules: [HolidayRule], extraClosed: [(date: CivilDate, name: String)] = [],
                extraOpen: [CivilDate] = []) {
        self.market = market
        self.name = name
        self.version = version
        self.timeZone = timeZone
        self.validYears = validYears
        self.weekmask = weekmask
        self.rules = rules
        self.extraClosed = extraClosed
        self.extraOpen = extraOpen
    }

    /// The closed days of `year` that are not weekend days, with their names,
    /// observed days included (`"Christmas Day (observed)"`).
    public func closures(in year: Int) -> [CivilDate: String] {
        var names: [CivilDate: String] = [:]
        func add(_ date: CivilDate, _ name: String) {
            if let existing = names[date] { if !existing.contains(name) { names[date] = existing + " / " + name } } else { names[date] = name }
        }
        var actual: [(rule: HolidayRule, date: CivilDate)] = []
        for rule in rules {
            if let date = rule.date(in: year) {
                actual.append((rule, date))
                add(date, rule.name)
            }
        }
        // Observed days are worked out after every actual date is known, in rule
        // order, so a substitute never lands on another holiday.
        for (rule, date) in actual where !weekmask.isWorking(date.weekday) {
            var observed: CivilDate? = nil
            switch rule.observance {
            case .none:
                break
            case .nearestWeekday:
                observed = date.weekday == .saturday ? date.adding(days: -1) : date.weekday == .sunday ? date.adding(days: 1) : nil
            case .followingMonday:
                observed = date.weekday == .saturday ? date.adding(days: 2) : date.weekday == .sunday ? date.adding(days: 1) : nil
            case .sundayToMonday:
                observed = date.weekday == .sunday ? date.adding(days: 1) : nil
            case .substitute:
                var candidate = date.adding(days: 1)
                while !weekmask.isWorking(candidate.weekday) || names[candidate] != nil {
                    candidate = candidate.adding(days: 1)
                }
                observed = candidate
            }
            if let observed { add(observed, rule.name + " (observed)") }
        }
        for (date, name) in extraClosed where date.year == year { add(date, name) }
        for date in extraOpen where date.year == year { names[date] = nil }
        return names
    }
}
