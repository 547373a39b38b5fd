import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One daemon per store and per spool: an exclusive `flock` on a lock file in
/// the directory, held until released or until the process ends (the kernel
/// releases it however the process ends, so a SIGKILL leaves no stale lock
/// behind). The file holds the holder's pid, for the message.
///
/// - The store (`disputed.lock` in the state directory, taken before the store
///   is opened): two daemons on one state directory (a second instance started
///   by hand with another socket path, a copy of the unit) would each load
///   every pending timer and fire it, and spool each notice twice.
/// - The spool (`.disputed.lock` in the spool directory, taken before `tmp/`
///   is emptied): two daemons with stores of their own writing one spool (a
///   test instance configured like production) would empty each other's
///   `tmp/` at start, and a notice whose id the other store used too would
///   find that one's file in `new/` and be taken for spooled: lost.
final class DirectoryLock: Sendable {
    /// What the lock guards, for the message when it is held elsewhere.
    enum Guarded: String, Sendable {
        case store
        case spool
        var fileName: String { self == .store ? "disputed.lock" : ".disputed.lock" }
    }

    let directory: String
    private let fd: Int32

    private init(directory: String, fd: Int32) {
        self.directory = directory
        self.fd = fd
    }

    /// Takes the lock on `directory` (which must exist), or throws naming the holder.
    static func acquire(_ guarded: Guarded, directory: String) throws -> DirectoryLock {
        let path = (directory as NSString).appendingPathComponent(guarded.fileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw DaemonError.directory(path: path, message: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &buffer, buffer.count)
            close(fd)
            let holder = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            guard code == EWOULDBLOCK else { throw DaemonError.directory(path: path, message: String(cString: strerror(code))) }
            throw guarded == .store ? DaemonError.storeInUse(directory: directory, pid: Int32(holder))
                : DaemonError.spoolInUse(directory: directory, pid: Int32(holder))
        }
        // The pid is for the message only: a full disk (a full spool is a state the
        // daemon runs through, its notices waiting) does not keep it from starting.
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = write(fd, pid, pid.count) }
        return DirectoryLock(directory: directory, fd: fd)
    }

    /// Gives the lock up (a reload moved the spool elsewhere).
    func release() { close(fd) }
}

/// The spool lock the spooler holds: taken before the spool is first written
/// (at start, or at the first retry that finds the spool usable when it was
/// not at start: a file system not mounted yet), traded for another when a
/// reload moves the spool.
final class SpoolLock: Sendable {
    private let held = Mutex<DirectoryLock?>(nil)

    /// The directory whose lock is held, if any.
    var directory: String? { held.withLock { $0?.directory } }

    /// Makes sure the lock on `directory` is held, making the directory first;
    /// throws when it cannot be made or another daemon holds its lock.
    func hold(_ directory: String) throws {
        if self.directory == directory { return }
        adopt(try Self.take(directory))
    }

    /// The lock on `directory` (made first), not yet the one held: a reload
    /// takes it before it commits to the move, and adopts it after.
    static func take(_ directory: String) throws -> DirectoryLock {
        try Daemon.makeDirectory(directory, mode: 0o750)
        return try DirectoryLock.acquire(.spool, directory: directory)
    }

    /// Holds `lock` from now on and gives up the one held before.
    func adopt(_ lock: DirectoryLock) {
        held.withLock { held in
            held?.release()
            held = lock
        }
    }
}
