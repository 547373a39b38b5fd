import Testing
@testable import ControlProtocol

@Suite struct PlainTextTests {
    @Test func oneLineTextRefusesEveryASCIIControlCharacter() {
        #expect(!PlainText.hasControlCharacters("Åsa Möbler AB – order 42 🚀"))
        for byte in Array(0x00...0x1F) + [0x7F] {
            let text = "a" + String(UnicodeScalar(UInt8(byte))) + "b"
            #expect(PlainText.hasControlCharacters(text), "byte \(byte)")
        }
    }

    @Test func textOfSeveralLinesLetsLineBreaksAndTabsThroughButNotEscapes() {
        #expect(!PlainText.hasControlCharacters("one\r\n\ttwo\nthree", allowingLineBreaks: true))
        #expect(PlainText.hasControlCharacters("red \u{1B}[31m", allowingLineBreaks: true))
        #expect(PlainText.hasControlCharacters("nul \u{0}", allowingLineBreaks: true))
        #expect(PlainText.hasControlCharacters("del \u{7F}", allowingLineBreaks: true))
    }

    @Test func printableTextEscapesControlCharactersAndKeepsTheRest() {
        #expect(PlainText.printable("Åsa – 🚀") == "Åsa – 🚀")
        #expect(PlainText.printable("one\ntwo\r\tthree") == "one\\ntwo\\r\\tthree")
        #expect(PlainText.printable("red \u{1B}[31m bell \u{7} c1 \u{85}") == "red \\u{1B}[31m bell \\u{7} c1 \\u{85}")
    }
}
