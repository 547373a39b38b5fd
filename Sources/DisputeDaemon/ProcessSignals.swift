import ServiceLifecycle
import Synchronization
import UnixSignals

/// SIGTERM, SIGINT and SIGHUP, trapped for the whole life of the process.
///
/// The start can take minutes (a catch-up of overdue timers after an outage, a
/// spool backlog), and `systemctl stop` or `restart` then comes while it runs.
/// Without a handler the signal would kill the process wherever it stood:
/// crash-consistent, but with no `STOPPING=1`, no word in the journal and the
/// exit counted as a death by signal. With one, the phase that can be cut short
/// (``whileStarting(_:)``) is cancelled — the catch-up stops after the group
/// it is committing, the spool pass after the batch it is writing — and the
/// daemon exits 0; what is left is done at the next start. Once running, a stop
/// shuts the ``ServiceGroup`` down gracefully (``attach(_:)``).
///
/// SIGHUP (reload) is trapped from the start too: one that comes during the
/// start (`kill -HUP`, a configuration tool reloading right after a restart)
/// used to kill the daemon; now it waits in ``hangups`` and the reload runs as
/// soon as the daemon does.
///
/// One listener from start to exit: a signal that arrives between the start
/// and the service group is not lost (the group's own signal handling is off).
final class ProcessSignals: Sendable {
    private struct State {
        var requested = false
        var cancelStart: (@Sendable () -> Void)?
        var group: ServiceGroup?
    }

    private let state = Mutex(State())

    /// One element per SIGHUP not yet handled (several coalesce), for the
    /// reload service, its only reader.
    let hangups: AsyncStream<Void>
    private let hangup: AsyncStream<Void>.Continuation

    init() {
        (hangups, hangup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Starts listening; call once, before anything slow.
    func listen() {
        Task { [self] in
            for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup) {
                if signal == .sighup {
                    hangup.yield()
                } else {
                    await request()
                }
            }
        }
    }

    /// Whether SIGTERM or SIGINT has arrived.
    var isRequested: Bool { state.withLock { $0.requested } }

    /// Asks the daemon to stop: cancels the start phase under way, or shuts the
    /// service group down gracefully.
    func request() async {
        let (cancelStart, group) = state.withLock { state in
            state.requested = true
            return (state.cancelStart, state.group)
        }
        cancelStart?()
        await group?.triggerGracefulShutdown()
    }

    /// Runs the part of the start that a stop may cut short, in a task that a
    /// stop cancels (at once if the stop came before it began).
    func whileStarting<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        let stopped = state.withLock { state in
            state.cancelStart = { task.cancel() }
            return state.requested
        }
        if stopped { task.cancel() }
        defer { state.withLock { $0.cancelStart = nil } }
        return try await task.value
    }

    /// The running daemon's services: a stop from now on shuts them down, and
    /// one that came before this shuts them down as soon as they run.
    func attach(_ group: ServiceGroup) async {
        let stopped = state.withLock { state in
            state.group = group
            return state.requested
        }
        if stopped { await group.triggerGracefulShutdown() }
    }
}
