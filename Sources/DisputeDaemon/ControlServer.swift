import ControlProtocol
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Answers one decoded, authorised request.
public protocol ControlRequestHandler: Sendable {
    func handle(_ request: ControlRequest, operation: ControlOperation, peer: PeerCredentials) async -> ControlResponse
}

/// Where the control socket comes from.
public enum ControlListener: Sendable, Equatable {
    /// Bind this path ourselves (mode 0660, the given group; a stale socket file is removed only if nothing listens on it).
    case path(String, group: String = "")
    /// A listening socket passed by systemd (`disputed.socket`); the path belongs to systemd.
    case activated(fd: Int32, path: String)

    public var path: String {
        switch self {
        case let .path(p, _), let .activated(_, p): return p
        }
    }
}

/// The control socket: JSON lines over a Unix stream socket (interfaces.md).
///
/// Each connection is served by its own child task; a slow, malformed or
/// hostile client affects only its own connection. On graceful shutdown the
/// listener stops accepting, open connections are closed, and a socket file the
/// server created itself is removed.
/// How long a silent control connection stays open and how many may be open.
public struct ControlLimits: Sendable {
    public var idleTimeoutSeconds: Int
    public var maxConnections: Int
    public init(idleTimeoutSeconds: Int, maxConnections: Int) {
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxConnections = maxConnections
    }
}

public final class ControlServer: Service, Sendable {
    let listener: ControlListener
    let handler: ControlRequestHandler
    let authorizer: @Sendable () -> Authorizer
    let limits: @Sendable () -> ControlLimits
    let logger: Logger
    let group: MultiThreadedEventLoopGroup
    private let connections = Mutex<[ObjectIdentifier: Channel]>([:])
    private let ready: @Sendable () async -> Void

    /// - Parameters:
    ///   - authorizer: read for every connection, so a reload of the group names applies at once.
    ///   - limits: read for every connection too, for the same reason.
    ///   - ready: called once the socket accepts connections.
    public init(listener: ControlListener, handler: ControlRequestHandler,
                authorizer: @escaping @Sendable () -> Authorizer,
                limits: @escaping @Sendable () -> ControlLimits, logger: Logger,
                group: MultiThreadedEventLoopGroup = .singleton,
                ready: @escaping @Sendable () async -> Void = {}) {
        self.listener = listener
        self.handler = handler
        self.authorizer = authorizer
        self.limits = limits
        self.logger = logger
        self.group = group
        self.ready = ready
    }

    typealias Connection = (channel: NIOAsyncChannel<ControlFrame, ByteBuffer>, peer: PeerCredentials)

    /// Connections accepted but not yet served. NIO requires every async channel
    /// to be finished; one accepted while the server shuts down may never reach
    /// the accept loop, so it is closed here, and one that arrives later still
    /// is kept referenced (static: until the process exits) instead of being
    /// dropped unfinished.
    static let unserved = Mutex<[ObjectIdentifier: NIOAsyncChannel<ControlFrame, ByteBuffer>]>([:])

    static func closeUnserved() async {
        let leftovers: [NIOAsyncChannel<ControlFrame, ByteBuffer>] = unserved.withLock { table in
            let values = Array(table.values)
            table.removeAll()
            return values
        }
        for leftover in leftovers {
            try? await leftover.executeThenClose { (_: NIOAsyncChannelInboundStream<ControlFrame>, _: NIOAsyncChannelOutboundWriter<ByteBuffer>) in }
        }
    }

    public func run() async throws {
        let server = try await bind()
        let serverChannel = server.channel
        await ready()
        logger.info("control socket listening", metadata: ["socket": "\(listener.path)"])
        defer {
            if case let .path(path, _) = listener { unlink(path) }
        }
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { tasks in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        tasks.addTask { await self.serve(connection) }
                    }
                }
            }
            await Self.closeUnserved()
        } onGracefulShutdown: {
            serverChannel.close(promise: nil)
            for channel in self.connections.withLock({ Array($0.values) }) { channel.close(promise: nil) }
        }
    }

    private func bind() async throws -> NIOAsyncChannel<Connection, Never> {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
        let limits = self.limits
        let initializer: @Sendable (Channel) -> EventLoopFuture<Connection> = { channel in
            Self.peerCredentials(of: channel).flatMapThrowing { peer in
                let idle = TimeAmount.seconds(Int64(limits().idleTimeoutSeconds))
                try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idle))
                try channel.pipeline.syncOperations.addHandler(IdleCloseHandler())
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder()))
                let async = try NIOAsyncChannel<ControlFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                Self.unserved.withLock { $0[ObjectIdentifier(channel)] = async }
                return (async, peer)
            }
        }
        switch listener {
        case let .activated(fd, _):
            return try await bootstrap.bind(fd, childChannelInitializer: initializer)
        case let .path(path, group):
            try Self.prepareSocketPath(path)
            // interfaces.md: the socket file is mode 0660; access is then decided per peer.
            // Left to the umask (the unit's 0027 gives 0750), group members could not connect.
            // Bound under a temporary name, given its mode and group there, and only then
            // renamed into place: a client never finds the socket with another mode or group.
            let staging = Self.stagingPath(for: path)
            let bound = staging ?? path
            if let staging { unlink(staging) }
            let server = try await bootstrap.bind(unixDomainSocketPath: bound, childChannelInitializer: initializer)
            func abandon(_ message: String) async -> DaemonError {
                try? await server.channel.close()
                unlink(bound)
                return DaemonError.socket(path: path, message: message)
            }
            guard chmod(bound, 0o660) == 0 else {
                throw await abandon("cannot make the socket mode 0660: \(String(cString: strerror(errno)))")
            }
            if !group.isEmpty {
                guard let gid = UserDatabase.groupID(named: group), chown(bound, uid_t.max, gid) == 0 else {
                    throw await abandon("cannot give the socket to group '\(group)' (does it exist, and is the daemon's user a member?)")
                }
            }
            if let staging, rename(staging, path) != 0 {
                throw await abandon("cannot move the socket into place from \(staging): \(String(cString: strerror(errno)))")
            }
            return server
        }
    }

    /// The name the socket is bound under before it is renamed to `path`, in the
    /// same directory; nil when that name would not fit in `sun_path` (the socket
    /// is then bound in place, as it must, and reaches its mode a moment later).
    static func stagingPath(for path: String) -> String? {
        let staging = path + ".new"
        return staging.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) ? staging : nil
    }

    /// Creates the socket's directory if needed and removes a stale socket file,
    /// refusing when another process still listens there or the path is not a socket.
    static func prepareSocketPath(_ path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            // 0755: users reach the socket through it; the socket's own mode and group decide.
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        }
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw DaemonError.notASocket(path: path)
        }
        if socketAnswers(path) {
            throw DaemonError.socket(path: path, message: "another process is listening on it (is disputed already running?)")
        }
        unlink(path)
    }

    static func socketAnswers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return UnixSocket.connect(fd, to: path) == 0
    }

    /// Reads `SO_PEERCRED` of an accepted connection.
    static func peerCredentials(of channel: Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(DaemonError.socket(path: "", message: "peer credentials unavailable"))
        }
        let future: EventLoopFuture<LinuxUcred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(linuxSOPeerCred))
        return future.map { PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
    }

    private func serve(_ connection: Connection) async {
        let (asyncChannel, peer) = connection
        let channel = asyncChannel.channel
        let key = ObjectIdentifier(channel)
        Self.unserved.withLock { _ = $0.removeValue(forKey: key) }
        let count = connections.withLock { table -> Int in
            table[key] = channel
            return table.count
        }
        defer { _ = connections.withLock { $0.removeValue(forKey: key) } }
        do {
            let maxConnections = limits().maxConnections
            try await asyncChannel.executeThenClose { inbound, outbound in
                if count > maxConnections {
                    logger.warning("control connection refused: too many connections", metadata: ["peer": "\(peer)"])
                    try await outbound.write(Self.line(.failure(id: "", ControlError(.unavailable, "too many control connections (limit \(maxConnections)); try again"))))
                    return
                }
                for try await frame in inbound {
                    switch frame {
                    case .tooLarge:
                        logger.notice("control request too large; closing connection", metadata: ["peer": "\(peer)"])
                        try await outbound.write(Self.line(.failure(id: "", ControlError(.tooLarge, "request line exceeds \(maximumLineLength) bytes; connection closed"))))
                        return
                    case let .line(buffer):
                        if buffer.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                        let response = await respond(to: buffer.readableBytesView, peer: peer)
                        try await outbound.write(Self.line(response))
                    }
                }
            }
        } catch {
            // A client that vanished mid-response or idled out; nothing to tell anyone.
            logger.debug("control connection ended", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
    }

    func respond(to line: ByteBufferView, peer: PeerCredentials) async -> ControlResponse {
        let request: ControlRequest
        switch ControlRequest.decode(line: line) {
        case let .failure(failure):
            return .failure(id: failure.id, failure.error)
        case let .success(decoded):
            request = decoded
        }
        guard let operation = ControlOperation(rawValue: request.op) else {
            return .failure(id: request.id, ControlError(.badRequest, "unknown operation '\(request.op)'"))
        }
        let role = authorizer().role(of: peer)
        guard role.may(operation) else {
            logger.warning("control request forbidden", metadata: [
                "op": "\(operation.rawValue)", "uid": "\(peer.uid)", "pid": "\(peer.pid)", "role": "\(role.rawValue)"])
            let needed = operation.isWrite ? "write access (root, the daemon's user or the admin group)"
                                           : "read access (the reader or admin group)"
            return .failure(id: request.id, ControlError(.forbidden, "'\(operation.rawValue)' needs \(needed); uid \(peer.uid) has none"))
        }
        return await handler.handle(request, operation: operation, peer: peer)
    }

    /// The response as one line. Listings come in pages that fit the
    /// protocol's 64 KiB a line; should any other answer not fit, the client
    /// gets `too_large` rather than a line it may not be able to read.
    static func line(_ response: ControlResponse) -> ByteBuffer {
        let line = response.encodedLine()
        guard line.count > maximumLineLength else { return ByteBuffer(bytes: line) }
        return ByteBuffer(bytes: ControlResponse.failure(id: response.id, ControlError(.tooLarge,
            "the answer is \(line.count) bytes, more than the protocol's \(maximumLineLength) a line")).encodedLine())
    }
}

/// Closes a connection that sent nothing for the idle timeout (a stalled half line included).
final class IdleCloseHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
