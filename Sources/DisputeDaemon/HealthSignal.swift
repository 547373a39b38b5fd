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
