import BusinessCalendar
import ControlProtocol
import DisputeStore
import Foundation
import NoticeSpool
import Logging
import ServiceLifecycle
import SystemdSupport
import TOMLDocument
import UnixSignals

/// Exit codes of `disputed` (sysexits.h, as systemd and ops scripts expect).
public enum DaemonExit {
    public static let success: Int32 = 0
    public static let failure: Int32 = 1
    public static let usage: Int32 = 64
    public static let config: Int32 = 78
}

/// Assembles the daemon from its services and runs it until SIGTERM or SIGINT.
public struct Daemon {
    public var configPath: String
    public var simulatedClockStart: Date?
    public var logLevelOverride: Logger.Level?

    public init(configPath: String, simulatedClockStart: Date?, logLevelOverride: Logger.Level?) {
        self.configPath = configPath
        self.simulatedClockStart = simulatedClockStart
        self.logLevelOverride = logLevelOverride
    }

    /// Loads the configuration and reports every problem as `file:line: message`.
    /// Returns the exit code of `--check-config`.
    public static func checkConfiguration(path: String) -> Int32 {
        do {
            let configuration = try Configuration.load(path: path)
            let calendars = try CalendarLoader.loadDirectory(configuration.calendars.directory)
            _ = try NoticeDispatcher.make(configuration)
            print("\(path): configuration is valid; calendars \(calendars.keys.sorted().joined(separator: ", "))")
            return DaemonExit.success
        } catch let error as TOMLDiagnostics {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            return DaemonExit.config
        } catch let error as TemplateErrors {
            for e in error.errors { printError(e.description) }
            return DaemonExit.config
        } catch {
            printError("\(path): \(error)")
            return DaemonExit.config
        }
    }

    /// Runs the daemon; returns the process exit code.
    public func run() async -> Int32 {
        // Structured entries in the journal under systemd, plain lines on stderr otherwise.
        let sharedLevel = SharedLogLevel(.info)
        LoggingSystem.bootstrap { label in JournalLogHandler(label: label, level: sharedLevel) }
        let notifier = SystemdNotifier()
        notifier.status("Loading configuration \(configPath)")
        let configuration: Configuration
        let calendars: [String: BusinessCalendar]
        let dispatcher: NoticeDispatcher
        do {
            configuration = try Configuration.load(path: configPath)
            calendars = try CalendarLoader.loadDirectory(configuration.calendars.directory)
            dispatcher = try NoticeDispatcher.make(configuration)
            try ProcessFit.ensure(configuration, spoolGroup: dispatcher.writer.groupID)
        } catch let error as TOMLDiagnostics {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            notifier.failed(status: "Configuration invalid: \(error.diagnostics.first?.description ?? "")", errno: EINVAL)
            return DaemonExit.config
        } catch {
            printError("\(configPath): \(error)")
            notifier.failed(status: "Configuration invalid: \(error)", errno: EINVAL)
            return DaemonExit.config
        }

        let level = logLevelOverride ?? configuration.daemon.logLevel
        let logger = Self.makeLogger(level: level)

        // From here on SIGTERM and SIGINT stop the daemon cleanly, also during a long
        // start, and a SIGHUP waits for the daemon to run instead of killing it.
        let signals = ProcessSignals()
        signals.listen()
        do {
            notifier.status("Opening store")
            try Self.makeDirectory(configuration.daemon.stateDirectory, mode: 0o750)
            // Held until the process ends.
            _ = try DirectoryLock.acquire(.store, directory: configuration.daemon.stateDirectory)
            let storePath = configuration.storePath
            let store = try DisputeStore(path: storePath, willMigrate: { pending in
                // A schema change rewrites every row of a table: about 45 s for a store of
                // 1M disputes here. Killed by TimeoutStartSec half-way, it would roll back
                // and start over on every restart, so ask for the time first.
                notifier.status("Migrating the store's schema: \(pending.joined(separator: ", "))")
                notifier.extendTimeout(microseconds: 3_600_000_000)
                logger.notice("migrating the store's schema; this can take minutes on a large store",
                              metadata: ["migrations": "\(pending.joined(separator: ", "))", "store": "\(storePath)"])
            }, checkpointFailed: { reason in
                logger.warning("background WAL checkpoint failed; commits checkpoint by themselves meanwhile",
                               metadata: ["error": "\(reason)", "store": "\(storePath)"])
            })
            let clock = simulatedClockStart.map(DaemonClock.simulated(at:)) ?? .real()
            let health = HealthSignal()
            let spooler = Spooler(store: store, dispatcher: dispatcher, logger: logger, health: health)
            let engine = Engine(store: store, clock: clock, calendars: calendars,
                                policy: configuration.policy.disputePolicy, spooler: spooler, logger: logger,
                                requestRetentionDays: configuration.daemon.requestRetentionDays,
                                closedRetentionDays: configuration.daemon.closedRetentionDays, health: health)
            notifier.status("Recovering: loading pending timers")
            // A store with millions of timers may take longer than TimeoutStartSec.
            notifier.extendTimeout(microseconds: 120_000_000)
            // Another daemon writing this spool stops the start. A spool that cannot
            // be made yet does not: its notices wait in the outbox, and the spooler
            // retries (taking the lock first) until it can.
            let spoolUsable = try await spooler.prepare()
            // A stop cuts the catch-up short after the group it is committing and the
            // spool pass after the batch it is writing; the next start does the rest.
            let recovery = try await signals.whileStarting {
                try await Self.recover(engine: engine, spooler: spooler, store: store, notifier: notifier, spoolUsable: spoolUsable)
            }
            if signals.isRequested {
                notifier.stopping()
                logger.notice("stopped before ready; the next start goes on with the overdue timers and notices left",
                              metadata: ["timersLoaded": "\(recovery.timers)", "timersFired": "\(recovery.fired)",
                                         "noticesPending": "\((try? store.pendingNoticeCount()) ?? -1)"])
                return DaemonExit.success
            }
            logger.notice("recovery done", metadata: ["timersLoaded": "\(recovery.timers)", "timersFired": "\(recovery.fired)"])
            let state = DaemonState(configPath: configPath, configuration: configuration, calendars: calendars, store: store,
                                    clock: clock, engine: engine, spooler: spooler, logger: logger, notifier: notifier,
                                    logLevel: logLevelOverride == nil ? sharedLevel : nil)
            let listener: ControlListener
            if let fd = ListenFDs.named("control") {
                listener = .activated(fd: fd, path: configuration.control.socketPath)
                logger.info("using the control socket passed by systemd", metadata: ["fd": "\(fd)"])
            } else {
                listener = .path(configuration.control.socketPath, group: configuration.control.socketGroup)
            }
            notifier.status("Opening control socket")
            // READY=1 is sent once the socket accepts; a reload (a SIGHUP that came
            // during the start) waits for it, so systemd sees READY before RELOADING.
            let (readySent, markReadySent) = AsyncStream.makeStream(of: Void.self)
            let server = ControlServer(
                listener: listener,
                handler: RequestRouter(state: state),
                authorizer: { [state] in
                    let c = state.configuration.control
                    return Authorizer(adminGroup: c.adminGroup, readerGroup: c.readerGroup)
                },
                limits: { [state] in
                    let c = state.configuration.control
                    return ControlLimits(idleTimeoutSeconds: c.idleTimeoutSeconds, maxConnections: c.maxConnections)
                },
                logger: logger,
                ready: { [state] in
                    let summary = await state.readySummary()
                    notifier.ready(status: summary)
                    markReadySent.finish()
                    logger.info("disputed ready", metadata: ["version": "\(disputedVersion)", "clock": "\(clock.mode.rawValue)"])
                })
            let group = ServiceGroup(
                configuration: .init(
                    services: [
                        .init(service: server),
                        .init(service: ReloadOnHangup(state: state, hangups: signals.hangups, readySent: readySent)),
                        .init(service: spooler),
                        .init(service: WriteCommitter(engine: engine)),
                        .init(service: TickLoop(engine: engine,
                                                period: min(.seconds(1), (notifier.watchdogPingInterval() ?? .seconds(2)) / 2))),
                        .init(service: Watchdog(engine: engine, notifier: notifier, logger: logger)),
                        .init(service: StoppingAnnouncer(notifier: notifier)),
                        .init(service: StatusRefresher(state: state, health: health)),
                    ],
                    // SIGTERM, SIGINT and SIGHUP come through `signals`, trapped since the start.
                    gracefulShutdownSignals: [],
                    logger: logger))
            await signals.attach(group)
            try await group.run()
            logger.info("disputed stopped")
            return DaemonExit.success
        } catch {
            logger.critical("disputed cannot run", metadata: ["error": "\(error)"])
            printError("disputed: \(error)")
            // A store from a newer version, or one that is damaged or no database at all,
            // or a file that is not a socket where the socket goes, is a problem at
            // start that restarting cannot help: exit 78, which the unit does not
            // restart on.
            let notASocket = if case .notASocket = error as? DaemonError { true } else { false }
            let permanent = error is StoreTooNew || error is StoreDamaged || notASocket
            notifier.failed(status: "Failed: \(error)",
                            errno: error is StoreTooNew ? EPROTO : notASocket ? ENOTSOCK : permanent ? EBADMSG : EIO)
            return permanent ? DaemonExit.config : DaemonExit.failure
        }
    }

    /// The part of the start that a stop may cut short (see ``ProcessSignals``):
    /// the catch-up of overdue timers, their notices written alongside, then the
    /// spool backlog, each reporting progress and asking systemd for more time.
    static func recover(engine: Engine, spooler: Spooler, store: DisputeStore, notifier: SystemdNotifier,
                        spoolUsable: Bool) async throws -> (timers: Int, fired: Int) {
        // The notices a catch-up commits are written meanwhile, on the spool's thread.
        let catchingUp = Flag(), caughtUp = Flag()
        let alongside = Task { if spoolUsable { await spooler.writeAlongside(begun: catchingUp, finished: caughtUp) } }
        let recovery: (timers: Int, fired: Int)
        do {
            recovery = try await engine.recover { done, overdue in
                // Making progress: ask for time again, so a long catch-up after an
                // outage is not killed by the start timeout half-way (and restarted).
                catchingUp.set()
                notifier.status("Recovering: \(done) of \(overdue) overdue timers handled")
                notifier.extendTimeout(microseconds: 60_000_000)
            }
        } catch {
            caughtUp.set()
            await alongside.value
            throw error
        }
        caughtUp.set()
        await alongside.value
        if Task.isCancelled { return recovery }
        // Notices committed but not yet written (a spool that was unwritable, a
        // crash under load, the notices of the catch-up just done) are written
        // before READY; a large backlog takes minutes, shown and asked for too.
        let backlog = (try? store.pendingNoticeCount()) ?? 0
        notifier.status("Recovering: re-checking the spool backlog" + (backlog > 0 ? " (\(backlog) notices)" : ""))
        let reportEvery = Throttle(interval: .seconds(1))
        await spooler.recover { written in
            guard reportEvery.due() else { return }
            notifier.status("Recovering: \(written) of \(backlog) spool backlog notices written")
            notifier.extendTimeout(microseconds: 60_000_000)
        }
        return recovery
    }

    static func makeLogger(level: Logger.Level) -> Logger {
        var logger = Logger(label: "disputed")
        logger.logLevel = level
        return logger
    }

    /// `mkdir -p` with `mode` for each directory made, by POSIX calls so that
    /// the error names the real cause ("Not a directory", "Permission denied",
    /// "Read-only file system") and the path where it stopped.
    static func makeDirectory(_ path: String, mode: Int) throws {
        do {
            try SpoolWriter.makeDirectory(path, mode: mode_t(mode))
        } catch {
            throw DaemonError.directory(path: error.path, message: String(cString: strerror(error.errno)))
        }
    }
}

/// Reloads the configuration on SIGHUP (`systemctl reload disputed`).
struct ReloadOnHangup: Service {
    let state: DaemonState
    /// SIGHUPs since the start (``ProcessSignals``): one during the start reloads
    /// as soon as the daemon is ready.
    let hangups: AsyncStream<Void>
    /// Ends once READY=1 is sent.
    let readySent: AsyncStream<Void>

    func run() async throws {
        for await _ in readySent.cancelOnGracefulShutdown() {}
        for await _ in hangups.cancelOnGracefulShutdown() {
            _ = await state.reload(trigger: "SIGHUP")
        }
    }
}

/// Fires due timers once a second (more often when the watchdog interval is
/// short, so every ping interval sees progress). Every turn counts as progress.
struct TickLoop: Service {
    let engine: Engine
    let period: Duration

    func run() async throws {
        // Cancellation on shutdown ends the sleep; that is a clean stop, not an error.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                // A store failure is logged (once a minute while it lasts) and
                // shown in status by the engine; the next turn tries again.
                _ = try? await engine.tick()
                try await Task.sleep(for: period)
            }
        }
    }
}

/// Pings systemd's watchdog at half of `WATCHDOG_USEC`, but only while the
/// engine's tick loop makes progress; does nothing without a watchdog.
struct Watchdog: Service {
    let engine: Engine
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        guard let interval = notifier.watchdogPingInterval() else {
            // No watchdog: stay until shutdown (a service that returns early stops the group).
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            var gate = WatchdogGate()
            while !Task.isCancelled {
                // If the engine actor is stuck, this await does not return and no ping is sent.
                let ticks = await engine.ticks
                if gate.shouldPing(ticks: ticks) {
                    notifier.watchdogPing()
                } else {
                    logger.warning("engine tick loop made no progress; withholding the watchdog ping")
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}

/// Keeps the unit's `STATUS=` summary current while the daemon runs: every
/// ``DaemonState/statusRefreshInterval``, and at once when a problem `status`
/// reports begins or ends.
struct StatusRefresher: Service {
    let state: DaemonState
    let health: HealthSignal

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in health.changes { await state.refreshStatus() }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: DaemonState.statusRefreshInterval)
                        await state.refreshStatus()
                    }
                }
            }
        }
    }
}

/// Tells systemd `STOPPING=1` the moment a graceful shutdown begins.
struct StoppingAnnouncer: Service {
    let notifier: SystemdNotifier

    func run() async throws {
        try? await gracefulShutdown()
        notifier.stopping()
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
