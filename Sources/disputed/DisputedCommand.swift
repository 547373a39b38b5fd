import ArgumentParser
import ControlProtocol
import DisputeDaemon
import Foundation
import Logging

@main
struct DisputedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disputed",
        abstract: "Runs the merchant dispute workflow: business-day deadlines, reminders, automatic decisions, spooled notices.",
        discussion: """
        Runs in the foreground; systemd supervises it (Type=notify). Logs go to the journal \
        under systemd, to stderr otherwise. Exit codes: 0 clean stop, 1 runtime failure, \
        78 a problem restarting cannot fix (configuration, calendars, templates, a store \
        from a newer version or damaged, a file in the socket's place).
        """,
        version: disputedVersion)

    @Option(name: .long, help: ArgumentHelp("Configuration file.", valueName: "path"))
    var config: String = "/etc/disputed/disputed.toml"

    @Flag(name: .long, help: "Load the configuration, print each problem as file:line: message, and exit 0 (valid) or 78.")
    var checkConfig = false

    @Option(name: .long, help: ArgumentHelp("Start on a virtual clock at this instant (ISO 8601), moved only by 'disputectl clock advance'.", valueName: "instant"))
    var simulatedClock: String?

    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error or critical; overrides daemon.log_level.", valueName: "level"))
    var logLevel: String?

    func validate() throws {
        if let simulatedClock {
            guard let start = Instant.parse(simulatedClock) else {
                throw ValidationError("--simulated-clock '\(simulatedClock)' is not an ISO 8601 instant such as 2026-12-01T09:00:00Z")
            }
            // Instants are seconds since the Unix epoch, never negative (the timer wheel's clock).
            guard start.timeIntervalSince1970 >= 0 else {
                throw ValidationError("--simulated-clock '\(simulatedClock)' is before 1970-01-01T00:00:00Z, where the daemon's clock begins")
            }
        }
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level '\(logLevel)' must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        if checkConfig {
            throw ExitCode(Daemon.checkConfiguration(path: config))
        }
        let daemon = Daemon(
            configPath: config,
            simulatedClockStart: simulatedClock.flatMap(Instant.parse),
            logLevelOverride: logLevel.flatMap(Logger.Level.init(rawValue:)))
        let code = await daemon.run()
        if code != 0 { throw ExitCode(code) }
    }
}

