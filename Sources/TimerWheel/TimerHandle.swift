/// Names one scheduled timer.
///
/// A handle is an index into the wheel's slab plus the generation of that slot.
/// When a timer fires or is cancelled its slot's generation moves on, so an old
/// handle can never cancel or reschedule a timer that later reused the slot.
public struct TimerHandle: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline let index: UInt32
    @usableFromInline let generation: UInt32

    @inlinable init(index: UInt32, generation: UInt32) {
        self.index = index
        self.generation = generation
    }

    public var description: String { "timer#\(index).\(generation)" }
}

/// A timer handed out by ``TimerWheel/popExpired(notAfter:)``.
public struct ExpiredTimer: Equatable, Sendable {
    public let handle: TimerHandle
    /// The instant it was scheduled for (seconds); never later than the instant it was popped at.
    public let deadline: Int64
    /// What the caller attached when scheduling (the daemon uses the timer's row id).
    public let payload: UInt64
}
