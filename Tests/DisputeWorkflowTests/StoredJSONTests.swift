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
