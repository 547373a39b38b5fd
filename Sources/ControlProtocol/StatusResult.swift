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

    public init(version: String, pid: Int32, startedAt: String, uptimeSeconds: Int64, clock: String,
                now: String, configPath: String, configLoadedAt: String, store: Store) {
        self.version = version
        self.pid = pid
        self.startedAt = startedAt
        self.uptimeSeconds = uptimeSeconds
        self.clock = clock
        self.now = now
        self.configPath = configPath
        self.configLoadedAt = configLoadedAt
        self.store = store
    }
}
