import BusinessCalendar

/// Everything that can happen to an open dispute.
public enum DisputeEvent: Sendable, Equatable {
    case merchantResponded
    case resolved(refund: Money?)
    case withdrawn
    case orderRefunded
    case orderCancelled
    case customerStatement(valid: Bool)
    case evidenceSubmitted(note: String?)
    case decided(Party)
    case timerFired(TimerKind)

    public var name: String {
        switch self {
        case .merchantResponded: return "merchantResponded"
        case .resolved: return "resolved"
        case .withdrawn: return "withdrawn"
        case .orderRefunded: return "orderRefunded"
        case .orderCancelled: return "orderCancelled"
        case .customerStatement: return "customerStatement"
        case .evidenceSubmitted: return "evidenceSubmitted"
        case .decided: return "decided"
        case let .timerFired(kind): return kind.rawValue
        }
    }
}

/// What opening a dispute needs.
public struct OpenRequest: Sendable, Equatable {
    public var id: String
    public var orderReference: String
    public var customerReference: String?
    public var orderAmount: Money
    public var disputedAmount: Money
    public var captured: Bool
    public var reason: DisputeReason
    public var invoiceDueDate: CivilDate?

    public init(id: String, orderReference: String, customerReference: String? = nil, orderAmount: Money,
                disputedAmount: Money, captured: Bool = true, reason: DisputeReason, invoiceDueDate: CivilDate? = nil) {
        self.id = id
        self.orderReference = orderReference
        self.customerReference = customerReference
        self.orderAmount = orderAmount
        self.disputedAmount = disputedAmount
        self.captured = captured
        self.reason = reason
        self.invoiceDueDate = invoiceDueDate
    }
}

/// The dispute workflow of workflow.md as one pure function: no I/O, no clock,
/// no globals. Given the dispute, the event, the instant and the dispute's
/// calendar it returns the new dispute, the effects and the timeline lines, or
/// refuses the event and changes nothing.
public enum DisputeWorkflow {
    /// Opens a dispute: invoice paused, merchant notified, the response window
    /// (14 or 21 business days by reason) and its reminders scheduled.
    public static func open(_ r: OpenRequest, merchant: Merchant, now: Int64, policy: DisputePolicy,
                            calendar: BusinessCalendar) throws(WorkflowError) -> Transition {
        guard r.orderAmount.currency == r.disputedAmount.currency else {
            throw .invalid("disputed amount is in \(r.disputedAmount.currency) but the order is in \(r.orderAmount.currency)")
        }
        guard r.disputedAmount.minorUnits > 0 else { throw .invalid("disputed amount must be above zero, got \(r.disputedAmount)") }
        guard r.orderAmount.minorUnits > 0 else { throw .invalid("order amount must be above zero, got \(r.orderAmount)") }
        guard r.disputedAmount.minorUnits <= r.orderAmount.minorUnits else {
            throw .invalid("disputed amount \(r.disputedAmount) is above the order amount \(r.orderAmount)")
        }
        guard calendar.market == merchant.country else {
            throw .invalid("calendar \(calendar.market) does not belong to merchant \(merchant.id)'s market \(merchant.country)")
        }
        var dispute = Dispute(
            id: r.id, merchantID: merchant.id, orderReference: r.orderReference, customerReference: r.customerReference,
            orderAmount: r.orderAmount, disputedAmount: r.disputedAmount, captured: r.captured, reason: r.reason,
            openedAt: now, market: calendar.market, calendarVersion: calendar.version, timeZone: merchant.timeZone,
            policy: policy, stage: .awaitingMerchant, outcome: nil, closedAt: nil, merchantRespondedAt: nil,
            invoice: .paused, invoiceDueDate: r.invoiceDueDate, pausedAt: now, refundAmount: nil, deadlines: [])
        var effects: [Effect] = [.pauseInvoice]
        var timeline = [TimelineEntry(at: now, event: "opened", detail: "\(r.reason.rawValue), \(r.disputedAmount) of order \(r.orderReference) (\(r.orderAmount)); invoice paused")]
        let window = policy.responseWindow(for: r.reason)
        try startStage(&dispute, deadline: .responseDeadline, businessDays: window, reminders: .responseReminder,
                       now: now, calendar: calendar, effects: &effects, timeline: &timeline)
        effects.append(.notice(.disputeOpened, merchant.disputeChannel))
        timeline.append(noticeLine(.disputeOpened, merchant.disputeChannel, now))
        return Transition(dispute: dispute, effects: effects, timeline: timeline)
    }

    /// Applies one event to an open dispute.
    public static func apply(_ event: DisputeEvent, to current: Dispute, merchant: Merchant, now: Int64,
                             calendar: BusinessCalendar) throws(WorkflowError) -> Transition {
        var d = current
        var effects: [Effect] = []
        var timeline: [TimelineEntry] = []

        if d.stage == .closed {
            if case let .timerFired(kind) = event {
                // A timer of a closed dispute was cancelled in the same commit; firing it does nothing.
                return Transition(dispute: d, effects: [], timeline: [TimelineEntry(at: now, event: "timerIgnored", detail: "\(kind.rawValue): dispute already closed")])
            }
            throw .conflict("dispute \(d.id) is closed (\(d.outcome?.rawValue ?? "closed")); a closed dispute is never reopened")
        }

        func close(_ outcome: Outcome, detail: String) {
            d.stage = .closed
            d.outcome = outcome
            d.closedAt = now
            effects.append(.cancelTimers(TimerKind.allCases))
            timeline.append(TimelineEntry(at: now, event: "closed", detail: "\(outcome.rawValue): \(detail)"))
        }
        func notify(_ kind: NoticeKind, _ channel: NoticeChannel = .email) {
            effects.append(.notice(kind, channel))
            timeline.append(noticeLine(kind, channel, now))
        }
        func reactivate() {
            var newDue: CivilDate? = nil
            if let due = d.invoiceDueDate, let paused = d.pausedAt {
                // Whole calendar days the invoice stood still, rounded up.
                let days = Int((max(0, now - paused) + 86399) / 86400)
                newDue = due.adding(days: days)
            }
            d.invoice = .active
            d.invoiceDueDate = newDue ?? d.invoiceDueDate
            effects.append(.reactivateInvoice(newDueDate: newDue?.description))
            timeline.append(TimelineEntry(at: now, event: "invoiceReactivated", detail: newDue.map { "due date moved to \($0)" } ?? "no due date on file"))
        }
        func chargeback() {
            d.invoice = .chargedBack
            effects.append(.chargeback(d.disputedAmount))
            timeline.append(TimelineEntry(at: now, event: "chargeback", detail: "\(d.disputedAmount) returned to the customer"))
        }
        func requireStage(_ allowed: DisputeStage...) throws(WorkflowError) {
            guard allowed.contains(d.stage) else {
                throw .conflict("\(event.name) is not allowed while dispute \(d.id) is \(d.stage.rawValue) (allowed in: \(allowed.map(\.rawValue).joined(separator: ", ")))")
            }
        }

        switch event {
        case .merchantResponded:
            try requireStage(.awaitingMerchant)
            if let at = d.merchantRespondedAt {
                throw .conflict("merchant already responded to dispute \(d.id) at \(ZonedTime.isoUTC(at))")
            }
            d.merchantRespondedAt = now
            effects.append(.cancelTimers([.responseReminder]))
            timeline.append(TimelineEntry(at: now, event: "merchantResponded", detail: "reminders cancelled; the response deadline still holds"))

        case let .resolved(refund):
            try requireStage(.awaitingMerchant, .escalated)
            if let refund {
                guard refund.currency == d.disputedAmount.currency else { throw .invalid("refund is in \(refund.currency), the dispute in \(d.disputedAmount.currency)") }
                guard refund.minorUnits > 0, refund.minorUnits <= d.disputedAmount.minorUnits else {
                    throw .invalid("refund \(refund) must be above zero and at most the disputed amount \(d.disputedAmount)")
                }
                d.refundAmount = refund
                effects.append(.refund(refund))
            }
            close(.resolvedByAgreement, detail: refund.map { "merchant and customer agreed; refund \($0)" } ?? "merchant and customer agreed")
            reactivate()
            notify(.disputeClosed)

        case .withdrawn:
            try requireStage(.awaitingMerchant, .escalated, .awaitingEvidence, .underReview)
            close(.withdrawn, detail: "the customer withdrew the dispute")
            reactivate()
            notify(.disputeClosed)

        case .orderRefunded, .orderCancelled:
            try requireStage(.awaitingMerchant, .escalated, .awaitingEvidence, .underReview)
            if event == .orderCancelled && d.captured {
                throw .conflict("order \(d.orderReference) is captured: it can be refunded, not cancelled")
            }
            let cancelled = event == .orderCancelled
            d.invoice = cancelled ? .cancelled : .refunded
            effects.append(.refund(nil))
            close(.refunded, detail: cancelled ? "the merchant cancelled the order" : "the merchant refunded the order")
            notify(.disputeClosed)

        case let .customerStatement(valid):
            try requireStage(.escalated)
            effects.append(.cancelTimers([.statementDeadline]))
            if valid {
                timeline.append(TimelineEntry(at: now, event: "customerStatement", detail: "valid: the merchant is asked for more information"))
                d.stage = .awaitingEvidence
                try startStage(&d, deadline: .evidenceDeadline, businessDays: d.policy.evidenceBusinessDays,
                               reminders: .evidenceReminder, now: now, calendar: calendar, effects: &effects, timeline: &timeline)
                notify(.evidenceRequested)
            } else {
                timeline.append(TimelineEntry(at: now, event: "customerStatement", detail: "not valid"))
                close(.merchantFavour, detail: "the customer's statement was not found valid")
                reactivate()
                notify(.decisionMerchantFavour)
            }

        case let .evidenceSubmitted(note):
            try requireStage(.awaitingEvidence)
            effects.append(.cancelTimers([.evidenceReminder, .evidenceDeadline]))
            timeline.append(TimelineEntry(at: now, event: "evidenceSubmitted", detail: note ?? "evidence received"))
            d.stage = .underReview
            try startStage(&d, deadline: .reviewAlert, businessDays: d.policy.reviewAlertBusinessDays, reminders: nil,
                           now: now, calendar: calendar, effects: &effects, timeline: &timeline)

        case let .decided(party):
            try requireStage(.underReview)
            if party == .merchant {
                close(.merchantFavour, detail: "decided for the merchant after review")
                reactivate()
                notify(.decisionMerchantFavour)
            } else {
                close(.customerFavour, detail: "decided for the customer after review")
                chargeback()
                notify(.decisionCustomerFavour)
            }

        case let .timerFired(kind):
            guard kind.stage == d.stage else {
                // The dispute moved on; a stale reminder or deadline is never acted upon.
                return Transition(dispute: d, effects: [], timeline: [TimelineEntry(at: now, event: "timerIgnored", detail: "\(kind.rawValue): dispute is \(d.stage.rawValue)")])
            }
            switch kind {
            case .responseReminder:
                if d.merchantRespondedAt != nil {
                    return Transition(dispute: d, effects: [], timeline: [TimelineEntry(at: now, event: "timerIgnored", detail: "responseReminder: the merchant has responded")])
                }
                notify(.responseReminder, merchant.disputeChannel)
            case .responseDeadline:
                if d.merchantRespondedAt != nil {
                    timeline.append(TimelineEntry(at: now, event: "deadlineLapsed", detail: "response deadline lapsed without agreement; escalated to the provider's review"))
                    effects.append(.cancelTimers([.responseReminder]))
                    d.stage = .escalated
                    try startStage(&d, deadline: .statementDeadline, businessDays: d.policy.customerStatementBusinessDays,
                                   reminders: nil, now: now, calendar: calendar, effects: &effects, timeline: &timeline)
                    notify(.disputeEscalated)
                } else {
                    timeline.append(TimelineEntry(at: now, event: "deadlineLapsed", detail: "response deadline lapsed without any answer from the merchant"))
                    close(.customerFavour, detail: "the merchant never answered")
                    chargeback()
                    notify(.chargebackIssued)
                }
            case .statementDeadline:
                timeline.append(TimelineEntry(at: now, event: "deadlineLapsed", detail: "no customer statement by its deadline"))
                close(.merchantFavour, detail: "the customer gave no statement in time")
                reactivate()
                notify(.decisionMerchantFavour)
            case .evidenceReminder:
                notify(.evidenceReminder)
            case .evidenceDeadline:
                timeline.append(TimelineEntry(at: now, event: "deadlineLapsed", detail: "no evidence from the merchant by its deadline"))
                close(.customerFavour, detail: "the merchant sent no evidence in time")
                chargeback()
                notify(.decisionCustomerFavour)
            case .reviewAlert:
                timeline.append(TimelineEntry(at: now, event: "reviewOverdue", detail: "the review has taken \(d.policy.reviewAlertBusinessDays) business days; no effect on the customer"))
            }
        }
        return Transition(dispute: d, effects: effects, timeline: timeline)
    }

    /// Starts a stage: computes its deadline once (it never moves afterwards),
    /// schedules it and, for merchant-facing stages, the reminders before it.
    static func startStage(_ d: inout Dispute, deadline kind: TimerKind, businessDays: Int, reminders: TimerKind?,
                           now: Int64, calendar: BusinessCalendar, effects: inout [Effect],
                           timeline: inout [TimelineEntry]) throws(WorkflowError) {
        guard let zone = ZonedTime(identifier: d.timeZone) else { throw .invalid("unknown time zone \(d.timeZone)") }
        do {
            let explanation = try calendar.deadline(notifiedAt: now, businessDays: businessDays, zone: zone,
                                                    cutoffMinutes: d.policy.cutoffMinutes)
            d.deadlines.append(StageDeadline(kind: kind, instant: explanation.deadlineEpochSeconds, explanation: explanation))
            effects.append(.schedule(TimerRequest(kind: kind, instant: explanation.deadlineEpochSeconds)))
            timeline.append(TimelineEntry(at: now, event: "deadlineSet", detail: "\(kind.rawValue): \(businessDays) business days, ends \(explanation.deadlineLocal) (\(explanation.deadline))"))
            guard let reminders else { return }
            let last = CivilDate(explanation.lastDay)!
            let effective = CivilDate(explanation.effectiveNotificationDay)!
            for k in d.policy.reminderBusinessDaysBefore {
                let day = try calendar.addBusinessDays(-k, to: last)
                guard day > effective else { continue }
                let instant = zone.startOfDay(day) + Int64(d.policy.reminderMinutes * 60)
                guard instant > now else { continue }
                effects.append(.schedule(TimerRequest(kind: reminders, instant: instant)))
                timeline.append(TimelineEntry(at: now, event: "reminderSet", detail: "\(reminders.rawValue): \(k) business day\(k == 1 ? "" : "s") before, \(zone.isoLocal(instant))"))
            }
        } catch {
            throw .invalid("cannot compute the \(kind.rawValue): \(error)")
        }
    }

    static func noticeLine(_ kind: NoticeKind, _ channel: NoticeChannel, _ now: Int64) -> TimelineEntry {
        TimelineEntry(at: now, event: "notice", detail: channel == .email ? "\(kind.rawValue) e-mailed to the merchant" : "\(kind.rawValue): merchant notified in the portal")
    }
}
