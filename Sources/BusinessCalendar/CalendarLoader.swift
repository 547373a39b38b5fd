import Foundation
import TOMLDocument

/// Reads calendar files (`config/calendars/SE.toml`, ...). The only part of this
/// module that touches the file system.
public enum CalendarLoader {
    /// Parses one calendar file's text into rules; every problem is reported with its line.
    public static func parse(text: String, file: String, expectedMarket: String? = nil) throws -> CalendarRules {
        let reader = TOMLReader(file: file, text: text)
        try reader.check()
        let root = reader.root
        let market = root.requiredString("market") ?? ""
        if !market.isEmpty, market.count != 2 || !market.allSatisfy({ $0.isUppercase && $0.isASCII }) {
            root.report("'market' is \"\(market)\", must be an ISO 3166 country code such as SE", key: "market")
        }
        if let expectedMarket, !market.isEmpty, market != expectedMarket {
            root.report("'market' is \"\(market)\" but the file is named for \(expectedMarket)", key: "market")
        }
        let name = root.requiredString("name") ?? ""
        let fileVersion = root.requiredString("version") ?? ""
        let zoneName = root.requiredString("timezone") ?? ""
        if !zoneName.isEmpty, TimeZone(identifier: zoneName) == nil {
            root.report("'timezone' is \"\(zoneName)\", which is not an IANA time zone", key: "timezone")
        }
        var years = 2000...2000
        if let pair = root.integerArray("valid_years", in: 1583...9999) {
            if pair.count == 2, pair[0] <= pair[1] { years = pair[0]...pair[1] } else {
                root.report("'valid_years' must be [first, last] with first <= last", key: "valid_years")
            }
        } else if !root.contains("valid_years") {
            root.report("missing required key 'valid_years' (the years this file is valid for)")
        }
        var weekmask = Weekmask.mondayToFriday
        if let days = root.stringArray("weekmask") {
            var parsed: [Weekday] = []
            for d in days {
                if let w = Weekday(abbreviation: d) { parsed.append(w) } else {
                    root.report("'weekmask' has \"\(d)\", which is not a weekday (Mon … Sun)", key: "weekmask")
                }
            }
            weekmask = Weekmask(workingDays: parsed)
        }
        var rules: [HolidayRule] = []
        for table in root.tableArray("holiday") {
            if let rule = parseRule(table) { rules.append(rule) }
            table.finish()
        }
        var closed: [(CivilDate, String)] = []
        for table in root.tableArray("closed") {
            let date = civilDate(table, "date")
            let why = table.requiredString("name")
            if let date, let why { closed.append((date, why)) }
            table.finish()
        }
        var open: [CivilDate] = []
        for table in root.tableArray("open") {
            if let date = civilDate(table, "date") { open.append(date) }
            if table.requiredString("reason") == nil { }
            table.finish()
        }
        // Read here only to be validated; the oracle test uses them.
        for table in root.tableArray("oracle_difference") {
            if table.contains("date") { _ = civilDate(table, "date") } else { _ = table.requiredString("holiday") }
            if let kind = table.requiredString("kind"), !["extra", "missing"].contains(kind) {
                table.report("'kind' is \"\(kind)\", must be extra (we close, the oracle does not) or missing", key: "kind")
            }
            _ = table.requiredString("reason")
            table.finish()
        }
        for (date, _) in closed where !years.contains(date.year) {
            root.report("closed day \(date) lies outside valid_years", key: "closed")
        }
        root.finish()
        try reader.check()
        return CalendarRules(market: market, name: name, version: "\(fileVersion)+\(fnv1a(text))",
                             timeZone: zoneName, validYears: years, weekmask: weekmask, rules: rules,
                             extraClosed: closed, extraOpen: open)
    }

    /// Loads and compiles every `*.toml` in `directory`, keyed by market.
    public static func loadDirectory(_ directory: String) throws -> [String: BusinessCalendar] {
        if let reason = TextFile.unlistableDirectory(directory) {
            throw TOMLDiagnostics([TOMLDiagnostic(file: directory, line: nil, message: "cannot read the calendar directory: \(reason)")])
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".toml") }.sorted()
        } catch {
            throw TOMLDiagnostics([TOMLDiagnostic(file: directory, line: nil, message: "cannot read the calendar directory: \(error)")])
        }
        if names.isEmpty {
            throw TOMLDiagnostics([TOMLDiagnostic(file: directory, line: nil, message: "no calendar files (*.toml) in the calendar directory")])
        }
        var calendars: [String: BusinessCalendar] = [:]
        var problems: [TOMLDiagnostic] = []
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            do {
                let text: String
                do { text = try TextFile.read(path) } catch {
                    throw TOMLDiagnostics([TOMLDiagnostic(file: path, line: nil, message: "cannot read the calendar: \(error)")])
                }
                let rules = try parse(text: text, file: path, expectedMarket: String(name.dropLast(5)))
                calendars[rules.market] = BusinessCalendar(rules)
            } catch let error as TOMLDiagnostics {
                problems += error.diagnostics
            }
        }
        if !problems.isEmpty { throw TOMLDiagnostics(problems) }
        return calendars
    }

    static func parseRule(_ table: TOMLTableReader) -> HolidayRule? {
        guard let name = table.requiredString("name") else { return nil }
        var observance = HolidayRule.Observance.none
        if let raw = table.string("observed") {
            if let o = HolidayRule.Observance(rawValue: raw) { observance = o } else {
                table.report("'observed' is \"\(raw)\", must be one of \(HolidayRule.Observance.allCases.map(\.rawValue).joined(separator: ", "))", key: "observed")
            }
        }
        let from = table.integer("from_year", in: 1583...9999)
        let to = table.integer("to_year", in: 1583...9999)
        var weekday: Weekday? = nil
        if let raw = table.string("weekday") {
            weekday = Weekday(abbreviation: raw)
            if weekday == nil { table.report("'weekday' is \"\(raw)\", must be Mon … Sun", key: "weekday") }
        }
        let kind: HolidayRule.Kind
        if let raw = table.string("date") {
            guard let md = monthDay(raw) else {
                table.report("'date' is \"\(raw)\", must be MM-DD", key: "date")
                return nil
            }
            kind = .fixed(month: md.month, day: md.day)
        } else if let offset = table.integer("easter", in: -100...100) {
            kind = .easter(offset: offset)
        } else if let between = table.stringArray("between") {
            guard between.count == 2, let a = monthDay(between[0]), let b = monthDay(between[1]), let weekday else {
                table.report("'between' needs two MM-DD dates and a 'weekday'", key: "between")
                return nil
            }
            kind = .weekdayBetween(weekday: weekday, from: a, to: b)
        } else if let nth = table.integer("nth", in: -5...5) {
            guard nth != 0, let month = table.integer("month", in: 1...12), let weekday else {
                table.report("'nth' needs a 'month' (1–12), a 'weekday', and n from 1 to 5 or -1 for the last", key: "nth")
                return nil
            }
            kind = .nthWeekday(month: month, weekday: weekday, n: nth)
        } else {
            table.report("holiday '\(name)' needs one of: date = \"MM-DD\", easter = offset, nth + month + weekday, weekday + between")
            return nil
        }
        return HolidayRule(name: name, kind: kind, observance: observance, fromYear: from, toYear: to)
    }

    static func monthDay(_ text: String) -> (month: Int, day: Int)? {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let m = Int(parts[0]), let d = Int(parts[1]), (1...12).contains(m),
              d >= 1, d <= CivilDate.daysIn(month: m, year: 2000) else { return nil }
        return (m, d)
    }

    static func civilDate(_ table: TOMLTableReader, _ key: String) -> CivilDate? {
        if let d = table.date(key) {
            guard let date = CivilDate(year: d.year, month: d.month, day: d.day) else {
                table.report("'\(key)' is not a valid date", key: key)
                return nil
            }
            return date
        }
        if !table.contains(key) { table.report("missing required key '\(key)' in \(table.displayName)") }
        return nil
    }

    /// A short, stable fingerprint of a file's text, so that an edited file gets a new version.
    static func fnv1a(_ text: String) -> String {
        var hash: UInt32 = 0x811C_9DC5
        for byte in text.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}
