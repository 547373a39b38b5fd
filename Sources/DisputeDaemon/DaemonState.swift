import BusinessCalendar
import ControlProtocol
import DisputeStore
import Foundation
import Logging
import Synchronization
import SystemdSupport
import TOMLDocument

/// What the running daemon shares between its services: the configuration in
/// force, the store, the clock and the engine.
public final class DaemonState: Sendable {
    public let configPath: String
    public let store: DisputeStore
    public let clock: DaemonClock
    public let engine: Engine
    public let spooler: Spooler
    public let startedAt: Date
    let logger: Logger
    let notifier: SystemdNotifier
    /// The level every logger of the daemon shares, which a reload sets from
    /// `daemon.log_level`; nil when `--log-level` fixed it for the whole run.
    let logLevel: SharedLogLevel?
    private let current: Mutex<(configuration: Configuration, loadedAt: Date, calendars: [String: String])>
    /// The summary last sent as `STATUS=`.
    private let lastSummary = Mutex<String?>(nil)

    init(configPath: String, configuration: Configuration, calendars: [String: BusinessCalendar], store: DisputeStore,
         clock: DaemonClock, engine: Engine, spooler: Spooler, logger: Logger,
         notifier: SystemdNotifier, logLevel: SharedLogLevel? = nil) {
        self.logLevel = logLevel
        self.spooler = spooler
        self.configPath = configPath
        self.store = store
        self.clock = clock
        self.engine = engine
        self.startedAt = Date()
        self.logger = logger
        self.notifier = notifier
        self.current = Mutex((configuration, Date(), calendars.mapValues(\.version)))
    }

    public var configuration: Configuration { current.withLock { $0.configuration } }

    func status() async throws -> StatusResult {
        let (configuration, loadedAt, calendars) = current.withLock { $0 }
        // A store that cannot be read is what ops must see then; the rest of
        // the status still answers.
        let counts: StoreCounts
        var storeError: String?
        do {
            counts = try store.counts()
        } catch {
            storeError = store.explain(error)
            counts = (stages: [:], pendingTimers: await engine.pendingTimerCount, pendingNotices: 0, oldestPendingNotice: nil,
                      nextTimer: nil, removed: (count: 0, lastAt: nil))
        }
        let recovery = await engine.lastRecovery
        let held = await engine.heldTimers
        let failure = await engine.firingFailure
        return StatusResult(
            version: disputedVersion,
            pid: getpid(),
            startedAt: Instant.format(startedAt),
            uptimeSeconds: Int64(Date().timeIntervalSince(startedAt)),
            clock: clock.mode.rawValue,
            now: Instant.format(clock.now),
            configPath: configPath,
            configLoadedAt: Instant.format(loadedAt),
            store: .init(path: store.path, sizeBytes: store.sizeInBytes(), schemaVersion: (try? store.schemaVersion()) ?? "unknown"),
            disputes: counts.stages, pendingTimers: counts.pendingTimers,
            nextTimerDue: counts.nextTimer.map { ZonedTime.isoUTC($0) }, outboxPending: counts.pendingNotices,
            calendars: calendars, recovery: ["timersLoaded": recovery.timers, "timersFired": recovery.fired],
            lastSpoolError: await spooler.lastError, heldTimers: held.count, heldTimersReason: held.reason,
            outboxOldest: counts.oldestPendingNotice.map { Instant.format(Date(timeIntervalSince1970: TimeInterval($0))) },
            retention: .init(closedDays: configuration.daemon.closedRetentionDays, removed: counts.removed.count,
                             lastRemovalAt: counts.removed.lastAt.map { ZonedTime.isoUTC($0) }),
            timerFailure: failure?.error, timerFailureSince: failure.map { ZonedTime.isoUTC($0.since) }, storeError: storeError)
    }

    /// Re-reads the configuration and the calendars. Anything with a problem is
    /// rejected as a whole and what is in force stays; settings that cannot change
    /// while running (the socket and its group, the state directory) keep their
    /// old value. The log level applies at once (unless `--log-level` fixed it).
    /// Deadlines already set never move: disputes keep their pinned calendar version.
    func reload(trigger: String) async -> Result<String, TOMLDiagnosticsError> {
        notifier.reloading()
        logger.info("reloading configuration", metadata: ["trigger": "\(trigger)", "config": "\(configPath)"])
        let outcome: Result<String, TOMLDiagnosticsError>
        do {
            var fresh = try Configuration.load(path: configPath)
            let calendars = try CalendarLoader.loadDirectory(fresh.calendars.directory)
            let old = configuration
            if fresh.control.socketPath != old.control.socketPath || fresh.daemon.stateDirectory != old.daemon.stateDirectory
                || fresh.control.socketGroup != old.control.socketGroup {
                logger.warning("control.socket, control.socket_group and daemon.state_directory change only on restart; keeping the running values")
                fresh.control.socketPath = old.control.socketPath
                fresh.control.socketGroup = old.control.socketGroup
                fresh.daemon.stateDirectory = old.daemon.stateDirectory
            }
            let dispatcher = try NoticeDispatcher.make(fresh)
            try ProcessFit.ensure(fresh, spoolGroup: dispatcher.writer.groupID)
            let spoolMoved = fresh.spool.directory != old.spool.directory
            var newSpoolLock: DirectoryLock?
            if spoolMoved {
                // A new spool must exist (tmp/, new/, cur/) and be this daemon's alone
                // before it is used; one that cannot be made or that another daemon
                // writes rejects the whole reload and the old spool stays.
                do {
                    newSpoolLock = try SpoolLock.take(fresh.spool.directory)
                    try dispatcher.writer.prepare()
                } catch {
                    newSpoolLock?.release()
                    throw DaemonError.spool(message: "spool.directory '\(fresh.spool.directory)' cannot be used: \(error)")
                }
            }
            await engine.reconfigure(calendars: calendars, policy: fresh.policy.disputePolicy,
                                     requestRetentionDays: fresh.daemon.requestRetentionDays,
                                     closedRetentionDays: fresh.daemon.closedRetentionDays)
            await spooler.reconfigure(dispatcher)
            if let newSpoolLock { spooler.lock.adopt(newSpoolLock) }
            if spoolMoved {
                logger.notice("spool moved; notices from now on go to the new directory",
                              metadata: ["from": "\(old.spool.directory)", "to": "\(fresh.spool.directory)"])
                spooler.wake()
            }
            if let logLevel, logLevel.level != fresh.daemon.logLevel {
                logger.notice("log level changed", metadata: ["from": "\(logLevel.level)", "to": "\(fresh.daemon.logLevel)"])
                logLevel.level = fresh.daemon.logLevel
            }
            let now = Date()
            current.withLock { $0 = (fresh, now, calendars.mapValues(\.version)) }
            logger.info("configuration reloaded", metadata: ["config": "\(configPath)"])
            outcome = .success(Instant.format(now))
        } catch {
            logger.error("configuration rejected, keeping the previous one", metadata: ["config": "\(configPath)", "error": "\(error)"])
            outcome = .failure(TOMLDiagnosticsError(description: "\(error)"))
        }
        notifier.send(["READY=1", "STATUS=\(await readySummary())"])
        return outcome
    }

    /// The one-line summary systemd shows as the unit's status once ready.
    func summary() async -> String {
        guard let counts = try? store.counts() else { return "Ready; the store cannot be read (see disputectl status)" }
        let open = counts.stages.filter { $0.key != "closed" }.values.reduce(0, +)
        let next = counts.nextTimer.map { "next deadline \(ZonedTime.isoUTC($0))" } ?? "no pending deadlines"
        let held = await engine.heldTimers.count
        // A spool that fails (full, read-only, not mounted) is what ops must see
        // first in `systemctl status`, not only in the journal.
        let spoolFailing = await spooler.lastError != nil
        let timersFailing = await engine.firingFailure != nil
        return "Ready: \(open) open disputes, \(counts.pendingTimers) timers, \(next); clock \(clock.mode.rawValue)"
            + (timersFailing ? "; due timers cannot fire, the store fails (see disputectl status)" : "")
            + (held > 0 ? "; \(held) overdue deadlines held back (see disputectl status)" : "")
            + (spoolFailing ? "; spool failing, \(counts.pendingNotices) e-mail notices waiting (see disputectl status)" : "")
    }

    /// The summary sent with `READY=1`, remembered as sent.
    func readySummary() async -> String {
        let summary = await summary()
        lastSummary.withLock { $0 = summary }
        return summary
    }

    /// Sends the summary as `STATUS=` if it changed since it was last sent, so
    /// that `systemctl status` does not show the counts of the moment the
    /// daemon became ready for the rest of its life.
    func refreshStatus() async {
        let summary = await summary()
        let changed = lastSummary.withLock { last in
            defer { last = summary }
            return last != summary
        }
        if changed { notifier.status(summary) }
    }

    /// Seconds between two refreshes of the summary (a count over the store:
    /// about 0.2 s with a million disputes).
    static let statusRefreshInterval: Duration = .seconds(30)
}

/// A rejected configuration, as text for the log and the client.
public struct TOMLDiagnosticsError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
