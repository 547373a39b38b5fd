import Foundation
import Glibc
import Testing
@testable import SystemdSupport

/// A fake service manager: an AF_UNIX datagram socket that NOTIFY_SOCKET points at.
final class FakeNotifySocket {
    let path: String
    let fd: Int32

    init() throws {
        path = "/tmp/notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.EADDRINUSE) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite(.serialized) struct SystemdNotifierTests {
    @Test func notifierIsSilentWithoutNotifySocket() {
        unsetenv("NOTIFY_SOCKET")
        #expect(SystemdNotifier().send(["READY=1"]) == false)
    }

    @Test func readySendsReadyAndStatusInOneDatagram() throws {
        let fake = try FakeNotifySocket()
        setenv("NOTIFY_SOCKET", fake.path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        SystemdNotifier().ready(status: "Ready; 3 open")
        #expect(fake.receive() == "READY=1\nSTATUS=Ready; 3 open")
    }

    @Test func newlinesInValuesCannotForgeFields() throws {
        let fake = try FakeNotifySocket()
        setenv("NOTIFY_SOCKET", fake.path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        SystemdNotifier().status("bad\nREADY=1")
        #expect(fake.receive() == "STATUS=bad READY=1")
    }

    @Test func reloadingCarriesMonotonicTimestamp() throws {
        let fake = try FakeNotifySocket()
        setenv("NOTIFY_SOCKET", fake.path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        let before = SystemdNotifier.monotonicMicroseconds()
        SystemdNotifier().reloading()
        let message = try #require(fake.receive())
        let fields = message.split(separator: "\n")
        #expect(fields.first == "RELOADING=1")
        let usec = try #require(UInt64(fields.last!.dropFirst("MONOTONIC_USEC=".count)))
        #expect(usec >= before)
    }

    @Test func watchdogIntervalIsHalfOfWatchdogUsec() {
        setenv("WATCHDOG_USEC", "4000000", 1)
        setenv("WATCHDOG_PID", "\(getpid())", 1)
        defer { unsetenv("WATCHDOG_USEC"); unsetenv("WATCHDOG_PID") }
        #expect(SystemdNotifier().watchdogPingInterval() == .seconds(2))
    }

    @Test func noWatchdogWhenUnset() {
        unsetenv("WATCHDOG_USEC")
        #expect(SystemdNotifier().watchdogPingInterval() == nil)
    }
}
