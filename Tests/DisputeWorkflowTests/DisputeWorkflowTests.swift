import Foundation
import Testing
import BusinessCalendar
@testable import DisputeWorkflow

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let sweden: BusinessCalendar = {
    let path = root.appendingPathComponent("config/calendars/SE.toml").path
    return BusinessCalendar(try! CalendarLoader.parse(text: try! String(contentsOfFile: path, encoding: .utf8), file: path))
}()
let sek = Currency(code: "SEK")!
func kr(_ s: String) -> Money { Money(decimal: s, currency: sek)! }
func at(_ s: String) -> Int64 { Int64(ISO8601DateFormatter().date(from: s)!.timeIntervalSince1970) }

let emailMerchant = Merchant(id: "M1", legalName: "Åsa AB", email: "a@example.se", country: "SE", timeZone: "Europe/Stockholm", locale: "sv")
let portalMerchant = Merchant(id: "M2", legalName: "Portal AB", email: "p@example.se", country: "SE", timeZone: "Europe/Stockholm", portalActivated: true)

/// Monday 2027-01-11 10:00 Stockholm: a plain business day before the cut-off.
let openedAt = at("2027-01-11T09:00:00Z")

func open(reason: DisputeReason = .faulty, merchant: Merchant = emailMerchant, captured: Bool = true) throws -> Transition {
    try DisputeWorkflow.open(
        OpenRequest(id: "D1", orderReference: "O-1", orderAmount: kr("899.00"), disputedAmount: kr("499.00"),
                    captured: captured, reason: reason, invoiceDueDate: CivilDate("2027-01-31")),
        merchant: merchant, now: openedAt, policy: DisputePolicy(), calendar: sweden)
}

func step(_ d: Dispute, _ e: DisputeEvent, _ now: Int64 = openedAt + 86400, merchant: Merchant = emailMerchant) throws -> Transition {
    try DisputeWorkflow.apply(e, to: d, merchant: merchant, now: now, calendar: sweden)
}

func deadline(_ d: Dispute, _ kind: TimerKind) -> Int64 { d.deadlines.last { $0.kind == kind }!.instant }

/// A dispute in each non-closed stage.
func dispute(in stage: DisputeStage) throws -> Dispute {
    var d = try open().dispute
    if stage == .awaitingMerchant { return d }
    d = try step(d, .merchantResponded).dispute
    d = try step(d, .timerFired(.responseDeadline), deadline(d, .responseDeadline)).dispute
    if stage == .escalated { return d }
    d = try step(d, .customerStatement(valid: true), deadline(d, .statementDeadline) - 3600).dispute
    if stage == .awaitingEvidence { return d }
    d = try step(d, .evidenceSubmitted(note: "tracking"), deadline(d, .evidenceDeadline) - 3600).dispute
    if stage == .underReview { return d }
    return try step(d, .decided(.merchant), deadline(d, .reviewAlert)).dispute
}

func notices(_ t: Transition) -> [NoticeKind] {
    t.effects.compactMap { if case let .notice(k, _) = $0 { return k } else { return nil } }
}

@Suite struct OpeningTests {
    @Test func openingPausesTheInvoiceNotifiesAndSchedulesTheResponseWindow() throws {
        let t = try open()
        #expect(t.dispute.stage == .awaitingMerchant)
        #expect(t.dispute.invoice == .paused)
        #expect(t.effects.first == .pauseInvoice)
        #expect(notices(t) == [.disputeOpened])
        // 14 business days after Monday 11 January: Friday 29 January; ends at local midnight.
        #expect(t.dispute.deadlines.first?.explanation.lastDay == "2027-01-29")
        #expect(deadline(t.dispute, .responseDeadline) == at("2027-01-29T23:00:00Z"))
        let reminders = t.effects.compactMap { e -> Int64? in if case let .schedule(r) = e, r.kind == .responseReminder { return r.instant }; return nil }
        // 5 and 1 business days before the last day, at 09:00 local.
        #expect(reminders == [at("2027-01-22T08:00:00Z"), at("2027-01-28T08:00:00Z")])
    }

    @Test func notReceivedGetsTwentyOneBusinessDays() throws {
        let t = try open(reason: .notReceived)
        #expect(t.dispute.deadlines.first?.explanation.businessDays == 21)
        #expect(t.dispute.deadlines.first?.explanation.lastDay == "2027-02-09")
    }

    @Test func portalMerchantIsNotifiedInThePortal() throws {
        let t = try open(merchant: portalMerchant)
        #expect(t.effects.contains(.notice(.disputeOpened, .portal)))
    }

    @Test func portalMerchantWhoAskedForEmailGetsEmail() throws {
        var m = portalMerchant
        m.emailOnDispute = true
        #expect(try open(merchant: m).effects.contains(.notice(.disputeOpened, .email)))
    }

    @Test func disputedAmountAboveTheOrderAmountIsRefused() {
        #expect(throws: WorkflowError.invalid("disputed amount 900.00 SEK is above the order amount 899.00 SEK")) {
            _ = try DisputeWorkflow.open(OpenRequest(id: "D", orderReference: "O", orderAmount: kr("899.00"), disputedAmount: kr("900.00"), reason: .faulty),
                                         merchant: emailMerchant, now: openedAt, policy: DisputePolicy(), calendar: sweden)
        }
    }

    @Test func zeroAndMixedCurrencyAmountsAreRefused() {
        #expect(throws: WorkflowError.self) {
            _ = try DisputeWorkflow.open(OpenRequest(id: "D", orderReference: "O", orderAmount: kr("10"), disputedAmount: kr("0"), reason: .faulty),
                                         merchant: emailMerchant, now: openedAt, policy: DisputePolicy(), calendar: sweden)
        }
        #expect(throws: WorkflowError.self) {
            _ = try DisputeWorkflow.open(OpenRequest(id: "D", orderReference: "O", orderAmount: kr("10"), disputedAmount: Money(minorUnits: 5, currency: Currency(code: "EUR")!), reason: .faulty),
                                         merchant: emailMerchant, now: openedAt, policy: DisputePolicy(), calendar: sweden)
        }
    }

    @Test func moneyParsesWithoutFloatingPoint() {
        #expect(kr("499.00").minorUnits == 49900)
        #expect(kr("0.5").minorUnits == 50)
        #expect(Money(decimal: "1.005", currency: sek) == nil)
        #expect(Money(decimal: "-1", currency: sek) == nil)
        #expect(Money(decimal: "1e3", currency: sek) == nil)
        #expect(Money(decimal: "100", currency: Currency(code: "JPY")!)?.minorUnits == 100)
        #expect(Currency(code: "XYZ") == nil)
        #expect(kr("499.00").decimal == "499.00")
    }
}

@Suite struct PathTests {
    @Test func unansweredDisputeEndsInAChargebackAtTheDeadline() throws {
        let d = try open().dispute
        let t = try step(d, .timerFired(.responseDeadline), deadline(d, .responseDeadline))
        #expect(t.dispute.stage == .closed)
        #expect(t.dispute.outcome == .customerFavour)
        #expect(t.dispute.invoice == .chargedBack)
        #expect(t.effects.contains(.chargeback(kr("499.00"))))
        #expect(notices(t) == [.chargebackIssued])
    }

    @Test func answeredButUnresolvedDisputeEscalates() throws {
        var d = try open().dispute
        let responded = try step(d, .merchantResponded)
        #expect(responded.effects == [.cancelTimers([.responseReminder])])
        d = responded.dispute
        let t = try step(d, .timerFired(.responseDeadline), deadline(d, .responseDeadline))
        #expect(t.dispute.stage == .escalated)
        #expect(notices(t) == [.disputeEscalated])
        #expect(t.dispute.deadlines.last?.kind == .statementDeadline)
        #expect(t.dispute.deadlines.last?.explanation.businessDays == 7)
    }

    @Test func validStatementAsksForEvidenceThenReviewDecides() throws {
        let escalated = try dispute(in: .escalated)
        let asked = try step(escalated, .customerStatement(valid: true))
        #expect(asked.dispute.stage == .awaitingEvidence)
        #expect(notices(asked) == [.evidenceRequested])
        let review = try step(asked.dispute, .evidenceSubmitted(note: nil))
        #expect(review.dispute.stage == .underReview)
        #expect(review.effects.contains(.cancelTimers([.evidenceReminder, .evidenceDeadline])))
        let forCustomer = try step(review.dispute, .decided(.customer))
        #expect(forCustomer.dispute.outcome == .customerFavour)
        #expect(notices(forCustomer) == [.decisionCustomerFavour])
        let forMerchant = try step(review.dispute, .decided(.merchant))
        #expect(forMerchant.dispute.outcome == .merchantFavour)
        #expect(forMerchant.dispute.invoice == .active)
        #expect(notices(forMerchant) == [.decisionMerchantFavour])
    }

    @Test func invalidStatementDecidesForTheMerchantAndReactivatesTheInvoice() throws {
        let t = try step(try dispute(in: .escalated), .customerStatement(valid: false))
        #expect(t.dispute.outcome == .merchantFavour)
        #expect(t.dispute.invoice == .active)
    }

    @Test func noStatementByItsDeadlineDecidesForTheMerchant() throws {
        let d = try dispute(in: .escalated)
        let t = try step(d, .timerFired(.statementDeadline), deadline(d, .statementDeadline))
        #expect(t.dispute.outcome == .merchantFavour)
        #expect(notices(t) == [.decisionMerchantFavour])
    }

    @Test func lapsedEvidenceDeadlineDecidesForTheCustomer() throws {
        let d = try dispute(in: .awaitingEvidence)
        let t = try step(d, .timerFired(.evidenceDeadline), deadline(d, .evidenceDeadline))
        #expect(t.dispute.outcome == .customerFavour)
        #expect(t.dispute.invoice == .chargedBack)
        #expect(notices(t) == [.decisionCustomerFavour])
    }

    @Test func reactivatedInvoiceDueDateMovesByTheDaysPaused() throws {
        let d = try open().dispute
        let t = try step(d, .withdrawn, openedAt + 10 * 86400 + 5)
        #expect(t.dispute.invoiceDueDate == CivilDate("2027-02-11"))  // 31 Jan + 11 days (10 days and 5 s, rounded up)
        #expect(t.effects.contains(.reactivateInvoice(newDueDate: "2027-02-11")))
    }

    @Test func resolutionWithPartialRefundClosesByAgreement() throws {
        let t = try step(try open().dispute, .resolved(refund: kr("100.00")))
        #expect(t.dispute.outcome == .resolvedByAgreement)
        #expect(t.effects.contains(.refund(kr("100.00"))))
        #expect(notices(t) == [.disputeClosed])
    }

    @Test func refundAboveTheDisputedAmountIsRefused() throws {
        #expect(throws: WorkflowError.self) { _ = try step(try open().dispute, .resolved(refund: kr("500.00"))) }
    }

    @Test func refundedOrderEndsTheDispute() throws {
        let t = try step(try dispute(in: .awaitingEvidence), .orderRefunded)
        #expect(t.dispute.outcome == .refunded)
        #expect(t.dispute.invoice == .refunded)
        #expect(t.effects.contains(.cancelTimers(TimerKind.allCases)))
    }

    @Test func capturedOrderCannotBeCancelled() throws {
        #expect(throws: WorkflowError.conflict("order O-1 is captured: it can be refunded, not cancelled")) {
            _ = try step(try open().dispute, .orderCancelled)
        }
        let t = try step(try open(captured: false).dispute, .orderCancelled)
        #expect(t.dispute.invoice == .cancelled)
    }

    @Test func reminderAfterTheMerchantRespondedIsNotSent() throws {
        let d = try step(try open().dispute, .merchantResponded).dispute
        let t = try step(d, .timerFired(.responseReminder))
        #expect(t.effects.isEmpty)
    }

    @Test func staleTimerOfAnEarlierStageDoesNothing() throws {
        let t = try step(try dispute(in: .escalated), .timerFired(.responseReminder))
        #expect(t.effects.isEmpty)
        #expect(t.dispute == (try dispute(in: .escalated)))
    }

    @Test func reviewAlertOnlyWritesTheTimeline() throws {
        let d = try dispute(in: .underReview)
        let t = try step(d, .timerFired(.reviewAlert), deadline(d, .reviewAlert))
        #expect(t.effects.isEmpty)
        #expect(t.dispute.stage == .underReview)
        #expect(t.timeline.map(\.event) == ["reviewOverdue"])
    }
}

/// Every (stage, event) pair: allowed ones change the state, the others are refused and change nothing.
@Suite struct RefusalTests {
    static let commands: [DisputeEvent] = [
        .merchantResponded, .resolved(refund: nil), .withdrawn, .orderRefunded, .orderCancelled,
        .customerStatement(valid: true), .evidenceSubmitted(note: nil), .decided(.customer),
    ]
    static let allowed: [DisputeStage: Set<String>] = [
        .awaitingMerchant: ["merchantResponded", "resolved", "withdrawn", "orderRefunded", "orderCancelled"],
        .escalated: ["resolved", "withdrawn", "orderRefunded", "orderCancelled", "customerStatement"],
        .awaitingEvidence: ["withdrawn", "orderRefunded", "orderCancelled", "evidenceSubmitted"],
        .underReview: ["withdrawn", "orderRefunded", "orderCancelled", "decided"],
        .closed: [],
    ]

    @Test(arguments: DisputeStage.allCases)
    func eventsOutsideTheirStagesAreRefusedWithConflict(stage: DisputeStage) throws {
        let d = try dispute(in: stage)
        for event in Self.commands {
            let shouldPass = Self.allowed[stage]!.contains(event.name) && !(event == .orderCancelled && d.captured)
            do {
                let t = try step(d, event)
                #expect(shouldPass, "\(event.name) accepted in \(stage.rawValue)")
                #expect(t.dispute != d)
            } catch let error {
                #expect(!shouldPass, "\(event.name) refused in \(stage.rawValue): \(error)")
                guard case WorkflowError.conflict = error else { Issue.record("expected conflict, got \(error)"); continue }
            }
        }
    }

    @Test func closedDisputeIsNeverReopened() throws {
        let closed = try dispute(in: .closed)
        #expect(throws: WorkflowError.conflict("dispute D1 is closed (merchantFavour); a closed dispute is never reopened")) {
            _ = try step(closed, .withdrawn)
        }
        #expect(try step(closed, .timerFired(.responseDeadline)).effects.isEmpty)
    }

    @Test func secondResponseIsRefused() throws {
        let d = try step(try open().dispute, .merchantResponded).dispute
        #expect(throws: WorkflowError.self) { _ = try step(d, .merchantResponded) }
    }
}
