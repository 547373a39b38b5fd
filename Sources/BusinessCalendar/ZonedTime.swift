import Foundation

/// Instants (whole seconds since 1970 UTC) read in an IANA time zone.
public struct ZonedTime: Sendable {
    public let zone: TimeZone

    public init(zone: TimeZone) { self.zone = zone }

    /// nil when the identifier is not an IANA zone this system knows.
    public init?(identifier: String) {
        guard let zone = TimeZone(identifier: identifier) else { return nil }
        self.zone = zone
    }

    public func offset(at instant: Int64) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant)))
    }

    /// The local date and the local seconds since midnight of an instant.
    public func local(_ instant: Int64) -> (date: CivilDate, secondOfDay: Int) {
        let local = instant + Int64(offset(at: instant))
        let day = local >= 0 ? local / 86400 : (local - 86399) / 86400
        return (CivilDate(dayNumber: Int32(day)), Int(local - day * 86400))
    }

    /// The first instant of `date` in this zone. Where a DST change skips local
    /// midnight, the day starts at the first local time that exists.
    public func startOfDay(_ date: CivilDate) -> Int64 {
        // Local midnight less the offset in force then, which two lookups find
        // on all but the days of a change at midnight; checked, since each
        // lookup goes to ICU and the search below takes eighteen.
        let base = Int64(date.dayNumber) * 86400
        let guess = base - Int64(offset(at: base - Int64(offset(at: base))))
        if local(guess).date >= date, local(guess - 1).date < date { return guess }
        return startOfDayBySearch(date)
    }

    /// The first second that belongs to `date`: the answer lies within a day of
    /// local midnight read as UTC, and local dates only grow with the instant.
    func startOfDayBySearch(_ date: CivilDate) -> Int64 {
        let base = Int64(date.dayNumber) * 86400
        var lo = base - 30 * 3600, hi = base + 30 * 3600
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if local(mid).date >= date { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    /// `2027-01-13T00:00:00+01:00`.
    public func isoLocal(_ instant: Int64) -> String {
        let (date, second) = local(instant)
        let off = offset(at: instant)
        let sign = off < 0 ? "-" : "+"
        let a = abs(off)
        return "\(date)T\(two(second / 3600)):\(two(second / 60 % 60)):\(two(second % 60))\(sign)\(two(a / 3600)):\(two(a / 60 % 60))"
    }

    /// `2027-01-12T23:00:00Z` (plain arithmetic: UTC has no offset to look up).
    public static func isoUTC(_ instant: Int64) -> String {
        let day = instant >= 0 ? instant / 86400 : (instant - 86399) / 86400
        let second = Int(instant - day * 86400)
        return "\(CivilDate(dayNumber: Int32(day)))T\(two(second / 3600)):\(two(second / 60 % 60)):\(two(second % 60))Z"
    }
}

func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
