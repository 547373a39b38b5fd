import CSystemd
import Glibc

/// Sends state changes to the service manager (`sd_notify`).
///
/// Every call is a no-op when `NOTIFY_SOCKET` is unset, so the daemon behaves the
/// same in a terminal as under systemd. Thread-safe: each call is one datagram.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// Whether a service manager listens (`NOTIFY_SOCKET` is set).
    public var isActive: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Sends raw `KEY=VALUE` lines. Returns false if the message could not be sent.
    @discardableResult
    public func send(_ fields: [String]) -> Bool {
        guard isActive else { return false }
        // Values must not contain newlines: a newline would start another field.
        let message = fields.map { $0.replacingNewlines() }.joined(separator: "\n")
        return sd_notify(0, message) > 0
    }

    /// `READY=1` with a status line.
    public func ready(status: String) { send(["READY=1", "STATUS=\(status)"]) }

    /// `STATUS=`: what the daemon is doing now.
    public func status(_ text: String) { send(["STATUS=\(text)"]) }

    /// `RELOADING=1` with `MONOTONIC_USEC=`, as systemd 253+ expects for `Type=notify-reload`
    /// and systemd 252 accepts.
    public func reloading() {
        send(["RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())"])
    }

    /// `STOPPING=1`, first thing on SIGTERM.
    public func stopping() { send(["STOPPING=1", "STATUS=Shutting down"]) }

    /// `STATUS=` and `ERRNO=` for a start that failed.
    public func failed(status: String, errno code: Int32) {
        send(["STATUS=\(status)", "ERRNO=\(code)"])
    }

    /// `EXTEND_TIMEOUT_USEC=`: asks for more start-up or shutdown time.
    public func extendTimeout(microseconds: UInt64) { send(["EXTEND_TIMEOUT_USEC=\(microseconds)"]) }

    /// `WATCHDOG=1`.
    public func watchdogPing() { send(["WATCHDOG=1"]) }

    /// The interval at which to ping the watchdog (half of `WATCHDOG_USEC`), or nil
    /// when no watchdog is enabled for this process.
    public func watchdogPingInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec / 2))
    }

    public static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }
}

extension String {
    func replacingNewlines() -> String {
        String(unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : Character($0) })
    }
}
