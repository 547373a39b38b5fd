import Glibc

/// The open-file limit (RLIMIT_NOFILE) against `control.max_connections`.
///
/// Every control connection holds a descriptor, and the store, its readers, the
/// spool and the journal hold about 30 more. A daemon allowed more connections
/// than it may open files runs into EMFILE, and SwiftNIO's accept loop then
/// spins a core at 100 % while new connections wait (measured: 90 connections
/// under a limit of 100). So the limit is checked at start and at a reload:
/// the soft limit is raised up to the hard one when that is enough (under the
/// unit, whose seccomp filter forbids setrlimit, `LimitNOFILE=` does it), and a
/// configuration that still does not fit is refused with both numbers.
enum FileLimit {
    /// Descriptors kept for everything but control connections (and for
    /// connections over the limit, accepted only to be refused).
    static let reserve: rlim_t = 128

    /// Makes room for `maxConnections` control connections, or explains why it cannot.
    static func ensure(maxConnections: Int) throws {
        let needed = rlim_t(maxConnections) + reserve
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return }
        if limit.rlim_cur == rlim_t.max || limit.rlim_cur >= needed { return }
        if limit.rlim_max == rlim_t.max || limit.rlim_max >= needed {
            var raised = limit
            raised.rlim_cur = needed
            if setrlimit(resource, &raised) == 0 { return }
        }
        throw DaemonError.fileLimit(maxConnections: maxConnections, needed: UInt64(needed), soft: UInt64(limit.rlim_cur),
                                    hard: UInt64(limit.rlim_max))
    }
}
