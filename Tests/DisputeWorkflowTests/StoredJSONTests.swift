import BusinessCalendar
import ControlProtocol
import Foundation
import Testing
@testable import DisputeWorkflow

/// The store writes dispute bodies with ControlProtocol's fast encoder; they
/// must be the text Foundation's encoder writes, so that every reader (and
/// every body stored before) agrees.
@Suite struct StoredJSONTests {
    static let stages: [DisputeStage] = [.awaitingMerchant, .escalated, .awaitingEvidence, .underReview, .closed]

    @Test(arguments: stages)
    func fastEncoderWritesFoundationsTextForADisputeIn(stage: DisputeStage) throws {
        var d = try dispute(in: stage)
        d.refundAmount = kr("100.00")
        let foundation = String(decoding: try JSONCoding.encoder.encode(d), as: UTF8.self)
        #expect(try JSONValueEncoder.jsonText(d) == foundation)
        // And it reads back as the same dispute.
        #expect(try JSONDecoder().decode(Dispute.self, from: Data(JSONValueEncoder.jsonText(d).utf8)) == d)
    }

    @Test func fastEncoderWritesFoundationsTextForAMerchantAndAContext() throws {
        let foundation = String(decoding: try JSONCoding.encoder.encode(emailMerchant), as: UTF8.self)
        #expect(try JSONValueEncoder.jsonText(emailMerchant) == foundation)
        let context = ["merchantName": "Åsa \"AB\"", "amount": "499,00 kr", "deadline": "fredag 29 januari 2027 23:59 CET"]
        #expect(try JSONValueEncoder.jsonText(context) == String(decoding: try JSONCoding.encoder.encode(context), as: UTF8.self))
    }
}

/// The store reads dispute bodies back with a direct reader
/// (``Dispute/init(storedJSON:)``); it must read what Foundation's decoder
/// reads, the same way, and refuse what it refuses.
@Suite struct StoredJSONReaderTests {
    /// A dispute with every optional field set, and strings that need escapes.
    func fullDispute(in stage: DisputeStage) throws -> Dispute {
        var d = try dispute(in: stage)
        d.refundAmount = kr("100.00")
        d.customerReference = "Kund \"Ö\" \\ 1/2\t😀"
        d.invoiceDueDate = CivilDate("2027-02-28")
        d.pausedAt = 1_799_658_000
        d.merchantRespondedAt = 1_799_700_000
        return d
    }

    func foundation(_ text: String) throws -> Dispute { try JSONDecoder().decode(Dispute.self, from: Data(text.utf8)) }

    @Test(arguments: StoredJSONTests.stages)
    func readsWhatFoundationReadsForADisputeIn(stage: DisputeStage) throws {
        for d in [try dispute(in: stage), try fullDispute(in: stage)] {
            let stored = try JSONValueEncoder.jsonText(d)
            #expect(try Dispute(storedJSON: stored) == d)
            // Foundation's own layouts: keys unsorted, pretty-printed, slashes escaped.
            let unsorted = String(decoding: try JSONEncoder().encode(d), as: UTF8.self)
            let prettyEncoder = JSONEncoder()
            prettyEncoder.outputFormatting = .prettyPrinted
            let pretty = String(decoding: try prettyEncoder.encode(d), as: UTF8.self)
            for text in [unsorted, pretty] {
                #expect(try Dispute(storedJSON: text) == foundation(text))
            }
        }
    }

    @Test func unknownKeysArePassedOverAndNullOptionalsAreNil() throws {
        let d = try dispute(in: .awaitingMerchant)
        var text = try JSONValueEncoder.jsonText(d)
        text.removeFirst()
        text = #"{"addedLater":{"a":[1,2.5,{"b":null}],"c":"}"},"outcome":null,"refundAmount":null,"#
            + #""customerReference":null,"closedAt":null,"#
            + text.replacingOccurrences(of: #""explanation":{"#, with: #""explanation":{"note":[],"effectiveReason":null,"#)
        #expect(try Dispute(storedJSON: text) == d)
        #expect(try foundation(text) == d)
    }

    /// Bodies Foundation refuses are refused too, each with a reason that names the problem.
    @Test func refusesWhatFoundationRefusesNamingTheProblem() throws {
        let good = try JSONValueEncoder.jsonText(try fullDispute(in: .closed))
        let cases: [(text: String, reason: String)] = [
            (good.replacingOccurrences(of: #""stage":"closed","#, with: ""), "Dispute has no 'stage'"),
            (good.replacingOccurrences(of: #""stage":"closed""#, with: #""stage":"lost""#), "'lost' is not a DisputeStage"),
            (good.replacingOccurrences(of: #""currency":"SEK""#, with: #""currency":"XXX""#), "unknown currency 'XXX'"),
            (good.replacingOccurrences(of: #""captured":true"#, with: #""captured":"yes""#), "expected true or false"),
            (good.replacingOccurrences(of: #""openedAt":"#, with: #""openedAt":1.5,"x":"#), "expected an integer"),
            (good.replacingOccurrences(of: #""invoiceDueDate":"2027-02-28""#, with: #""invoiceDueDate":"2027-02-30""#), "'2027-02-30' is not a date YYYY-MM-DD"),
            (good.replacingOccurrences(of: #""lastDay":"#, with: #""lastDay":null,"x":"#), "expected a string"),
            (good.replacingOccurrences(of: #""deadlines":["#, with: #""deadlines":[,"#), "expected an object"),
            (good.replacingOccurrences(of: #""counted":["#, with: #""counted":"#), "expected an array"),
            (String(good.dropLast()), "unexpected end of text"),
            (good + "x", "unexpected text after the JSON value"),
        ]
        for (text, reason) in cases {
            #expect(text != good, "the case for '\(reason)' changed nothing")
            #expect(throws: (any Error).self, "Foundation reads the case for '\(reason)'") { try foundation(text) }
            let error = #expect(throws: JSONSyntaxError.self) { try Dispute(storedJSON: text) }
            #expect(error?.reason.hasPrefix(reason) == true, "\(String(describing: error)) instead of \(reason)")
        }
        // Not JSON (RFC 8259), though Foundation's decoder lets it pass; no
        // writer of these bodies ever wrote one.
        let trailingComma = good.replacingOccurrences(of: #"],"disputedAmount""#, with: #",],"disputedAmount""#)
        #expect(trailingComma != good)
        let error = #expect(throws: JSONSyntaxError.self) { try Dispute(storedJSON: trailingComma) }
        #expect(error?.reason == "expected a value after ','")
    }
}
