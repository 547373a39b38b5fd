/// The result of `status`.
///
/// Fields are added as the daemon grows; clients ignore fields they do not know,
/// so adding one never breaks an older `disputectl`.
public struct StatusResult: Sendable, Codable, Equatable {
    public struct Store: Sendable, Codable, Equatable {
        public var path: String
        public var sizeBytes: Int64
        public var schemaVersion: String
        public init(path: String, sizeBytes: Int64, schemaVersion: String) {
            self.path = path
            self.sizeBytes = sizeBytes
            self.schemaVersion = schemaVersion
        }
    }

    /// The retention of closed disputes (`daemon.closed_retention_days`).
    public struct Retention: Sendable, Codable, Equatable {
        /// Days after closing that a dispute is removed; 0 keeps them for ever.
        public var closedDays: Int
        /// Disputes removed so far, over the store's life.
        public var removed: Int
        /// When the last of them were removed.
        public var lastRemovalAt: String?
        public init(closedDays: Int, removed: Int, lastRemovalAt: String?) {
            self.closedDays = closedDays
            self.removed = removed
            self.lastRemovalAt = lastRemovalAt
        }
    }

    public var version: String
    public var pid: Int32
    public var startedAt: String
    public var uptimeSeconds: Int64
    /// `real` or `simulated`.
    public var clock: String
    /// The daemon's idea of now (the virtual instant on a simulated clock).
    public var now: String
    public var configPath: String
    public var configLoadedAt: String
    public var store: Store
    /// Disputes per state (`awaitingMerchant`, ..., `closed`).
    public var disputes: [String: Int]
    public var pendingTimers: Int
    public var nextTimerDue: String?
    /// E-mail notices committed but not yet in the spool.
    public var outboxPending: Int
    /// When the oldest of them was committed (the daemon's clock), while any is
    /// pending: how far the spool is behind. Nil from a daemon that predates the field.
    public var outboxOldest: String?
    /// Market code to calendar version.
    public var calendars: [String: String]
    /// Timers loaded and fired by the last start's recovery.
    public var recovery: [String: Int]
    /// The last failed spool write, while the spool is failing.
    public var lastSpoolError: String?
    /// Due timers held back because their dispute cannot be worked on (no
    /// calendar for its market, a row this version cannot read); retried every
    /// minute. Nil from a daemon that predates the field.
    public var heldTimers: Int?
    /// Why the last held timer could not fire, while any is held.
    public var heldTimersReason: String?
    /// Nil from a daemon that predates the field.
    public var retention: Retention?
    /// While due timers cannot be committed because the store fails (a full
    /// disk, a damaged file): why, as the last attempt failed. They stay
    /// pending and are tried again every second.
    public var timerFailure: String?
    /// Since when (the daemon's clock), while `timerFailure` is set.
    public var timerFailureSince: String?
    /// Why the store could not be read for this answer (a damaged page, an
    /// I/O error); the counts read from it (disputes, outbox, next due) are
    /// then unknown and left empty, the pending timers are the engine's own.
    public var storeError: String?

    public init(version: String, pid: Int32, startedAt: String, uptimeSeconds: Int64, clock: String,
                now: String, configPath: String, configLoadedAt: String, store: Store,
                disputes: [String: Int], pendingTimers: Int, nextTimerDue: String?, outboxPending: Int,
                calendars: [String: String], recovery: [String: Int], lastSpoolError: String?,
                heldTimers: Int? = nil, heldTimersReason: String? = nil, outboxOldest: String? = nil, retention: Retention? = nil,
                timerFailure: String? = nil, timerFailureSince: String? = nil, storeError: String? = nil) {
        self.version = version
        self.pid = pid
        self.startedAt = startedAt
        self.uptimeSeconds = uptimeSeconds
        self.clock = clock
        self.now = now
        self.configPath = configPath
        self.configLoadedAt = configLoadedAt
        self.store = store
        self.disputes = disputes
        self.pendingTimers = pendingTimers
        self.nextTimerDue = nextTimerDue
        self.outboxPending = outboxPending
        self.outboxOldest = outboxOldest
        self.calendars = calendars
        self.recovery = recovery
        self.lastSpoolError = lastSpoolError
        self.heldTimers = heldTimers
        self.heldTimersReason = heldTimersReason
        self.retention = retention
        self.timerFailure = timerFailure
        self.timerFailureSince = timerFailureSince
        self.storeError = storeError
    }
}
