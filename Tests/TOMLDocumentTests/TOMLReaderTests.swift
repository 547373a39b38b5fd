import Testing
@testable import TOMLDocument

@Suite struct TOMLReaderTests {
    @Test func readsTypedValuesFromTables() throws {
        let reader = TOMLReader(file: "t.toml", text: """
            [daemon]
            name = "x"
            count = 3
            on = true
            list = ["a", "b"]
            """)
        let daemon = try #require(reader.root.table("daemon"))
        #expect(daemon.string("name") == "x")
        #expect(daemon.integer("count", in: 1...5) == 3)
        #expect(daemon.boolean("on") == true)
        #expect(daemon.stringArray("list") == ["a", "b"])
        daemon.finish()
        reader.root.finish()
        #expect(reader.diagnostics.isEmpty)
    }

    @Test func unknownKeyIsReportedWithItsLine() {
        let reader = TOMLReader(file: "t.toml", text: "[daemon]\nname = \"x\"\n\nsurprise = 1\n")
        let daemon = reader.root.table("daemon")
        _ = daemon?.string("name")
        daemon?.finish()
        #expect(reader.diagnostics == [TOMLDiagnostic(file: "t.toml", line: 4, message: "unknown key 'daemon.surprise' in [daemon]")])
    }

    @Test func wrongTypeNamesKeyExpectedAndFoundType() {
        let reader = TOMLReader(file: "t.toml", text: "[a]\n# comment\nport = \"80\"\n")
        _ = reader.root.table("a")?.integer("port", in: 1...65535)
        #expect(reader.diagnostics.map(\.description) == ["t.toml:3: 'a.port' must be an integer, found a string"])
    }

    @Test func outOfRangeValueNamesTheAllowedRange() {
        let reader = TOMLReader(file: "t.toml", text: "[a]\nport = 0\n")
        #expect(reader.root.table("a")?.integer("port", in: 1...65535) == nil)
        #expect(reader.diagnostics.first?.message == "'a.port' is 0, must be between 1 and 65535")
    }

    @Test func syntaxErrorCarriesTheParserLine() {
        let reader = TOMLReader(file: "t.toml", text: "[a]\nok = 1\nbroken = = 2\n")
        #expect(reader.diagnostics.count == 1)
        #expect(reader.diagnostics.first?.line == 3)
        #expect(reader.diagnostics.first?.message.hasPrefix("syntax error") == true)
    }

    @Test func arrayOfTablesElementsGetTheirOwnLines() {
        let reader = TOMLReader(file: "t.toml", text: """
            [[holiday]]
            name = "a"

            [[holiday]]
            name = "b"
            wrong = 1
            """)
        let holidays = reader.root.tableArray("holiday")
        #expect(holidays.count == 2)
        for h in holidays { _ = h.string("name"); h.finish() }
        #expect(reader.diagnostics.map(\.description) == ["t.toml:6: unknown key 'holiday[1].wrong' in [holiday[1]]"])
    }

    @Test func quotedAndDottedKeysAreLocated() {
        let index = TOMLLineIndex(text: "[x]\n\"a.b\" = 1\nc.d = 2\n")
        #expect(index.line(of: ["x", "a.b"]) == 2)
        #expect(index.line(of: ["x", "c", "d"]) == 3)
    }

    @Test func linesInsideMultilineStringsAreNotKeys() {
        let index = TOMLLineIndex(text: "a = \"\"\"\nb = 1\n\"\"\"\nb = 2\n")
        #expect(index.line(of: ["b"]) == 4)
    }
}
