import Glibc

/// The control socket's address family: connecting a stream socket to a path.
public enum UnixSocket {
    /// Connects `fd` (an `AF_UNIX` stream socket) to the socket at `path`.
    /// Returns 0, or the errno that says why not (`ENAMETOOLONG` when the path
    /// does not fit a socket address, 107 bytes on Linux).
    public static func connect(_ fd: Int32, to path: String) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return ENAMETOOLONG }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0 ? 0 : errno
    }
}
