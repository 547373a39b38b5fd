import Foundation
import Testing
@testable import BusinessCalendar

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func shipped(_ market: String) throws -> BusinessCalendar {
    let path = repositoryRoot.appendingPathComponent("config/calendars/\(market).toml").path
    return BusinessCalendar(try CalendarLoader.parse(text: try String(contentsOfFile: path, encoding: .utf8), file: path))
}

func date(_ s: String) -> CivilDate { CivilDate(s)! }

func instant(_ s: String) -> Int64 {
    let f = ISO8601DateFormatter()
    return Int64(f.date(from: s)!.timeIntervalSince1970)
}

@Suite struct CivilDateTests {
    @Test func roundTripsThroughDayNumbers() {
        for n in stride(from: Int32(-800_000), through: 800_000, by: 997) {
            let d = CivilDate(dayNumber: n)
            let (y, m, dd) = d.components
            #expect(CivilDate(year: y, month: m, day: dd) == d)
        }
    }

    @Test func knowsWeekdays() {
        #expect(date("1970-01-01").weekday == .thursday)
        #expect(date("2026-12-24").weekday == .thursday)
        #expect(date("2000-02-29").weekday == .tuesday)
    }

    @Test func refusesDaysThatDoNotExist() {
        #expect(CivilDate(year: 2027, month: 2, day: 29) == nil)
        #expect(CivilDate("2026-13-01") == nil)
    }

    @Test func refusesYearsBeyondItsDayNumbersInsteadOfTrapping() {
        #expect(CivilDate(year: Int.max, month: 1, day: 1) == nil)
        #expect(CivilDate(year: -3_000_000, month: 1, day: 1) == nil)
        #expect(CivilDate(year: 1_000_000, month: 12, day: 31)?.description.hasPrefix("1000000-12-31") == true)
    }

    @Test func writesEveryDayAsPaddedYearMonthDay() {
        for year in [0, 7, 99, 999, 1970, 2027, 9999] {
            for day in CivilDate(year: year, month: 1, day: 1)!.dayNumber...CivilDate(year: year, month: 12, day: 31)!.dayNumber {
                let (y, m, d) = CivilDate(dayNumber: day).components
                let expected = String(repeating: "0", count: 4 - String(y).count) + "\(y)-" + (m < 10 ? "0" : "") + "\(m)-" + (d < 10 ? "0" : "") + "\(d)"
                #expect(CivilDate(dayNumber: day).description == expected)
            }
        }
        #expect(CivilDate(year: 10_000, month: 1, day: 2)?.description == "10000-01-02")
    }

    @Test func computesGregorianEaster() {
        #expect(CivilDate.easterSunday(year: 2024) == date("2024-03-31"))
        #expect(CivilDate.easterSunday(year: 2027) == date("2027-03-28"))
        #expect(CivilDate.easterSunday(year: 2038) == date("2038-04-25"))
        #expect(CivilDate.easterSunday(year: 1818) == date("1818-03-22"))
    }
}

@Suite struct HolidayRuleTests {
    @Test func fixedDate() {
        #expect(HolidayRule(name: "x", kind: .fixed(month: 12, day: 24)).date(in: 2026) == date("2026-12-24"))
    }

    @Test func easterRelative() {
        #expect(HolidayRule(name: "Good Friday", kind: .easter(offset: -2)).date(in: 2027) == date("2027-03-26"))
    }

    @Test func nthAndLastWeekdayOfMonth() {
        #expect(HolidayRule(name: "Thanksgiving", kind: .nthWeekday(month: 11, weekday: .thursday, n: 4)).date(in: 2026) == date("2026-11-26"))
        #expect(HolidayRule(name: "Memorial", kind: .nthWeekday(month: 5, weekday: .monday, n: -1)).date(in: 2027) == date("2027-05-31"))
        #expect(HolidayRule(name: "none", kind: .nthWeekday(month: 2, weekday: .monday, n: 5)).date(in: 2027) == nil)
    }

    @Test func weekdayWithinARangeIsMidsummerEve() {
        let rule = HolidayRule(name: "Midsommarafton", kind: .weekdayBetween(weekday: .friday, from: (6, 19), to: (6, 25)))
        #expect(rule.date(in: 2026) == date("2026-06-19"))
        #expect(rule.date(in: 2027) == date("2027-06-25"))
    }

    @Test func validYearsBoundARule() {
        let rule = HolidayRule(name: "Annandag pingst", kind: .easter(offset: 50), toYear: 2004)
        #expect(rule.date(in: 2004) != nil)
        #expect(rule.date(in: 2005) == nil)
    }

    @Test func substituteDaysSkipOtherHolidays() throws {
        let gb = try shipped("GB")
        // 2021: Christmas on Saturday, Boxing Day on Sunday -> Mon 27 and Tue 28.
        #expect(try gb.closureReason(date("2021-12-27")) == "Christmas Day (observed)")
        #expect(try gb.closureReason(date("2021-12-28")) == "Boxing Day (observed)")
        #expect(try gb.isBusinessDay(date("2021-12-29")))
    }

    @Test func nearestWeekdayObservance() {
        let rules = CalendarRules(market: "XX", name: "x", version: "1", timeZone: "UTC", validYears: 2020...2030,
                                  weekmask: .mondayToFriday,
                                  rules: [HolidayRule(name: "Fourth", kind: .fixed(month: 7, day: 4), observance: .nearestWeekday)])
        #expect(rules.closures(in: 2026)[date("2026-07-03")] == "Fourth (observed)")  // Saturday -> Friday
        #expect(rules.closures(in: 2027)[date("2027-07-05")] == "Fourth (observed)")  // Sunday -> Monday
    }

    @Test func opsCanCloseAndOpenDays() throws {
        let gb = try shipped("GB")
        #expect(try gb.closureReason(date("2023-05-08")) == "Coronation of Charles III")
        #expect(try gb.isBusinessDay(date("2020-05-04")))  // Early May moved to 8 May
    }

    @Test func swedenReplacedWhitMondayWithTheNationalDayIn2005() throws {
        let se = try shipped("SE")
        #expect(try se.closureReason(date("2004-05-31")) == "Annandag pingst")
        #expect(try se.isBusinessDay(date("2004-06-07")))   // 6 June 2004 a Sunday anyway; Monday open
        #expect(try se.isBusinessDay(date("2006-06-05")))   // Whit Monday 2006 is a business day
        #expect(try se.closureReason(date("2006-06-06")) == "Sveriges nationaldag")
    }
}

@Suite struct BusinessDayArithmeticTests {
    @Test func deadlineSkipsChristmasInSweden() throws {
        let se = try shipped("SE")
        #expect(try se.addBusinessDays(1, to: date("2026-12-23")) == date("2026-12-28"))
        #expect(try se.closureReason(date("2026-12-24")) == "Julafton")
    }

    @Test func holidaysOfAYearOutsideTheFileNameTheYear() throws {
        let se = try shipped("SE")
        #expect(throws: CalendarError(market: "SE", year: Int.max, validYears: se.validYears)) { try se.holidays(in: Int.max) }
        #expect("\(CalendarError(market: "SE", year: 3000, validYears: 1990...2060))" == "calendar SE covers 1990–2060; the year 3000 is outside it")
    }

    @Test func deadlineSkipsMidsummerEveInSweden() throws {
        let se = try shipped("SE")
        #expect(try se.addBusinessDays(1, to: date("2027-06-24")) == date("2027-06-28"))
    }

    @Test(arguments: ["SE", "DE", "GB", "US", "IE"])
    func addAndCountAreInverse(market: String) throws {
        let calendar = try shipped(market)
        var state: UInt64 = 12345
        for _ in 0..<2000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let start = date("2000-01-01").adding(days: Int(state >> 40) % (50 * 365))
            let n = Int(state >> 20) % 400 - 200
            let end = try calendar.addBusinessDays(n, to: start)
            if n > 0 { #expect(try calendar.isBusinessDay(end)) }
            if n > 0 { #expect(try calendar.countBusinessDays(from: start, to: end) == n) }
            // (end, start] holds the -n-1 business days strictly between, plus start if it is one.
            if n < 0 {
                let startCounts = try calendar.isBusinessDay(start) ? 1 : 0
                #expect(try calendar.countBusinessDays(from: end, to: start) == -n - 1 + startCounts)
            }
        }
    }

    @Test func yearOutsideTheFileIsAnErrorNotAGuess() throws {
        let se = try shipped("SE")
        #expect(throws: CalendarError.self) { try se.isBusinessDay(date("2061-01-03")) }
        #expect(throws: CalendarError.self) { try se.addBusinessDays(30, to: date("2060-12-20")) }
        #expect(throws: CalendarError.self) { try se.holidays(in: 1989) }
    }

    @Test func aCalendarDirectoryOrFileThatCannotBeReadIsNamedWithTheReason() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("calendars-\(UUID().uuidString)").path
        func problems() -> String {
            do { _ = try CalendarLoader.loadDirectory(directory); return "" } catch { return "\(error)" }
        }
        #expect(problems() == "\(directory): cannot read the calendar directory: no such directory")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shipped = try String(contentsOf: repositoryRoot.appendingPathComponent("config/calendars/SE.toml"), encoding: .utf8)
        // A comment saved as Latin-1 ("å" as the single byte 0xE5) after UTF-8 text.
        let comment = "# Trettondedag jul i Sverige \u{2014} helgdag p"
        try (Data(shipped.utf8) + Data(comment.utf8) + Data([0xE5, 0x0A])).write(to: URL(fileURLWithPath: directory + "/SE.toml"))
        let line = shipped.utf8.count(where: { $0 == 0x0A }) + 1
        #expect(problems() == "\(directory)/SE.toml: cannot read the calendar: is not UTF-8 text: byte \(shipped.utf8.count + comment.utf8.count) (line \(line)) is 0xE5")
    }

    @Test func everyShippedCalendarLoadsQuickly() throws {
        let start = Date()
        let all = try CalendarLoader.loadDirectory(repositoryRoot.appendingPathComponent("config/calendars").path)
        #expect(Date().timeIntervalSince(start) < 1.0)
        #expect(Set(all.keys).isSuperset(of: ["SE", "NO", "DK", "FI", "DE", "AT", "NL", "BE", "CH", "GB", "IE", "FR", "ES", "IT", "PL", "US"]))
    }
}

@Suite struct DeadlineTests {
    let stockholm = ZonedTime(identifier: "Europe/Stockholm")!

    @Test func cutoffEdgeOneSecondBeforeCountsTheSameDay() throws {
        let se = try shipped("SE")
        // 15:59:59 local (CET, UTC+1) on Tuesday 2027-01-12.
        let before = try se.deadline(notifiedAt: instant("2027-01-12T14:59:59Z"), businessDays: 1, zone: stockholm, cutoffMinutes: 960)
        let at = try se.deadline(notifiedAt: instant("2027-01-12T15:00:00Z"), businessDays: 1, zone: stockholm, cutoffMinutes: 960)
        #expect(before.effectiveNotificationDay == "2027-01-12")
        #expect(before.lastDay == "2027-01-13")
        #expect(at.effectiveNotificationDay == "2027-01-13")
        #expect(at.effectiveReason?.contains("cut-off") == true)
        #expect(at.lastDay == "2027-01-14")
    }

    @Test func notificationOnAHolidayCountsFromTheNextBusinessDay() throws {
        let se = try shipped("SE")
        let d = try se.deadline(notifiedAt: instant("2026-12-24T08:00:00Z"), businessDays: 14, zone: stockholm, cutoffMinutes: 960)
        #expect(d.effectiveNotificationDay == "2026-12-28")
        #expect(d.effectiveReason == "notified on a non-business day (Julafton)")
        #expect(d.counted.count == 14)
        #expect(d.counted.last == d.lastDay)
    }

    @Test func deadlineIsLocalMidnightInWinterAndSummer() throws {
        let se = try shipped("SE")
        let winter = try se.deadline(notifiedAt: instant("2027-01-12T09:00:00Z"), businessDays: 3, zone: stockholm, cutoffMinutes: 960)
        #expect(winter.deadline == "2027-01-15T23:00:00Z")
        #expect(winter.deadlineLocal == "2027-01-16T00:00:00+01:00")
        let summer = try se.deadline(notifiedAt: instant("2027-06-01T09:00:00Z"), businessDays: 3, zone: stockholm, cutoffMinutes: 960)
        #expect(summer.lastDay == "2027-06-04")
        #expect(summer.deadline == "2027-06-04T22:00:00Z")
        #expect(summer.deadlineLocal == "2027-06-05T00:00:00+02:00")
    }

    @Test func deadlineAcrossTheSpringForwardNightIsStillLocalMidnight() throws {
        let se = try shipped("SE")
        // Clocks go forward on Sunday 2027-03-28; the window ends on Friday 2027-04-02 (Långfredagen is 2027-03-26).
        let d = try se.deadline(notifiedAt: instant("2027-03-24T09:00:00Z"), businessDays: 4, zone: stockholm, cutoffMinutes: 960)
        #expect(d.lastDay == "2027-04-01")
        #expect(d.deadline == "2027-04-01T22:00:00Z")
        #expect(d.skipped.map(\.reason).contains("Långfredagen"))
    }

    @Test func startOfDayWhereMidnightDoesNotExist() {
        // America/Santiago skipped 2022-09-11 00:00 (clocks went from 00:00 to 01:00).
        let zone = ZonedTime(identifier: "America/Santiago")!
        let start = zone.startOfDay(date("2022-09-11"))
        #expect(zone.isoLocal(start) == "2022-09-11T01:00:00-03:00")
    }

    /// The start of a day is found from the offsets around local midnight, and
    /// by searching second by second where that fails: both must agree on every
    /// day, including the days whose midnight a DST change skips or repeats.
    @Test(arguments: ["Europe/Stockholm", "America/Santiago", "America/Havana", "Asia/Beirut", "America/Sao_Paulo",
                      "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kolkata", "UTC"])
    func startOfDayAgreesWithTheSearchOnEveryDay(zone identifier: String) {
        let zone = ZonedTime(identifier: identifier)!
        var disagreements: [String] = []
        for day in date("2005-01-01").dayNumber...date("2030-12-31").dayNumber {
            let d = CivilDate(dayNumber: day)
            if zone.startOfDay(d) != zone.startOfDayBySearch(d) { disagreements.append("\(d)") }
        }
        #expect(disagreements.isEmpty, "\(identifier): \(disagreements.prefix(5))")
    }

    @Test func localDateFollowsTheZoneNotUTC() throws {
        let us = try shipped("US")
        let ny = ZonedTime(identifier: "America/New_York")!
        // 03:00Z on a Wednesday is still Tuesday evening in New York, after the cut-off.
        let d = try us.deadline(notifiedAt: instant("2027-01-13T03:00:00Z"), businessDays: 1, zone: ny, cutoffMinutes: 960)
        #expect(d.notifiedLocal == "2027-01-12T22:00:00-05:00")
        #expect(d.effectiveNotificationDay == "2027-01-13")
    }

    @Test(arguments: [Int64(0), 1, 86399, 86400, 1_801_263_599, 1_801_263_600, -1, -86400, -86401, 4_102_444_800])
    func isoUTCMatchesFoundationsFormatter(instant: Int64) {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        #expect(ZonedTime.isoUTC(instant) == f.string(from: Date(timeIntervalSince1970: TimeInterval(instant))))
    }
}

@Suite struct SelectInWordTests {
    /// The loop-free select finds the same bit as walking the bits one by one.
    @Test func selectInWordMatchesABitByBitWalk() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var words: [UInt64] = [1, 1 << 63, .max, 0x8000_0000_0000_0001, 0x00FF_0000_0000_FF00, 0x0101_0101_0101_0101]
        for _ in 0..<5000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            // Dense, sparse and weekday-like (5 of 7) patterns.
            words.append(state)
            words.append(state & (state >> 7) & (state >> 13))
            words.append(0x3E7C_F9F3_E7CF_9F3E ^ (state & (state >> 3) & 0x0400_2001_0008_4002))
        }
        for word in words where word != 0 {
            var positions: [Int] = []
            for bit in 0..<64 where word & (1 << UInt64(bit)) != 0 { positions.append(bit) }
            for (k, expected) in positions.enumerated() {
                #expect(BusinessCalendar.selectInWord(word, k) == expected, "word \(String(word, radix: 16)) k \(k)")
                if BusinessCalendar.selectInWord(word, k) != expected { return }
            }
        }
    }
}
