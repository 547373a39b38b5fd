import ControlProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// The load generator of ingest.dispute-open: N clients, each its own connection
// to the daemon's control socket, each sending one `dispute.open` and waiting
// for its acknowledgement before the next (the daemon acknowledges only after
// commit). One thread multiplexes every connection with poll(2), so the client
// costs little CPU next to the daemon on a small machine; a Python client with
// one thread per connection measured the client rather than the daemon.
//
// Usage: IngestLoad SOCKET CLIENTS SECONDS MERCHANT
// Prints: INGEST <acknowledged> <seconds> <refused>

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("IngestLoad: \(message)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count == 5, let clients = Int(arguments[2]), let seconds = Double(arguments[3]) else {
    fail("usage: IngestLoad SOCKET CLIENTS SECONDS MERCHANT")
}
let socketPath = arguments[1]
let merchant = arguments[4]

func connectClient() -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { fail("socket: \(String(cString: strerror(errno)))") }
    let code = UnixSocket.connect(fd, to: socketPath)
    guard code == 0 else { fail("connect \(socketPath): \(String(cString: strerror(code)))") }
    return fd
}

struct Client {
    let fd: Int32
    let number: Int
    var sequence = 0
    var pending: [UInt8] = []

    func request() -> [UInt8] {
        let tag = "\(number)-\(sequence)"
        return Array(("{\"v\":1,\"id\":\"c\(tag)\",\"op\":\"dispute.open\",\"args\":{\"merchant\":\"\(merchant)\","
            + "\"order\":\"O-\(tag)\",\"amount\":\"10.00\",\"currency\":\"SEK\",\"reason\":\"faulty\",\"id\":\"D-\(tag)\"}}\n").utf8)
    }

    func send() {
        var bytes = request()
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            guard n > 0 else { fail("write: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }
}

var connections = (0..<clients).map { Client(fd: connectClient(), number: $0) }
var polls = connections.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
var acknowledged = 0
var refused = 0
var buffer = [UInt8](repeating: 0, count: 65536)
let ok = Array("\"ok\":true".utf8)

let started = Date()
let deadline = started.addingTimeInterval(seconds)
for c in connections { c.send() }
var outstanding = clients
while outstanding > 0 {
    let stopping = Date() >= deadline
    guard poll(&polls, nfds_t(polls.count), 1000) >= 0 else { fail("poll: \(String(cString: strerror(errno)))") }
    for i in polls.indices where polls[i].revents != 0 {
        polls[i].revents = 0
        let n = buffer.withUnsafeMutableBytes { read(polls[i].fd, $0.baseAddress!, $0.count) }
        guard n > 0 else { fail("client \(i): connection closed by the daemon") }
        connections[i].pending.append(contentsOf: buffer[0..<n])
        while let newline = connections[i].pending.firstIndex(of: 0x0A) {
            let line = connections[i].pending[..<newline]
            if line.firstRange(of: ok) != nil { acknowledged += 1 } else {
                refused += 1
                FileHandle.standardError.write(Data("refused: ".utf8) + Data(line) + Data("\n".utf8))
            }
            connections[i].pending.removeSubrange(...newline)
            connections[i].sequence += 1
            if stopping {
                polls[i].events = 0
                outstanding -= 1
            } else {
                connections[i].send()
            }
        }
    }
}
let elapsed = Date().timeIntervalSince(started)
print("INGEST \(acknowledged) \(elapsed) \(refused)")
