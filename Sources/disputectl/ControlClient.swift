import ControlProtocol
import Foundation
import Glibc

/// The daemon could not be reached; carries the socket that was tried.
struct UnreachableError: Error, CustomStringConvertible {
    let socket: String
    let reason: String
    var description: String { "cannot reach disputed at \(socket): \(reason)" }
}

/// A blocking client for the control socket: one connection, one request at a time.
struct ControlClient {
    let socketPath: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    /// How much of `buffer` is known to hold no newline.
    private var scanned = 0

    init(socketPath: String, timeoutSeconds: Int = 120) throws {
        self.socketPath = socketPath
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw UnreachableError(socket: socketPath, reason: String(cString: strerror(errno))) }
        let code = UnixSocket.connect(fd, to: socketPath)
        if code != 0 {
            Glibc.close(fd)
            if code == ENAMETOOLONG { throw UnreachableError(socket: socketPath, reason: "path is longer than a Unix socket path may be") }
            if code == EACCES { throw UnreachableError(socket: socketPath, reason: Self.permissionHint(socketPath)) }
            let reason = String(cString: strerror(code))
            throw UnreachableError(socket: socketPath, reason: "\(reason.prefix(1).lowercased() + reason.dropFirst()) (is disputed running? use --socket or $DISPUTED_SOCKET)")
        }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
    }

    func close() { Glibc.close(fd) }

    /// Why a connect was refused with EACCES, and what to do: the daemon is
    /// running, but this user is not in the socket's group.
    static func permissionHint(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0, let group = getgrgid(info.st_gid) else {
            return "permission denied (the socket or a directory above it is closed to this user)"
        }
        let name = String(cString: group.pointee.gr_name)
        let user = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "your user"
        return "permission denied: only the socket's owner and group '\(name)' may connect (mode \(String(info.st_mode & 0o777, radix: 8))); "
            + "add \(user) to the group (usermod -aG \(name) \(user)) and log in again"
    }

    /// Sends one request and waits for its response line.
    mutating func send(_ request: ControlRequest) throws -> ControlResponse {
        var data = try JSONCoding.encoder.encode(request)
        data.append(0x0A)
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw UnreachableError(socket: socketPath, reason: "sending failed: \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
        let line = try readLine()
        do {
            return try ControlResponse.decode(line: line)
        } catch {
            throw UnreachableError(socket: socketPath, reason: "the daemon's answer is not a control-protocol response")
        }
    }

    private mutating func readLine() throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            // Only what arrived since the last look: a response of many
            // megabytes arrives in thousands of reads.
            if let newline = buffer[scanned...].firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                scanned = 0
                return line
            }
            scanned = buffer.count
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                throw UnreachableError(socket: socketPath, reason: errno == EAGAIN ? "no answer within the timeout" : String(cString: strerror(errno)))
            }
            if n == 0 { throw UnreachableError(socket: socketPath, reason: "the daemon closed the connection without answering") }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}
