import Glibc

/// What a configuration asks of the process that runs it, checked by the
/// daemon at start and at a reload — not by `--check-config`, which runs as
/// whoever checks, with that user's groups and limits.
enum ProcessFit {
    static func ensure(_ c: Configuration, spoolGroup: gid_t?) throws {
        if let spoolGroup, !mayGiveFiles(toGroup: spoolGroup) {
            let user = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())"
            throw DaemonError.spool(message: "spool.group '\(c.spool.group)': disputed runs as \(user), which is not a member, "
                + "so its spool files could not be given that group (add the group to the user or to the unit's "
                + "SupplementaryGroups=, or leave spool.group empty)")
        }
        try ensureFileLimit(maxConnections: c.control.maxConnections)
    }

    /// Whether this process may give its files group `gid` (chown): root, or a
    /// member of it (its own group or a supplementary one).
    static func mayGiveFiles(toGroup gid: gid_t) -> Bool {
        if geteuid() == 0 || getegid() == gid { return true }
        let count = getgroups(0, nil)
        guard count > 0 else { return false }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let filled = getgroups(count, &groups)
        return groups.prefix(Int(max(filled, 0))).contains(gid)
    }

    /// Descriptors kept for everything but control connections (and for
    /// connections over the limit, accepted only to be refused).
    static let reserve: rlim_t = 128

    /// The open-file limit (RLIMIT_NOFILE) against `control.max_connections`.
    ///
    /// Every control connection holds a descriptor, and the store, its readers,
    /// the spool and the journal hold about 30 more. A daemon allowed more
    /// connections than it may open files runs into EMFILE, and SwiftNIO's accept
    /// loop then spins a core at 100 % while new connections wait (measured: 90
    /// connections under a limit of 100). So the soft limit is raised up to the
    /// hard one when that is enough (under the unit, whose seccomp filter forbids
    /// setrlimit, `LimitNOFILE=` does it), and a configuration that still does
    /// not fit is refused with both numbers.
    static func ensureFileLimit(maxConnections: Int) throws {
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
