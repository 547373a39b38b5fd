import Foundation
import Testing
@testable import TOMLDocument

@Suite struct TextFileTests {
    private func scratch() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("textfile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func readsUTF8TextWholeIncludingAnEmptyFile() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = "[daemon]\nname = \"Åsa\"\n" + String(repeating: "x", count: 200_000)   // longer than one read
        try text.write(toFile: directory + "/a.toml", atomically: true, encoding: .utf8)
        #expect(try TextFile.read(directory + "/a.toml") == text)
        _ = FileManager.default.createFile(atPath: directory + "/empty.toml", contents: Data())
        #expect(try TextFile.read(directory + "/empty.toml") == "")
    }

    @Test func saysWhyAFileCannotBeRead() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: TextFile.ReadError(reason: "no such file", missing: true)) { try TextFile.read(directory + "/nope.toml") }
        #expect(throws: TextFile.ReadError(reason: "is a directory, not a file", missing: false)) { try TextFile.read(directory) }
        #expect(throws: TextFile.ReadError(reason: "is longer than 16 MiB; is it the right file?", missing: false)) { try TextFile.read("/dev/zero") }
        _ = FileManager.default.createFile(atPath: directory + "/file", contents: Data("x".utf8))
        #expect(throws: TextFile.ReadError(reason: "not a directory", missing: false)) { try TextFile.read(directory + "/file/x.toml") }
    }

    @Test func namesTheFirstByteThatIsNotUTF8AndItsLine() throws {
        // Latin-1 "ö" (0xF6) on the third line, after a two-byte UTF-8 "å".
        let bytes = Array("a = 1\nb = \"å\"\nc = \"".utf8) + [0xF6, 0x22, 0x0A]
        #expect(throws: TextFile.ReadError(reason: "is not UTF-8 text: byte 20 (line 3) is 0xF6", missing: false)) { try TextFile.decode(bytes) }
        // A sequence cut short at the end of the file.
        #expect(throws: TextFile.ReadError(reason: "is not UTF-8 text: byte 2 (line 1) is 0xE2", missing: false)) { try TextFile.decode([0x61, 0x62, 0xE2, 0x82]) }
        #expect(try TextFile.decode(Array("ä€😀".utf8)) == "ä€😀")
    }
}
