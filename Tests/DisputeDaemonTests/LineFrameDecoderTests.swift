import NIOCore
import NIOEmbedded
import Testing
@testable import DisputeDaemon

@Suite struct LineFrameDecoderTests {
    private func channel(limit: Int) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maximumLength: limit)))
        return channel
    }

    private func lines(_ channel: EmbeddedChannel) throws -> [String] {
        var out: [String] = []
        while let frame = try channel.readInbound(as: ControlFrame.self) {
            switch frame {
            case let .line(b): out.append(String(buffer: b))
            case .tooLarge: out.append("<too large>")
            }
        }
        return out
    }

    @Test func splitsLinesAcrossWrites() throws {
        let c = try channel(limit: 100)
        try c.writeInbound(ByteBuffer(string: "ab"))
        try c.writeInbound(ByteBuffer(string: "c\nde\r\nf"))
        #expect(try lines(c) == ["abc", "de"])
        try c.writeInbound(ByteBuffer(string: "g\n"))
        #expect(try lines(c) == ["fg"])
    }

    @Test func overlongLineIsReportedOnceAndTheRestDiscarded() throws {
        let c = try channel(limit: 10)
        try c.writeInbound(ByteBuffer(string: String(repeating: "x", count: 11)))
        try c.writeInbound(ByteBuffer(string: "more\nok\n"))
        #expect(try lines(c) == ["<too large>"])
    }

    @Test func lineOfExactlyTheLimitIsAccepted() throws {
        let c = try channel(limit: 10)
        try c.writeInbound(ByteBuffer(string: String(repeating: "y", count: 10) + "\n"))
        #expect(try lines(c) == [String(repeating: "y", count: 10)])
    }

    @Test func finalLineWithoutNewlineIsDeliveredAtEOF() throws {
        let c = try channel(limit: 100)
        try c.writeInbound(ByteBuffer(string: "last"))
        #expect(try lines(c) == [])
        _ = try c.finish()
        #expect(try lines(c) == ["last"])
    }
}
