import ArgumentParser
import BusinessCalendar
import ControlProtocol
import Foundation
import TOMLDocument

struct CalendarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calendar",
        abstract: "Business-day calendars, computed locally from the calendar files (no daemon needed).",
        subcommands: [CalendarDeadline.self, CalendarHolidays.self])
}

/// Options of the local calendar commands.
struct CalendarOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Directory of calendar files.", valueName: "dir"))
    var calendars: String?

    @Option(name: .long, help: ArgumentHelp("Market code (SE, DE, GB, ...).", valueName: "market"))
    var calendar: String

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: .hidden)
    var socket: String?

    /// --calendars, else $DISPUTED_CALENDARS, else /etc/disputed/calendars, else ./config/calendars.
    var directory: String {
        if let calendars { return calendars }
        if let env = ProcessInfo.processInfo.environment["DISPUTED_CALENDARS"] { return env }
        if FileManager.default.fileExists(atPath: "/etc/disputed/calendars") { return "/etc/disputed/calendars" }
        return "./config/calendars"
    }

    func load() throws -> BusinessCalendar {
        let path = (directory as NSString).appendingPathComponent("\(calendar.uppercased()).toml")
        let text: String
        do { text = try TextFile.read(path) } catch {
            guard error.missing else { throw ValidationError("cannot read \(path): \(error)") }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("no calendar directory \(directory) (--calendars, $DISPUTED_CALENDARS, else /etc/disputed/calendars or ./config/calendars)")
            }
            let known = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }.sorted()
            throw ValidationError("no calendar \(calendar.uppercased()) in \(directory)" + (known.isEmpty ? "" : "; known: \(known.joined(separator: ", "))"))
        }
        do {
            return BusinessCalendar(try CalendarLoader.parse(text: text, file: path, expectedMarket: calendar.uppercased()))
        } catch {
            printStderr("\(error)")
            throw ExitCode(65)
        }
    }
}

struct CalendarDeadline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deadline",
        abstract: "The deadline of a window of N business days for a notification at an instant, explained day by day.")

    @OptionGroup var options: CalendarOptions

    @Option(name: .long, help: ArgumentHelp("Notification instant (ISO 8601).", valueName: "instant"))
    var from: String

    @Option(name: .customLong("business-days"), help: "Length of the window (1–366).")
    var businessDays: Int

    @Option(name: .long, help: ArgumentHelp("IANA time zone; default: the calendar's.", valueName: "zone"))
    var timezone: String?

    @Option(name: .long, help: ArgumentHelp("Local cut-off time.", valueName: "HH:MM"))
    var cutoff: String = "16:00"

    func validate() throws {
        guard parseInstant(from) != nil else { throw ValidationError("--from '\(from)' is not an ISO 8601 instant such as 2026-12-18T09:00:00Z") }
        guard (1...366).contains(businessDays) else { throw ValidationError("--business-days must be between 1 and 366") }
        guard parseClockTime(cutoff) != nil else { throw ValidationError("--cutoff '\(cutoff)' must be HH:MM") }
        if let timezone, TimeZone(identifier: timezone) == nil { throw ValidationError("--timezone '\(timezone)' is not an IANA time zone") }
    }

    func run() throws {
        let calendar = try options.load()
        let zoneName = timezone ?? calendar.timeZone
        let zone = ZonedTime(identifier: zoneName)!
        let explanation: DeadlineExplanation
        do {
            explanation = try calendar.deadline(notifiedAt: parseInstant(from)!, businessDays: businessDays,
                                                zone: zone, cutoffMinutes: parseClockTime(cutoff)!)
        } catch {
            printStderr("disputectl: \(error)")
            throw ExitCode(CtlExit.refused)
        }
        if options.json {
            printJSON(try JSONValue.from(explanation))
            return
        }
        printAligned([
            ("Calendar", "\(calendar.market) (\(calendar.name)), version \(calendar.version)"),
            ("Notified", "\(explanation.notifiedAt) = \(explanation.notifiedLocal) \(zoneName)"),
            ("Counting from", explanation.effectiveNotificationDay + (explanation.effectiveReason.map { " (\($0))" } ?? "")),
            ("Last day", "\(explanation.lastDay) (business day \(businessDays))"),
            ("Deadline", "\(explanation.deadline) = \(explanation.deadlineLocal) local"),
        ])
        if !explanation.skipped.isEmpty {
            print("Skipped:")
            for day in explanation.skipped { print("  \(day.date)  \(day.reason)") }
        }
    }
}

struct CalendarHolidays: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "holidays",
        abstract: "The calendar's closing days of a year that fall on working weekdays.")

    @OptionGroup var options: CalendarOptions

    @Option(name: .long, help: "Year.")
    var year: Int

    @Option(name: .long, help: "List every year from --year through this one.")
    var through: Int?

    func validate() throws {
        if let through, through < year {
            throw ValidationError("--through \(through) is before --year \(year); give the first year with --year and the last with --through")
        }
    }

    func run() throws {
        let calendar = try options.load()
        var rows: [(date: CivilDate, name: String)] = []
        do {
            // Checked first, so a range that runs out of the file lists nothing rather than part of it.
            if let outside = [year, through ?? year].first(where: { !calendar.validYears.contains($0) }) {
                throw CalendarError(market: calendar.market, year: outside, validYears: calendar.validYears)
            }
            for y in year...(through ?? year) { rows += try calendar.holidays(in: y) }
        } catch {
            printStderr("disputectl: \(error)")
            throw ExitCode(CtlExit.refused)
        }
        if options.json {
            printJSON(.array(rows.map { .object(["date": .string($0.date.description), "name": .string($0.name)]) }))
            return
        }
        for row in rows { print("\(row.date)  \(row.date.weekday.abbreviation)  \(row.name)") }
    }
}

/// Whole seconds since 1970 of an ISO 8601 instant.
func parseInstant(_ text: String) -> Int64? {
    Instant.parse(text).map { Int64($0.timeIntervalSince1970.rounded(.down)) }
}
