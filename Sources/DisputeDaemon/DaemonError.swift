/// Errors that stop the daemon from starting, each naming what to fix.
public enum DaemonError: Error, Sendable, CustomStringConvertible {
    case socket(path: String, message: String)
    /// Something other than a socket is at the control socket's path: left as
    /// it is (it may be anyone's file), and no restart makes it go away.
    case notASocket(path: String)
    case directory(path: String, message: String)
    case spool(message: String)
    /// Another process holds the state directory's lock.
    case storeInUse(directory: String, pid: Int32?)
    /// Another process holds the spool directory's lock.
    case spoolInUse(directory: String, pid: Int32?)
    /// `control.max_connections` needs more open files than the process may have.
    case fileLimit(maxConnections: Int, needed: UInt64, soft: UInt64, hard: UInt64)

    public var description: String {
        switch self {
        case let .socket(path, message): return "control socket \(path): \(message)"
        case let .notASocket(path):
            return "control socket \(path): exists and is not a socket; remove it or choose another path (control.socket)"
        case let .directory(path, message): return "directory \(path): \(message)"
        case let .spool(message): return "spool: \(message)"
        case let .storeInUse(directory, pid):
            return "the store in \(directory) is in use by another disputed" + (pid.map { " (pid \($0))" } ?? "")
                + "; one daemon per state directory: stop that one first"
        case let .spoolInUse(directory, pid):
            return "the spool \(directory) is in use by another disputed" + (pid.map { " (pid \($0))" } ?? "")
                + "; each daemon needs a spool directory of its own (spool.directory), or notices of the two stores with the same id would be lost"
        case let .fileLimit(maxConnections, needed, soft, hard):
            return "control.max_connections = \(maxConnections) needs about \(needed) open files, but this process may open \(soft) "
                + "(RLIMIT_NOFILE, hard limit \(hard)); raise LimitNOFILE= in the unit (or ulimit -n), or lower control.max_connections"
        }
    }
}
