/// Decides whether to ping the watchdog: only when the engine's tick counter
/// moved since the last ping. A stalled engine therefore stops the pings and
/// systemd restarts the service.
public struct WatchdogGate: Sendable {
    private var lastSeen: UInt64?

    public init() {}

    /// Returns true (ping) when `ticks` differs from the value seen at the last call.
    public mutating func shouldPing(ticks: UInt64) -> Bool {
        defer { lastSeen = ticks }
        guard let lastSeen else { return true }
        return ticks != lastSeen
    }
}
