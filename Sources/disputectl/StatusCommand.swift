import ArgumentParser
import ControlProtocol
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's version, uptime, clock and store.")

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Exit 2 when something needs ops: a spool error, overdue deadlines held back, or e-mail notices waiting longer than --backlog-age (for monitoring).")
    var check = false
    @Option(name: .customLong("backlog-age"), help: "With --check, how long the oldest notice may wait for the spool, such as 15m.")
    var backlogAge = "15m"

    func validate() throws {
        guard parseDuration(backlogAge) != nil else { throw ValidationError("--backlog-age '\(backlogAge)' is not a duration such as 90s, 15m, 12h, 3d, 2w or 1d12h") }
    }

    func run() throws {
        let result = try connection.call(.status)
        let status = try result.decode(StatusResult.self)
        let problems = check ? Self.problems(status, backlogAge: parseDuration(backlogAge)!) : []
        defer {
            if !problems.isEmpty {
                FileHandle.standardError.write(Data(problems.map { "disputectl: check failed: \($0)\n" }.joined().utf8))
            }
        }
        if connection.json {
            printJSON(result)
        } else {
            printRows(status)
        }
        if !problems.isEmpty { throw ExitCode(CtlExit.unhealthy) }
    }

    /// What `--check` reports: each a sentence naming the problem.
    static func problems(_ status: StatusResult, backlogAge: Int64) -> [String] {
        var problems: [String] = []
        if let error = status.storeError { problems.append("the store cannot be read: \(error)") }
        if let error = status.timerFailure {
            problems.append("due timers cannot fire since \(status.timerFailureSince ?? "?"): \(error)")
        }
        if let error = status.lastSpoolError { problems.append("the spool fails: \(error)") }
        if let held = status.heldTimers, held > 0 {
            problems.append("\(held) overdue deadlines held back: \(status.heldTimersReason ?? "see the journal")")
        }
        if let waited = waitedSeconds(status), waited > backlogAge {
            problems.append("\(status.outboxPending) e-mail notices wait for the spool, the oldest since \(status.outboxOldest ?? "") (over \(formatDuration(backlogAge)))")
        }
        return problems
    }

    func printRows(_ status: StatusResult) {
        var rows: [(String, String)] = [
            ("Version", status.version),
            ("PID", "\(status.pid)"),
            ("Up since", "\(status.startedAt) (\(formatDuration(status.uptimeSeconds)))"),
            ("Clock", status.clock == "simulated" ? "simulated, now \(status.now)" : "real, now \(status.now)"),
            ("Config", "\(status.configPath) (loaded \(status.configLoadedAt))"),
            ("Store", "\(status.store.path), \(formatBytes(status.store.sizeBytes)), schema \(status.store.schemaVersion)"
                + (status.storeError.map { "; cannot be read: \($0)" } ?? "")),
            ("Disputes", status.storeError != nil ? "unknown (the store cannot be read)" : status.disputes.isEmpty ? "none" : status.disputes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")),
            ("Timers", "\(status.pendingTimers) pending" + (status.nextTimerDue.map { ", next due \($0)" } ?? "")
                + ((status.heldTimers ?? 0) > 0
                    ? "; \(status.heldTimers!) overdue held back, retried every minute and at a reload: \(status.heldTimersReason ?? "see the journal")" : "")
                + (status.timerFailure.map { "; due ones cannot fire since \(status.timerFailureSince ?? "?"), retried every second: \($0)" } ?? "")),
            ("Outbox", (status.storeError != nil ? "unknown" : "\(status.outboxPending) e-mail notices not yet spooled" + Self.backlogAge(status))
                + (status.lastSpoolError.map { "; last spool error: \($0)" } ?? "")),
            ("Calendars", status.calendars.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")),
            ("Recovery", "\(status.recovery["timersLoaded"] ?? 0) timers loaded, \(status.recovery["timersFired"] ?? 0) fired at start"),
        ]
        if let retention = status.retention { rows.append(("Retention", Self.retention(retention))) }
        printAligned(rows)
    }

    /// "closed disputes removed 2555 days after they close; 12 removed, the last at ..."
    static func retention(_ r: StatusResult.Retention) -> String {
        (r.closedDays == 0 ? "closed disputes kept for ever" : "closed disputes removed \(r.closedDays) days after they close")
            + (r.removed > 0 ? "; \(r.removed) removed, the last at \(r.lastRemovalAt ?? "?")" : "")
    }

    /// ", the oldest committed at 2027-01-11T09:00:00Z (3m ago)" while notices wait.
    static func backlogAge(_ status: StatusResult) -> String {
        guard status.outboxPending > 0, let oldest = status.outboxOldest else { return "" }
        guard let age = waitedSeconds(status) else { return ", the oldest committed at \(oldest)" }
        return ", the oldest committed at \(oldest) (\(formatDuration(age)) ago)"
    }

    /// How long the oldest pending e-mail notice has waited, on the daemon's clock.
    static func waitedSeconds(_ status: StatusResult) -> Int64? {
        guard status.outboxPending > 0, let oldest = status.outboxOldest.flatMap(Instant.parse), let now = Instant.parse(status.now) else { return nil }
        return max(0, Int64(now.timeIntervalSince(oldest)))
    }
}

/// Prints `label: value` rows with the values aligned.
func printAligned(_ rows: [(String, String)]) {
    let width = rows.map(\.0.count).max() ?? 0
    for (label, value) in rows {
        print(label.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + PlainText.printable(value))
    }
}

func formatDuration(_ seconds: Int64) -> String {
    let d = seconds / 86400, h = (seconds % 86400) / 3600, m = (seconds % 3600) / 60, s = seconds % 60
    if d > 0 { return "\(d)d \(h)h" }
    if h > 0 { return "\(h)h \(m)m" }
    if m > 0 { return "\(m)m \(s)s" }
    return "\(s)s"
}

func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}
