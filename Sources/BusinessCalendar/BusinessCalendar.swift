/// A date outside the years a calendar file covers. Never guessed: the caller
/// has to extend the file.
public struct CalendarError: Error, Sendable, Equatable, CustomStringConvertible {
    public let market: String
    /// The date or year asked about, as written in the message.
    public let outside: String
    public let validYears: ClosedRange<Int>

    public init(market: String, date: CivilDate, validYears: ClosedRange<Int>) {
        self.market = market
        self.outside = date.description
        self.validYears = validYears
    }

    public init(market: String, year: Int, validYears: ClosedRange<Int>) {
        self.market = market
        self.outside = "the year \(year)"
        self.validYears = validYears
    }

    public var description: String {
        "calendar \(market) covers \(validYears.lowerBound)–\(validYears.upperBound); \(outside) is outside it"
    }
}

/// A market's bank business days, compiled for fast questions.
///
/// Compiled form: one bit per day of the valid years (set = business day) and,
/// per 64-day word, the number of business days before it. `isBusinessDay` is
/// O(1); counting is O(1); adding N business days is a binary search over the
/// words, O(log years), whatever N is. Nothing allocates after compilation.
///
/// Immutable and `Sendable`: compile once, share everywhere.
public struct BusinessCalendar: Sendable {
    public let market: String
    public let name: String
    public let version: String
    public let timeZone: String
    public let validYears: ClosedRange<Int>
    public let weekmask: Weekmask
    let firstDay: Int32
    let dayCount: Int
    let words: [UInt64]
    /// Business days before word i; one extra entry holds the total.
    let before: [Int32]
    let names: [Int32: String]

    /// Compiles `rules` for every year of `rules.validYears`.
    public init(_ rules: CalendarRules) {
        market = rules.market
        name = rules.name
        version = rules.version
        timeZone = rules.timeZone
        validYears = rules.validYears
        weekmask = rules.weekmask
        let first = CivilDate(year: rules.validYears.lowerBound, month: 1, day: 1)!
        let last = CivilDate(year: rules.validYears.upperBound, month: 12, day: 31)!
        firstDay = first.dayNumber
        dayCount = Int(last.dayNumber - first.dayNumber) + 1
        var names: [Int32: String] = [:]
        for year in rules.validYears {
            for (date, name) in rules.closures(in: year) { names[date.dayNumber] = name }
        }
        let open = Set(rules.extraOpen.map(\.dayNumber))
        var words = [UInt64](repeating: 0, count: (dayCount + 63) / 64)
        for offset in 0..<dayCount {
            let day = first.adding(days: offset)
            let business = open.contains(day.dayNumber) || (rules.weekmask.isWorking(day.weekday) && names[day.dayNumber] == nil)
            if business { words[offset >> 6] |= 1 << UInt64(offset & 63) }
        }
        var before = [Int32](repeating: 0, count: words.count + 1)
        for i in 0..<words.count { before[i + 1] = before[i] + Int32(words[i].nonzeroBitCount) }
        self.words = words
        self.before = before
        self.names = names
    }

    @inline(__always) func offset(_ date: CivilDate) throws(CalendarError) -> Int {
        let o = Int(date.dayNumber - firstDay)
        guard o >= 0, o < dayCount else { throw CalendarError(market: market, date: date, validYears: validYears) }
        return o
    }

    @inline(__always) func bit(_ offset: Int) -> Bool { words[offset >> 6] & (1 << UInt64(offset & 63)) != 0 }

    /// Business days strictly before the day at `offset`.
    @inline(__always) func rank(_ offset: Int) -> Int {
        Int(before[offset >> 6]) + (words[offset >> 6] & ((1 << UInt64(offset & 63)) &- 1)).nonzeroBitCount
    }

    /// The offset of the business day with rank `r` (r business days before it),
    /// or nil past the end. `hint` is a word at or before the answer: a few words
    /// are walked from there (the common short window), then it falls back to a
    /// binary search, so the cost stays O(log years) for any distance.
    func select(_ r: Int, hint: Int = 0) -> Int? {
        guard r >= 0, r < Int(before[words.count]) else { return nil }
        var w = min(max(hint, 0), words.count - 1)
        if Int(before[w]) > r { w = 0 }
        // A short window ends in the hint's word or the next one or two: steps
        // without branches (a 14-day window crosses a word boundary about a third
        // of the time, which a branch would mispredict).
        w += w + 1 < words.count && Int(before[w + 1]) <= r ? 1 : 0
        w += w + 1 < words.count && Int(before[w + 1]) <= r ? 1 : 0
        if w + 1 < words.count, Int(before[w + 1]) <= r {
            var lo = w, hi = words.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if Int(before[mid]) <= r { lo = mid } else { hi = mid - 1 }
            }
            w = lo
        }
        return w * 64 + Self.selectInWord(words[w], r - Int(before[w]))
    }

    /// The position of the set bit of `word` that has `k` set bits below it
    /// (`k` < popcount), without loops: byte-wise prefix popcounts by one
    /// multiplication, the byte found by comparing all eight at once, then a
    /// table for the bit within the byte.
    @inline(__always) static func selectInWord(_ word: UInt64, _ k: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        var s = word &- ((word >> 1) & 0x5555_5555_5555_5555)
        s = (s & 0x3333_3333_3333_3333) &+ ((s >> 2) & 0x3333_3333_3333_3333)
        s = (s &+ (s >> 4)) & 0x0F0F_0F0F_0F0F_0F0F
        let prefix = s &* ones  // byte i: set bits in bytes 0...i (at most 64, so no carries)
        // Bytes whose prefix is at most k: their high bit is set below (no borrows,
        // since every byte of the minuend is at least 128 and every prefix at most 64).
        let atMostK = ((UInt64(k) &* ones | 0x8080_8080_8080_8080) &- prefix) & 0x8080_8080_8080_8080
        let byte = atMostK.nonzeroBitCount
        let below = Int(truncatingIfNeeded: ((prefix << 8) >> UInt64(byte * 8)) & 0xFF)
        let bits = Int(truncatingIfNeeded: (word >> UInt64(byte * 8)) & 0xFF)
        return byte * 8 + Int(selectInByte[bits * 8 + (k - below)])
    }

    /// For each byte value and k < 8, the position of its bit with k set bits below.
    static let selectInByte: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256 * 8)
        for value in 0..<256 {
            var k = 0
            for bit in 0..<8 where value & (1 << bit) != 0 {
                table[value * 8 + k] = UInt8(bit)
                k += 1
            }
        }
        return table
    }()

    /// Whether banks are open on `date`.
    public func isBusinessDay(_ date: CivilDate) throws(CalendarError) -> Bool { bit(try offset(date)) }

    /// The first business day after `date`.
    public func nextBusinessDay(after date: CivilDate) throws(CalendarError) -> CivilDate {
        try addBusinessDays(1, to: date)
    }

    /// The last business day before `date`.
    public func previousBusinessDay(before date: CivilDate) throws(CalendarError) -> CivilDate {
        try addBusinessDays(-1, to: date)
    }

    /// The `n`-th business day after `date` (`date` itself does not count), or
    /// before it for negative `n`; `date` itself for 0.
    public func addBusinessDays(_ n: Int, to date: CivilDate) throws(CalendarError) -> CivilDate {
        let o = try offset(date)
        if n == 0 { return date }
        let r = n > 0 ? rank(o + 1) + n - 1 : rank(o) + n
        guard let found = select(r, hint: n > 0 ? o >> 6 : 0) else {
            let beyond = n > 0 ? CivilDate(dayNumber: firstDay + Int32(dayCount)) : CivilDate(dayNumber: firstDay - 1)
            throw CalendarError(market: market, date: beyond, validYears: validYears)
        }
        return CivilDate(dayNumber: firstDay + Int32(found))
    }

    /// Business days `d` with `from < d ≤ to` (negative when `to` is before `from`).
    /// The inverse of ``addBusinessDays(_:to:)``: `count(from: d, to: add(n, d)) == n`.
    public func countBusinessDays(from: CivilDate, to: CivilDate) throws(CalendarError) -> Int {
        let a = try offset(from), b = try offset(to)
        return rank(b + 1) - rank(a + 1)
    }

    /// Why `date` is not a business day ("Julafton", "Saturday"), or nil if it is one.
    public func closureReason(_ date: CivilDate) throws(CalendarError) -> String? {
        if bit(try offset(date)) { return nil }
        return names[date.dayNumber] ?? date.weekday.name
    }

    /// The named closures of `year` that fall on working weekdays — what
    /// `disputectl calendar holidays` lists.
    public func holidays(in year: Int) throws(CalendarError) -> [(date: CivilDate, name: String)] {
        guard validYears.contains(year) else {
            throw CalendarError(market: market, year: year, validYears: validYears)
        }
        var out: [(CivilDate, String)] = []
        var day = CivilDate(year: year, month: 1, day: 1)!
        let end = CivilDate(year: year, month: 12, day: 31)!
        while day <= end {
            if weekmask.isWorking(day.weekday), !bit(Int(day.dayNumber - firstDay)) {
                out.append((day, names[day.dayNumber] ?? "closed"))
            }
            day = day.adding(days: 1)
        }
        return out
    }
}
