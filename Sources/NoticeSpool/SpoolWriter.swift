import CSystemd
import Glibc

/// Why a spool write failed; the outbox row stays pending and is retried.
public struct SpoolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Whose fault a failure is: the spool's (a system call failed: retried,
    /// and the spooler stops its pass) or the notice's own.
    public enum Kind: Sendable, Equatable {
        case system
        /// The notice's id cannot be a file name: no retry or repair of the spool helps.
        case unsafeNoticeID
    }

    public let path: String
    public let operation: String
    public let errno: Int32
    public let kind: Kind

    public init(path: String, operation: String, errno: Int32, kind: Kind = .system) {
        self.path = path
        self.operation = operation
        self.errno = errno
        self.kind = kind
    }

    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
    /// The notice's id cannot be a file name: no retry or repair of the spool helps.
    public var isUnsafeID: Bool { kind == .unsafeNoticeID }
}

/// The Maildir-style outgoing spool of interfaces.md.
///
/// `write` puts a notice into `tmp/`, fsyncs it, renames it into `new/` without
/// replacing anything (renameat2 RENAME_NOREPLACE) and fsyncs `new/`. A relay
/// never sees a partial file in `new/`. A notice whose file is already in `new/`
/// or `cur/` (a crash between writing and marking the outbox row) is not written
/// again: exactly one file per notice.
public struct SpoolWriter: Sendable {
    public let directory: String
    public let groupID: UInt32?

    public init(directory: String, groupID: UInt32? = nil) {
        self.directory = directory
        self.groupID = groupID
    }

    var tmp: String { directory + "/tmp" }
    var new: String { directory + "/new" }
    var cur: String { directory + "/cur" }

    /// Creates `tmp/`, `new/` and `cur/` (mode 0750) and removes stale files from `tmp/`.
    /// Returns how many stale files were removed.
    @discardableResult
    public func prepare() throws(SpoolError) -> Int {
        for dir in [directory, tmp, new, cur] { try Self.makeDirectory(dir, mode: 0o750) }
        var removed = 0
        guard let d = opendir(tmp) else { throw SpoolError(path: tmp, operation: "opendir", errno: errno) }
        defer { closedir(d) }
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in String(cString: raw.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." { continue }
            if unlink(tmp + "/" + name) == 0 { removed += 1 }
        }
        return removed
    }

    /// `mkdir -p`: makes `path` and its missing parents with `mode`; the error
    /// names the path where it stopped and why (errno), and a `path` that
    /// exists as something other than a directory is refused (ENOTDIR).
    public static func makeDirectory(_ path: String, mode: mode_t) throws(SpoolError) {
        if mkdir(path, mode) == 0 { return }
        if errno != EEXIST {
            var prefix = path.hasPrefix("/") ? "/" : ""
            for part in path.split(separator: "/") {
                prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
                if mkdir(prefix, mode) != 0 && errno != EEXIST { throw SpoolError(path: prefix, operation: "mkdir", errno: errno) }
            }
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw SpoolError(path: path, operation: "stat", errno: errno) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw SpoolError(path: path, operation: "mkdir", errno: ENOTDIR) }
    }

    /// `<notice id>.eml`; ids hold only letters, digits, '.', '-' and '_' (no path can be smuggled in).
    public static func fileName(_ noticeID: String) -> String { noticeID + ".eml" }

    public static func isSafeID(_ id: String) -> Bool {
        !id.isEmpty && id.first != "." && id.utf8.count <= 200 && id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F || c == 0x2E
        }
    }

    /// Writes one notice atomically. Returns false if it was already spooled.
    ///
    /// With `syncDirectory: false` the rename into `new/` is not yet durable:
    /// the caller writes several notices, then calls ``syncDirectory()`` once
    /// before it records any of them as spooled (the spooler does this for a
    /// backlog, one directory fsync per batch instead of one per notice).
    @discardableResult
    public func write(noticeID: String, bytes: [UInt8], syncDirectory: Bool = true) throws(SpoolError) -> Bool {
        guard Self.isSafeID(noticeID) else { throw SpoolError(path: noticeID, operation: "refuse unsafe notice id", errno: EINVAL, kind: .unsafeNoticeID) }
        let name = Self.fileName(noticeID)
        // Already claimed by the relay (a crash between the write and marking the
        // outbox row). A copy still in new/ is caught by the rename below.
        if access(cur + "/" + name, F_OK) == 0 { return false }
        let tmpPath = tmp + "/" + name
        // No stale file can be in tmp/: prepare() empties it at start and a failed
        // write removes its own file.
        let fd = open(tmpPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw SpoolError(path: tmpPath, operation: "create", errno: errno) }
        var failure: SpoolError? = nil
        // The daemon checks at start that it may give files this group, so a
        // failure here is a file system that refuses it: named, not ignored.
        if let groupID, fchown(fd, uid_t.max, groupID) != 0 {
            failure = SpoolError(path: tmpPath, operation: "give group \(groupID) to", errno: errno)
        }
        if failure == nil && fchmod(fd, 0o640) != 0 {  // the umask must not widen or narrow it
            failure = SpoolError(path: tmpPath, operation: "chmod 0640", errno: errno)
        }
        if failure == nil {
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        failure = SpoolError(path: tmpPath, operation: "write", errno: errno)
                        return
                    }
                    offset += n
                }
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = SpoolError(path: tmpPath, operation: "fsync", errno: errno) }
        if close(fd) != 0 && failure == nil { failure = SpoolError(path: tmpPath, operation: "close", errno: errno) }
        if let failure {
            unlink(tmpPath)
            throw failure
        }
        if disputed_rename_noreplace(AT_FDCWD, tmpPath, AT_FDCWD, new + "/" + name) != 0 {
            let code = errno
            unlink(tmpPath)
            if code == EEXIST { return false }
            throw SpoolError(path: new + "/" + name, operation: "rename", errno: code)
        }
        if syncDirectory { try self.syncDirectory() }
        return true
    }

    /// Makes every rename into `new/` so far durable (fsync of the directory).
    public func syncDirectory() throws(SpoolError) {
        let dirfd = open(new, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { throw SpoolError(path: new, operation: "open", errno: errno) }
        defer { close(dirfd) }
        if fsync(dirfd) != 0 { throw SpoolError(path: new, operation: "fsync", errno: errno) }
    }
}
