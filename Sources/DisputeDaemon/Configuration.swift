import ControlProtocol
import DisputeWorkflow
import Foundation
import Logging
import NoticeSpool
import TOMLDocument

/// The daemon's configuration, read from one TOML file.
///
/// Relative paths are taken relative to the working directory the daemon was
/// started in (`make run` starts it at the repository root); production
/// configurations use absolute paths.
public struct Configuration: Sendable, Equatable {
    public struct Daemon: Sendable, Equatable {
        /// Where the SQLite store lives.
        public var stateDirectory: String
        public var logLevel: Logger.Level
        /// Days a request id is remembered for idempotency (its answer replayed,
        /// a different request under it refused); older records are pruned.
        public var requestRetentionDays: Int
        public static let defaultRequestRetentionDays = 90
        /// Days after it closed that a dispute is removed with its timeline,
        /// timers and notices; 0 keeps closed disputes for ever.
        public var closedRetentionDays: Int = 0
    }

    public struct Control: Sendable, Equatable {
        public var socketPath: String
        /// Members may use write operations; empty means nobody beyond root and the daemon's user.
        public var adminGroup: String
        /// Members may use read operations.
        public var readerGroup: String
        /// Group of the socket file (mode 0660): everyone who runs disputectl must be in it.
        public var socketGroup: String
        /// Seconds a client may stay silent mid-line before the connection is closed.
        public var idleTimeoutSeconds: Int
        public var maxConnections: Int
    }

    public struct Spool: Sendable, Equatable {
        public var directory: String
        public var group: String
        public var fromAddress: String
        public var messageIDDomain: String
    }

    public struct Notices: Sendable, Equatable {
        public var templateDirectory: String
        public var overrideDirectory: String
    }

    public struct Calendars: Sendable, Equatable {
        public var directory: String
    }

    /// The dispute policy: windows in business days, reminder offsets, cut-off.
    public struct Policy: Sendable, Equatable {
        public var responseBusinessDays: Int
        public var extendedResponseBusinessDays: Int
        public var extendedReasons: [String]
        public var customerStatementBusinessDays: Int
        public var evidenceBusinessDays: Int
        public var reviewAlertBusinessDays: Int
        public var reminderBusinessDaysBefore: [Int]
        /// Minutes after local midnight; a notification at or after it counts from the next business day.
        public var cutoffMinutes: Int
    }

    public var file: String
    public var daemon: Daemon
    public var control: Control
    public var spool: Spool
    public var notices: Notices
    public var calendars: Calendars
    public var policy: Policy

    /// The store's database file.
    public var storePath: String { (daemon.stateDirectory as NSString).appendingPathComponent("disputed.sqlite") }
}

/// The reasons a dispute may give (workflow.md); validated here so a typo in
/// `extended_reasons` is a configuration error, not a silently shorter window.
public let knownDisputeReasons = ["notReceived", "faulty", "returned", "notAsDescribed", "incorrectInvoice", "unauthorized", "other"]

extension Configuration {
    /// Loads and validates the file at `path`.
    ///
    /// - Throws: ``TOMLDiagnostics`` listing every problem as `file:line: message`.
    public static func load(path: String) throws -> Configuration {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            throw TOMLDiagnostics([TOMLDiagnostic(file: path, line: nil, message: "cannot read configuration: \(error)")])
        }
        return try parse(text: text, file: path)
    }

    /// A DNS name as the right-hand side of a Message-ID: dot-separated labels of
    /// 1 to 63 ASCII letters, digits and hyphens, none at a label's ends, 253 at most.
    static func isDomainName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 253 else { return false }
        return bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { label in
            guard (1...63).contains(label.count), label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else { return false }
            return label.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == UInt8(ascii: "-") }
        }
    }

    public static func parse(text: String, file: String) throws -> Configuration {
        let reader = TOMLReader(file: file, text: text)
        // A file that does not parse has no keys to check; the syntax error says it all.
        try reader.check()
        let root = reader.root

        let daemonTable = root.table("daemon")
        let stateDirectory = daemonTable?.requiredString("state_directory") ?? ""
        if daemonTable == nil { root.report("missing required table [daemon]") }
        var logLevel = Logger.Level.info
        if let raw = daemonTable?.string("log_level") {
            if let level = Logger.Level(rawValue: raw) { logLevel = level } else {
                daemonTable?.report("'daemon.log_level' is \"\(raw)\", must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))", key: "log_level")
            }
        }
        let requestRetentionDays = daemonTable?.integer("request_retention_days", in: 1...3650, default: Daemon.defaultRequestRetentionDays)
            ?? Daemon.defaultRequestRetentionDays
        let closedRetentionDays = daemonTable?.integer("closed_retention_days", in: 0...36500, default: 0) ?? 0
        if closedRetentionDays > 0 && closedRetentionDays < requestRetentionDays {
            // A request retried after its dispute was removed would answer about a dispute that is gone.
            daemonTable?.report("'daemon.closed_retention_days' is \(closedRetentionDays), shorter than daemon.request_retention_days "
                                + "(\(requestRetentionDays)); make it at least that long, or 0 to keep closed disputes", key: "closed_retention_days")
        }
        daemonTable?.finish()

        let controlTable = root.table("control")
        if controlTable == nil { root.report("missing required table [control]") }
        let control = Control(
            socketPath: controlTable?.requiredString("socket") ?? "",
            adminGroup: controlTable?.string("admin_group", default: "") ?? "",
            readerGroup: controlTable?.string("reader_group", default: "") ?? "",
            socketGroup: controlTable?.string("socket_group", default: "") ?? "",
            idleTimeoutSeconds: controlTable?.integer("idle_timeout_seconds", in: 1...3600, default: 30) ?? 30,
            maxConnections: controlTable?.integer("max_connections", in: 1...10_000, default: 512) ?? 512)
        if control.socketPath.utf8.count > 107 {
            controlTable?.report("'control.socket' is \(control.socketPath.utf8.count) bytes long; a Unix socket path may have at most 107", key: "socket")
        }
        controlTable?.finish()

        let spoolTable = root.table("spool")
        if spoolTable == nil { root.report("missing required table [spool]") }
        let spool = Spool(
            directory: spoolTable?.requiredString("directory") ?? "",
            group: spoolTable?.string("group", default: "") ?? "",
            fromAddress: spoolTable?.requiredString("from") ?? "",
            messageIDDomain: spoolTable?.requiredString("message_id_domain") ?? "")
        // Checked as the spooler will use them, so that a bad one is named at its line
        // here instead of failing the start without one.
        if spoolTable?.contains("from") == true, (try? MailAddress(parsing: spool.fromAddress, field: "spool.from")) == nil {
            spoolTable?.report("'spool.from' is \"\(spool.fromAddress)\", which is not one e-mail address such as Disputes <disputes@example.com>", key: "from")
        }
        if spoolTable?.contains("message_id_domain") == true, !Self.isDomainName(spool.messageIDDomain) {
            spoolTable?.report("'spool.message_id_domain' is \"\(spool.messageIDDomain)\", which is not a domain name (ASCII labels of letters, digits and '-', such as disputes.example.com)", key: "message_id_domain")
        }
        spoolTable?.finish()

        let noticesTable = root.table("notices")
        let notices = Notices(
            templateDirectory: noticesTable?.string("template_directory", default: "/usr/share/disputed/Notifications") ?? "/usr/share/disputed/Notifications",
            overrideDirectory: noticesTable?.string("override_directory", default: "") ?? "")
        noticesTable?.finish()

        let calendarsTable = root.table("calendars")
        let calendars = Calendars(
            directory: calendarsTable?.string("directory", default: "/etc/disputed/calendars") ?? "/etc/disputed/calendars")
        calendarsTable?.finish()

        let policy = parsePolicy(root.table("policy"))
        root.finish()
        try reader.check()
        return Configuration(
            file: file,
            daemon: Daemon(stateDirectory: stateDirectory, logLevel: logLevel, requestRetentionDays: requestRetentionDays,
                           closedRetentionDays: closedRetentionDays),
            control: control, spool: spool, notices: notices, calendars: calendars, policy: policy)
    }

    static let defaultPolicy = Policy(
        responseBusinessDays: 14, extendedResponseBusinessDays: 21,
        extendedReasons: ["notReceived", "returned"],
        customerStatementBusinessDays: 7, evidenceBusinessDays: 10, reviewAlertBusinessDays: 5,
        reminderBusinessDaysBefore: [5, 1], cutoffMinutes: 16 * 60)

    private static func parsePolicy(_ table: TOMLTableReader?) -> Policy {
        var policy = defaultPolicy
        guard let table else { return policy }
        let window = 1...60
        policy.responseBusinessDays = table.integer("response_business_days", in: window, default: policy.responseBusinessDays)
        policy.extendedResponseBusinessDays = table.integer("extended_response_business_days", in: window, default: policy.extendedResponseBusinessDays)
        if let reasons = table.stringArray("extended_reasons") {
            for reason in reasons where !knownDisputeReasons.contains(reason) {
                table.report("'policy.extended_reasons' names unknown reason \"\(reason)\"; known reasons: \(knownDisputeReasons.joined(separator: ", "))", key: "extended_reasons")
            }
            policy.extendedReasons = reasons
        }
        policy.customerStatementBusinessDays = table.integer("customer_statement_business_days", in: window, default: policy.customerStatementBusinessDays)
        policy.evidenceBusinessDays = table.integer("evidence_business_days", in: window, default: policy.evidenceBusinessDays)
        policy.reviewAlertBusinessDays = table.integer("review_alert_business_days", in: window, default: policy.reviewAlertBusinessDays)
        if let reminders = table.integerArray("reminder_business_days_before", in: 1...59) {
            policy.reminderBusinessDaysBefore = Array(Set(reminders)).sorted(by: >)
        }
        if let raw = table.string("cutoff") {
            if let minutes = parseClockTime(raw) { policy.cutoffMinutes = minutes } else {
                table.report("'policy.cutoff' is \"\(raw)\", must be a local time HH:MM between 00:00 and 23:59", key: "cutoff")
            }
        }
        if policy.extendedResponseBusinessDays < policy.responseBusinessDays {
            table.report("'policy.extended_response_business_days' (\(policy.extendedResponseBusinessDays)) is shorter than 'policy.response_business_days' (\(policy.responseBusinessDays))", key: "extended_response_business_days")
        }
        for offset in policy.reminderBusinessDaysBefore where offset >= policy.responseBusinessDays {
            table.report("'policy.reminder_business_days_before' has \(offset), which is not before the end of a \(policy.responseBusinessDays)-day response window", key: "reminder_business_days_before")
        }
        table.finish()
        return policy
    }
}


extension Configuration.Policy {
    /// The workflow's view of the configured policy.
    public var disputePolicy: DisputePolicy {
        DisputePolicy(
            responseBusinessDays: responseBusinessDays, extendedResponseBusinessDays: extendedResponseBusinessDays,
            extendedReasons: extendedReasons.compactMap(DisputeReason.init(rawValue:)),
            customerStatementBusinessDays: customerStatementBusinessDays, evidenceBusinessDays: evidenceBusinessDays,
            reviewAlertBusinessDays: reviewAlertBusinessDays, reminderBusinessDaysBefore: reminderBusinessDaysBefore,
            cutoffMinutes: cutoffMinutes)
    }
}
