import ControlProtocol
import Glibc

/// Decides a peer's role from its credentials (interfaces.md):
/// root and the daemon's own user may do everything, members of `admin_group`
/// may write, members of `reader_group` may read, anyone else is refused.
///
/// Group membership is the peer user's primary group plus its supplementary
/// groups from the group database, looked up at connection time so that a
/// change to /etc/group applies to the next connection.
public struct Authorizer: Sendable {
    public let adminGroup: String
    public let readerGroup: String
    public let daemonUID: UInt32

    public init(adminGroup: String, readerGroup: String, daemonUID: UInt32 = getuid()) {
        self.adminGroup = adminGroup
        self.readerGroup = readerGroup
        self.daemonUID = daemonUID
    }

    public func role(of peer: PeerCredentials) -> ControlRole {
        if peer.uid == 0 || peer.uid == daemonUID { return .admin }
        let groups = Self.groups(of: peer)
        if let admin = Self.gid(named: adminGroup), groups.contains(admin) { return .admin }
        if let reader = Self.gid(named: readerGroup), groups.contains(reader) { return .reader }
        return .none
    }

    static func gid(named name: String) -> UInt32? {
        UserDatabase.groupID(named: name)
    }

    static func groups(of peer: PeerCredentials) -> Set<UInt32> {
        var result: Set<UInt32> = [peer.gid]
        guard let name = UserDatabase.userName(of: peer.uid) else { return result }
        var count: Int32 = 64
        var list = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, peer.gid, &list, &count) == -1 {
            list = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, peer.gid, &list, &count)
        }
        for gid in list.prefix(Int(max(count, 0))) { result.insert(gid) }
        return result
    }
}
