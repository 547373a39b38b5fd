import Logging
import Testing
@testable import SystemdSupport

@Suite struct JournalLogHandlerTests {
    @Test func entryCarriesMessagePriorityCodeLocationAndMetadata() {
        let fields = JournalLogHandler.fields(level: .error, message: "dispute opened", metadata: ["dispute": "D-1", "merchant": "M-SE", "op": "x"],
                                              file: "Engine.swift", function: "open()", line: 42, identifier: "disputed")
        #expect(fields.contains("MESSAGE=dispute opened"))
        #expect(fields.contains("PRIORITY=3"))
        #expect(fields.contains("CODE_FILE=Engine.swift"))
        #expect(fields.contains("CODE_LINE=42"))
        #expect(fields.contains("CODE_FUNC=open()"))
        #expect(fields.contains("DISPUTE_ID=D-1"))
        #expect(fields.contains("MERCHANT_ID=M-SE"))
        #expect(fields.contains("DISPUTED_OP=x"))
        #expect(fields.contains("MESSAGE_ID=5d1c0f5a8a8e4c4f9b6d1e2f3a4b5c60"))
    }

    @Test func fieldNamesAreValidJournalNames() {
        for key in ["timersLoaded", "retry-in", "_private", "9lives", String(repeating: "x", count: 100), "ä"] {
            let name = JournalLogHandler.fieldName(key)
            #expect(name.count <= 64)
            #expect(name.first!.isLetter)
            #expect(name.unicodeScalars.allSatisfy { ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" })
        }
    }

    @Test func everyEventTypeHasADistinct128BitMessageID() {
        let ids = Array(JournalLogHandler.messageIDs.values)
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
        #expect(JournalLogHandler.messageIDs.count == 7)
    }

    @Test func prioritiesFollowSyslog() {
        #expect(JournalLogHandler.priority(.critical) == 2)
        #expect(JournalLogHandler.priority(.warning) == 4)
        #expect(JournalLogHandler.priority(.debug) == 7)
    }
}

@Suite struct WatchdogGateTests {
    @Test func pingsOnlyWhileTheEngineMakesProgress() {
        var gate = WatchdogGate()
        let decisions = [5, 6, 6, 6, 7].map { gate.shouldPing(ticks: UInt64($0)) }
        // Stalled at 6: no ping, so systemd restarts the service.
        #expect(decisions == [true, true, false, false, true])
    }
}
