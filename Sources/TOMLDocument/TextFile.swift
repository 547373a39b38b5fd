#if canImport(Glibc)
import Glibc
#endif

/// Reads the text files an operator writes (configuration, calendars, notice
/// templates) and says exactly why one cannot be read: Foundation's
/// `String(contentsOfFile:)` reports a directory as "NSCocoaErrorDomain error
/// 256" and a file that is not UTF-8 without saying where.
public enum TextFile {
    public struct ReadError: Error, Sendable, Equatable, CustomStringConvertible {
        /// What is wrong, without the path: "no such file", "is a directory, not a file", ...
        public let reason: String
        /// True when nothing exists at the path (callers may say "missing" their own way).
        public let missing: Bool

        public var description: String { reason }
    }

    /// The longest file read: far more than any configuration, calendar or template.
    public static let limit = 16 << 20

    /// The whole file at `path` as UTF-8 text (a pipe, as from `<(...)`, too).
    public static func read(_ path: String) throws(ReadError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure(errno) }
        guard (info.st_mode & S_IFMT) != S_IFDIR else { throw ReadError(reason: "is a directory, not a file", missing: false) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(errno)
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            // A device or pipe named by mistake (/dev/zero) would never end.
            guard bytes.count <= limit else { throw ReadError(reason: "is longer than \(limit >> 20) MiB; is it the right file?", missing: false) }
        }
        return try decode(bytes)
    }

    /// `bytes` as a String, or where the first byte that is not UTF-8 is.
    public static func decode(_ bytes: [UInt8]) throws(ReadError) -> String {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case let .valid(encoded):
                offset += encoded.count
            case .emptyInput:
                return String(decoding: bytes, as: UTF8.self)
            case .error:
                let line = bytes[..<offset].count(where: { $0 == 0x0A }) + 1
                throw ReadError(reason: "is not UTF-8 text: byte \(offset) (line \(line)) is 0x\(String(bytes[offset], radix: 16, uppercase: true))",
                                missing: false)
            }
        }
    }

    private static func failure(_ code: Int32) -> ReadError {
        ReadError(reason: code == ENOENT ? "no such file" : reason(errno: code), missing: code == ENOENT)
    }

    /// Why opening a path failed, in words for a diagnostic.
    private static func reason(errno code: Int32) -> String {
        switch code {
        case EACCES: return "permission denied (read as uid \(geteuid()))"
        default: return String(cString: strerror(code)).lowercased()
        }
    }

    /// Why the directory at `path` cannot be listed ("no such directory" with
    /// `missing` set when nothing is there), or nil when it can.
    public static func unlistableDirectory(_ path: String) -> ReadError? {
        guard let handle = opendir(path) else {
            let code = errno
            return ReadError(reason: code == ENOENT ? "no such directory" : reason(errno: code), missing: code == ENOENT)
        }
        closedir(handle)
        return nil
    }
}
