import CSystemd
import Glibc

/// Sockets passed by systemd (socket activation).
public enum ListenFDs {
    /// The listening socket systemd passed under `name` (`FileDescriptorName=`),
    /// when `LISTEN_PID` names this process; nil otherwise. The environment
    /// variables are left in place (a re-exec would not get the sockets anyway).
    public static func named(_ name: String) -> Int32? {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        let count = sd_listen_fds_with_names(0, &names)
        guard count > 0 else { return nil }
        defer {
            if let names {
                for i in 0..<Int(count) { free(names[i]) }
                free(names)
            }
        }
        for i in 0..<Int(count) {
            let fdName = names.flatMap { $0[i] }.map { String(cString: $0) } ?? ""
            // A socket unit without FileDescriptorName= passes "unknown"; accept
            // it when it is the only socket.
            if fdName == name || (count == 1 && fdName == "unknown") {
                let fd = SD_LISTEN_FDS_START + Int32(i)
                guard sd_is_socket_unix(fd, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 else { return nil }
                return fd
            }
        }
        return nil
    }
}
