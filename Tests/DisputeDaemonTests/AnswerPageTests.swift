import ControlProtocol
import NIOCore
import Testing
@testable import DisputeDaemon

@Suite struct AnswerPageTests {
    /// Rows whose JSON is exactly 100 bytes (a string of 98 characters and its quotes), 101 with the comma.
    private let rows = (1...10).map { n in (n, String(repeating: "x", count: 98)) }

    private func page(limit: Int = 100, budget: Int, _ candidates: [(Int, String)]? = nil,
                      view: ((Int, String)) -> JSONValue? = { .string($0.1) }) -> AnswerPage<Int> {
        AnswerPage(candidates ?? rows, limit: limit, budget: budget, cursor: \.0, view: view)
    }

    @Test func aPageEndsBeforeTheRowThatWouldPassItsBudgetAndNamesTheLastRowTaken() {
        let p = page(budget: 350)
        #expect(p.rows.count == 3 && p.more && p.next == 3)
    }

    @Test func aPageEndsAtItsLimitWhenMoreMatch() {
        let p = page(limit: 4, budget: 10_000)
        #expect(p.rows.count == 4 && p.next == 4)
    }

    @Test func aPageThatTakesEveryCandidateEndsTheListing() {
        let p = page(limit: 10, budget: 10_000)
        #expect(p.rows.count == 10 && !p.more && p.next == nil)
    }

    @Test func theFirstRowIsTakenWhateverItsSizeSoThatPagingMovesOn() {
        let p = page(budget: 10)
        #expect(p.rows.count == 1 && p.next == 1)
    }

    @Test func rowsTheViewLeavesOutTakeNoRoomAndThePageGoesOnAfterThem() {
        let p = page(budget: 250) { $0.0 % 2 == 0 ? nil : .string($0.1) }
        #expect(p.rows.count == 2 && p.next == 4)  // rows 1 and 3 taken, 2 and 4 passed over, 5 does not fit
    }

    @Test func theRowBudgetLeavesRoomForTheLongestEnvelope() {
        let id = String(repeating: "\u{01}", count: 200)  // 200 characters, each escaped to 6 bytes
        var envelope: [UInt8] = []
        ControlResponse.success(id: id, result: .object(["disputes": .array([]), "more": .bool(true),
                                                         "next": .string("9223372036854775807:9223372036854775807"),
                                                         "now": .string("2027-01-11T09:00:00Z")])).jsonValue.writeJSON(into: &envelope)
        #expect(envelope.count + AnswerPage<Int>.rowBudget + 1 <= maximumLineLength)
    }

    @Test func anAnswerLongerThanALineIsReplacedByTooLarge() throws {
        let long = ControlResponse.success(id: "r", result: .string(String(repeating: "x", count: maximumLineLength)))
        let line = ControlServer.line(long)
        #expect(line.readableBytes <= maximumLineLength)
        let answer = try ControlResponse.decode(line: Array(line.readableBytesView.dropLast()))
        #expect(answer.id == "r" && answer.error?.code == .tooLarge && answer.error?.message.contains("more than the protocol's 65536") == true)
        let short = ControlResponse.success(id: "r", result: .string("x"))
        #expect(Array(ControlServer.line(short).readableBytesView) == Array(short.encodedLine()))
    }
}
