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
    /// for it. Names found are kept per uid (a write request must not read
    /// the user database each time; the uid is there should one change); a
    /// uid without one is asked again, so a user created later is named.
    var actor: String {
        if let known = Self.actors.withLock({ $0[uid] }) { return known }
        guard let name = UserDatabase.userName(of: uid) else { return "uid \(uid)" }
        let actor = "\(name) (uid \(uid))"
        Self.actors.withLock { $0[uid] = actor }
        return actor
    }

    private static let actors = Mutex<[UInt32: String]>([:])
}

/// The memory layout of Linux's `struct ucred`, which Glibc hides behind `_GNU_SOURCE`.
struct LinuxUcred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Linux's `SO_PEERCRED` option number (asm-generic/socket.h).
let linuxSOPeerCred: Int32 = 17

/// Lookups in the user and group databases that may run on any thread: the
/// plain `getpwuid` and `getgrnam` return a static buffer every thread shares,
/// and requests are served on several (the reentrant `_r` forms, with a buffer
/// of the caller's).
enum UserDatabase {
    /// The user name of `uid`, or nil when the database has none.
    static func userName(of uid: UInt32) -> String? {
        lookUp { entry, buffer, size, found in getpwuid_r(uid, &entry, buffer, size, &found) } read: { (entry: passwd) in
            entry.pw_name.map { String(cString: $0) }
        }
    }

    /// The id of the group called `name`, or nil when there is none.
    static func groupID(named name: String) -> UInt32? {
        guard !name.isEmpty else { return nil }
        return lookUp { entry, buffer, size, found in getgrnam_r(name, &entry, buffer, size, &found) } read: { (entry: group) in entry.gr_gid }
    }

    /// Calls a `get*_r` function with a buffer that grows while it is too small
    /// (ERANGE), and reads the entry it found while the buffer lives.
    private static func lookUp<Entry, Value>(
        _ call: (inout Entry, UnsafeMutablePointer<CChar>, Int, inout UnsafeMutablePointer<Entry>?) -> Int32,
        read: (Entry) -> Value?
    ) -> Value? where Entry: ZeroInitializable {
        var size = 1024
        while size <= 1 << 20 {
            var entry = Entry()
            var found: UnsafeMutablePointer<Entry>?
            var buffer = [CChar](repeating: 0, count: size)
            let (status, value) = buffer.withUnsafeMutableBufferPointer { storage -> (Int32, Value?) in
                let status = call(&entry, storage.baseAddress!, storage.count, &found)
                return (status, status == 0 && found != nil ? read(entry) : nil)
            }
            guard status == ERANGE else { return value }
            size *= 4
        }
        return nil
    }
}

/// The C structs `UserDatabase` fills, which Swift imports with a zeroing init.
protocol ZeroInitializable { init() }
extension passwd: ZeroInitializable {}
extension group: ZeroInitializable {}
