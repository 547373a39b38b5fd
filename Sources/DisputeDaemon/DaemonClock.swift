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

    public static func real() -> DaemonClock { DaemonClock(mode: .real, start: Date()) }
    public static func simulated(at start: Date) -> DaemonClock { DaemonClock(mode: .simulated, start: start) }

    private init(mode: Mode, start: Date) {
        self.mode = mode
        self.simulatedNow = Mutex(start)
    }

    public var now: Date {
        switch mode {
        case .real: return Date()
        case .simulated: return simulatedNow.withLock { $0 }
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

