import Foundation

/// A day the count passed over, and why.
public struct SkippedDay: Codable, Sendable, Equatable {
    public var date: String
    public var reason: String

    public init(date: String, reason: String) {
        self.date = date
        self.reason = reason
    }
}

/// A deadline and how it was reached, day by day (interfaces.md, `calendar deadline`).
public struct DeadlineExplanation: Codable, Sendable, Equatable {
    public var calendar: String
    public var calendarVersion: String
    public var timezone: String
    public var businessDays: Int
    public var notifiedAt: String
    public var notifiedLocal: String
    public var cutoff: String
    /// The day counting starts from (it does not count itself).
    public var effectiveNotificationDay: String
    /// Why counting does not start from the notification's own local date, when it does not.
    public var effectiveReason: String?
    public var lastDay: String
    /// The end of the last day in local time, in UTC.
    public var deadline: String
    public var deadlineLocal: String
    /// The same instant as `deadline`, in seconds since 1970, for programs.
    public var deadlineEpochSeconds: Int64
    /// The business days counted, in order (the last one is `lastDay`).
    public var counted: [String]
    /// Non-business days between the effective notification day and the last day.
    public var skipped: [SkippedDay]

    public init(calendar: String, calendarVersion: String, timezone: String, businessDays: Int, notifiedAt: String,
                notifiedLocal: String, cutoff: String, effectiveNotificationDay: String, effectiveReason: String?,
                lastDay: String, deadline: String, deadlineLocal: String, deadlineEpochSeconds: Int64,
                counted: [String], skipped: [SkippedDay]) {
        self.calendar = calendar
        self.calendarVersion = calendarVersion
        self.timezone = timezone
        self.businessDays = businessDays
        self.notifiedAt = notifiedAt
        self.notifiedLocal = notifiedLocal
        self.cutoff = cutoff
        self.effectiveNotificationDay = effectiveNotificationDay
        self.effectiveReason = effectiveReason
        self.lastDay = lastDay
        self.deadline = deadline
        self.deadlineLocal = deadlineLocal
        self.deadlineEpochSeconds = deadlineEpochSeconds
        self.counted = counted
        self.skipped = skipped
    }
}

extension BusinessCalendar {
    /// The deadline of a window of `businessDays` for a notification at `notifiedAt`.
    ///
    /// The effective notification day is the local date of `notifiedAt` if that
    /// is a business day and the local time is before the cut-off, otherwise the
    /// next business day after that date. The last day is the `businessDays`-th
    /// business day after it. The deadline is the end of the last day in local
    /// time: the start of the next calendar day, DST included.
    public func deadline(notifiedAt: Int64, businessDays: Int, zone: ZonedTime, cutoffMinutes: Int) throws(CalendarError) -> DeadlineExplanation {
        let (localDate, second) = zone.local(notifiedAt)
        var effective = localDate
        var reason: String? = nil
        if let closure = try closureReason(localDate) {
            effective = try nextBusinessDay(after: localDate)
            reason = "notified on a non-business day (\(closure))"
        } else if second >= cutoffMinutes * 60 {
            effective = try nextBusinessDay(after: localDate)
            reason = "notified at or after the \(two(cutoffMinutes / 60)):\(two(cutoffMinutes % 60)) cut-off"
        }
        let last = try addBusinessDays(businessDays, to: effective)
        var counted: [String] = []
        var skipped: [SkippedDay] = []
        var day = effective.adding(days: 1)
        while day <= last {
            if let why = try closureReason(day) {
                skipped.append(SkippedDay(date: day.description, reason: why))
            } else {
                counted.append(day.description)
            }
            day = day.adding(days: 1)
        }
        let end = zone.startOfDay(last.adding(days: 1))
        return DeadlineExplanation(
            calendar: market, calendarVersion: version, timezone: zone.zone.identifier, businessDays: businessDays,
            notifiedAt: ZonedTime.isoUTC(notifiedAt), notifiedLocal: zone.isoLocal(notifiedAt),
            cutoff: "\(two(cutoffMinutes / 60)):\(two(cutoffMinutes % 60))",
            effectiveNotificationDay: effective.description, effectiveReason: reason,
            lastDay: last.description, deadline: ZonedTime.isoUTC(end), deadlineLocal: zone.isoLocal(end),
            deadlineEpochSeconds: end, counted: counted, skipped: skipped)
    }
}
