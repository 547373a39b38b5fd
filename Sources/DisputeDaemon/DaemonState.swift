import ControlProtocol
import DisputeStore
import Foundation
import Logging
import Synchronization
import SystemdSupport

/// What the running daemon shares between its services: the configuration in
/// force, the store, the clock.
public final class DaemonState: Sendable {
    public let configPath: String
    public let store: DisputeStore
    public let clock: DaemonClock
    public let startedAt: Date
    let logger: Logger
    let notifier: SystemdNotifier
    private let current: Mutex<(configuration: Configuration, loadedAt: Date)>

    init(configPath: String, configuration: Configuration, store: DisputeStore, clock: DaemonClock,
         logger: Logger, notifier: SystemdNotifier) {
        self.configPath = configPath
        self.store = store
        self.clock = clock
        self.startedAt = Date()
        self.logger = logger
        self.notifier = notifier
        self.current = Mutex((configuration, Date()))
    }

    public var configuration: Configuration { current.withLock { $0.configuration } }

    func status() throws -> StatusResult {
        let (_, loadedAt) = current.withLock { $0 }
        return StatusResult(
            version: disputedVersion,
            pid: getpid(),
            startedAt: Instant.format(startedAt),
            uptimeSeconds: Int64(Date().timeIntervalSince(startedAt)),
            clock: clock.mode.rawValue,
            now: Instant.format(clock.now),
            configPath: configPath,
            configLoadedAt: Instant.format(loadedAt),
            store: .init(path: store.path, sizeBytes: store.sizeInBytes(), schemaVersion: try store.schemaVersion()))
    }

    /// Re-reads the configuration file. A configuration with problems is rejected
    /// as a whole and the one in force stays; settings that cannot change while
    /// running (the socket, the state directory) keep their old value, with a warning.
    func reload(trigger: String) -> Result<String, TOMLDiagnosticsError> {
        notifier.reloading()
        defer { notifier.send(["READY=1", "STATUS=\(summary())"]) }
        logger.info("reloading configuration", metadata: ["trigger": "\(trigger)", "config": "\(configPath)"])
        do {
            var fresh = try Configuration.load(path: configPath)
            let old = configuration
            if fresh.control.socketPath != old.control.socketPath || fresh.daemon.stateDirectory != old.daemon.stateDirectory {
                logger.warning("control.socket and daemon.state_directory change only on restart; keeping the running values")
                fresh.control.socketPath = old.control.socketPath
                fresh.daemon.stateDirectory = old.daemon.stateDirectory
            }
            let now = Date()
            current.withLock { $0 = (fresh, now) }
            logger.info("configuration reloaded", metadata: ["config": "\(configPath)"])
            return .success(Instant.format(now))
        } catch {
            logger.error("configuration rejected, keeping the previous one", metadata: ["config": "\(configPath)", "error": "\(error)"])
            return .failure(TOMLDiagnosticsError(description: "\(error)"))
        }
    }

    /// The one-line summary systemd shows as the unit's status once ready.
    func summary() -> String {
        "Ready; control socket \(configuration.control.socketPath); clock \(clock.mode.rawValue)"
    }
}

/// A rejected configuration, as text for the log and the client.
public struct TOMLDiagnosticsError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
