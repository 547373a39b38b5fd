import ControlProtocol
import NIOCore

/// One framed unit of the control protocol.
enum ControlFrame: Sendable {
    /// A complete line without its `\n`.
    case line(ByteBuffer)
    /// The client sent more than the line limit without a newline; the connection is to be closed.
    case tooLarge
}

/// Splits the byte stream into `\n`-terminated lines of at most `maximumLength` bytes.
///
/// Unlike NIOExtras' `LineBasedFrameDecoder` it never buffers without bound: as
/// soon as the limit is passed it emits ``ControlFrame/tooLarge`` once and
/// discards everything after it, so a hostile client costs at most the limit.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ControlFrame
    let maximumLength: Int
    private var overflowed = false
    /// Where the search for `\n` resumes, so a slowly arriving line is scanned once.
    private var scanned = 0

    init(maximumLength: Int = ControlProtocol.maximumLineLength) {
        self.maximumLength = maximumLength
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if overflowed {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        let view = buffer.readableBytesView
        if let newline = view.dropFirst(scanned).firstIndex(of: 0x0A) {
            let length = newline - view.startIndex
            scanned = 0
            if length > maximumLength {
                overflowed = true
                buffer.moveReaderIndex(to: buffer.writerIndex)
                context.fireChannelRead(wrapInboundOut(.tooLarge))
                return .needMoreData
            }
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            // Tolerate CRLF from hand-typed clients (socat, nc -C).
            if line.readableBytesView.last == 0x0D { line = line.getSlice(at: line.readerIndex, length: length - 1)! }
            context.fireChannelRead(wrapInboundOut(.line(line)))
            return .continue
        }
        scanned = view.count
        if view.count > maximumLength {
            overflowed = true
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.fireChannelRead(wrapInboundOut(.tooLarge))
        }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A final line without `\n` is still a request (`echo -n ... | nc -U`).
        while try decode(context: context, buffer: &buffer) == .continue {}
        if !overflowed, buffer.readableBytes > 0, let rest = buffer.readSlice(length: buffer.readableBytes) {
            context.fireChannelRead(wrapInboundOut(.line(rest)))
        }
        return .needMoreData
    }
}
