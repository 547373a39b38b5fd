/// Errors that stop the daemon from starting, each naming what to fix.
public enum DaemonError: Error, Sendable, CustomStringConvertible {
    case socket(path: String, message: String)
    case directory(path: String, message: String)
    case spool(message: String)

    public var description: String {
        switch self {
        case let .socket(path, message): return "control socket \(path): \(message)"
        case let .directory(path, message): return "directory \(path): \(message)"
        case let .spool(message): return "spool: \(message)"
        }
    }
}
