import Glibc
import Synchronization

/// Who is on the other end of a control connection (`SO_PEERCRED`).
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "uid=\(uid) gid=\(gid) pid=\(pid)" }

    /// Who this peer is, as a dispute's timeline names the maker of a line:
    /// `alice (uid 1001)`, or `uid 1001` when the user database has no name
    /// for it. Names are looked up once per uid (a write request must not
    /// read the user database each time); the uid is there should one change.
    var actor: String {
        if let known = Self.actors.withLock({ $0[uid] }) { return known }
        let actor = Self.userName(of: uid).map { "\($0) (uid \(uid))" } ?? "uid \(uid)"
        Self.actors.withLock { $0[uid] = actor }
        return actor
    }

    private static let actors = Mutex<[UInt32: String]>([:])

    /// The user name of `uid` from the user database, with the reentrant
    /// `getpwuid_r` (`getpwuid`'s static buffer is shared by every thread,
    /// and requests are served on several).
    static func userName(of uid: UInt32) -> String? {
        var size = 1024
        while size <= 1 << 20 {
            var entry = passwd()
            var found: UnsafeMutablePointer<passwd>?
            var buffer = [CChar](repeating: 0, count: size)
            let (status, name) = buffer.withUnsafeMutableBufferPointer { storage -> (Int32, String?) in
                let status = getpwuid_r(uid, &entry, storage.baseAddress!, storage.count, &found)
                guard status == 0, found != nil, let name = entry.pw_name else { return (status, nil) }
                return (status, String(cString: name))
            }
            guard status == ERANGE else { return name }
            size *= 4
        }
        return nil
    }
}

/// The memory layout of Linux's `struct ucred`, which Glibc hides behind `_GNU_SOURCE`.
struct LinuxUcred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Linux's `SO_PEERCRED` option number (asm-generic/socket.h).
let linuxSOPeerCred: Int32 = 17
