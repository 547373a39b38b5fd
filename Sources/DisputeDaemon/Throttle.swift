import Synchronization

/// Says yes the first time it is asked, then at most once per `interval`:
/// progress reports from a long pass (safe to ask from any thread).
final class Throttle: Sendable {
    private let interval: Duration
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(interval: Duration) { self.interval = interval }

    func due() -> Bool {
        let now = ContinuousClock.now
        return last.withLock { last in
            if let previous = last, now - previous < interval { return false }
            last = now
            return true
        }
    }
}

/// Says that something `status` reports as a problem began or ended (due
/// timers the store cannot commit, a failing spool), so the unit's `STATUS=`
/// line is refreshed at once instead of at its next periodic refresh.
/// Signals coalesce; they carry nothing.
final class HealthSignal: Sendable {
    let changes: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (changes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1)) }

    func changed() { continuation.yield() }
}
