import Foundation
import Synchronization

/// The daemon's source of "now".
///
/// On a real clock it reads the system time. On a simulated clock (for demos,
/// what-if runs and tests) time stands still until ``advance(by:)`` moves it,
/// and never moves backwards.
public final class DaemonClock: Sendable {
    public enum Mode: String, Sendable { case real, simulated }

    public let mode: Mode
    private let simulatedNow: Mutex<Date>
    /// The system time (tests put a clock that jumps here).
    private let wall: @Sendable () -> Date
    /// Time elapsed since the clock was made, by a clock no one sets.
    private let elapsed: @Sendable () -> TimeInterval
    private let wallAtStart: Date

    public static func real() -> DaemonClock {
        let start = ContinuousClock.now
        return DaemonClock(mode: .real, start: Date(), wall: { Date() }, elapsed: {
            let d = ContinuousClock.now - start
            return TimeInterval(d.components.seconds) + TimeInterval(d.components.attoseconds) / 1e18
        })
    }

    public static func simulated(at start: Date) -> DaemonClock {
        DaemonClock(mode: .simulated, start: start, wall: { start }, elapsed: { 0 })
    }

    /// A real clock reading `wall` for the system time and `elapsed` for the time since it was made.
    static func real(wall: @escaping @Sendable () -> Date, elapsed: @escaping @Sendable () -> TimeInterval) -> DaemonClock {
        DaemonClock(mode: .real, start: wall(), wall: wall, elapsed: elapsed)
    }

    private init(mode: Mode, start: Date, wall: @escaping @Sendable () -> Date, elapsed: @escaping @Sendable () -> TimeInterval) {
        self.mode = mode
        self.simulatedNow = Mutex(start)
        self.wall = wall
        self.elapsed = elapsed
        self.wallAtStart = start
    }

    public var now: Date {
        switch mode {
        case .real: return wall()
        case .simulated: return simulatedNow.withLock { $0 }
        }
    }

    /// "Now" for what cannot be undone if done early: the earlier of the system
    /// time and the system time at start plus the time elapsed since. A system
    /// clock set forward while the daemon runs does not move it (it catches up
    /// with the restart that follows); one set back does. On a simulated
    /// clock, ``now``.
    public var nowNotAheadOfElapsed: Date {
        switch mode {
        case .real: return min(wall(), wallAtStart.addingTimeInterval(elapsed()))
        case .simulated: return now
        }
    }

    /// Moves a simulated clock forward and returns the new instant; nil on a real clock.
    public func advance(by seconds: TimeInterval) -> Date? {
        guard mode == .simulated, seconds >= 0 else { return nil }
        return simulatedNow.withLock { now in
            now = now.addingTimeInterval(seconds)
            return now
        }
    }
}

