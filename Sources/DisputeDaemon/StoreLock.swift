import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One daemon per store. Two daemons on one state directory (a second
/// instance started by hand with another socket path, a copy of the unit)
/// would each load every pending timer and fire it, and spool each notice
/// twice. An exclusive `flock` on `disputed.lock` in the state directory is
/// taken before the store is opened and held until the process ends; the
/// kernel releases it however the process ends, so a SIGKILL leaves no
/// stale lock behind. The file holds the holder's pid, for the message.
enum StoreLock {
    static let fileName = "disputed.lock"

    /// Takes the lock for the life of the process, or throws naming the holder.
    static func acquire(stateDirectory: String) throws {
        let path = (stateDirectory as NSString).appendingPathComponent(fileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw DaemonError.directory(path: path, message: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &buffer, buffer.count)
            close(fd)
            let holder = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            guard code == EWOULDBLOCK else { throw DaemonError.directory(path: path, message: String(cString: strerror(code))) }
            throw DaemonError.storeInUse(directory: stateDirectory, pid: Int32(holder))
        }
        let pid = Array("\(getpid())\n".utf8)
        guard ftruncate(fd, 0) == 0, write(fd, pid, pid.count) == pid.count else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw DaemonError.directory(path: path, message: message)
        }
        // The descriptor stays open, and the lock held, until the process exits.
    }
}
