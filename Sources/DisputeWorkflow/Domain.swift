import BusinessCalendar

/// Why a customer disputes (workflow.md).
public enum DisputeReason: String, Sendable, Codable, CaseIterable {
    case notReceived, faulty, returned, notAsDescribed, incorrectInvoice, unauthorized, other
}

/// Where a dispute stands.
public enum DisputeStage: String, Sendable, Codable, CaseIterable {
    case awaitingMerchant, escalated, awaitingEvidence, underReview, closed
}

/// How a closed dispute ended.
public enum Outcome: String, Sendable, Codable, CaseIterable {
    case merchantFavour, customerFavour, resolvedByAgreement, withdrawn, refunded
}

public enum InvoiceState: String, Sendable, Codable, CaseIterable {
    case active, paused, chargedBack, refunded, cancelled
}

/// Every message the merchant can receive (workflow.md, "Notices").
public enum NoticeKind: String, Sendable, Codable, CaseIterable {
    case disputeOpened, responseReminder, chargebackIssued, disputeEscalated, evidenceRequested
    case evidenceReminder, decisionMerchantFavour, decisionCustomerFavour, disputeClosed
}

/// How a notice reaches the merchant: a spooled e-mail, or the provider's portal (no file).
public enum NoticeChannel: String, Sendable, Codable {
    case email, portal
}

/// The timers a dispute can have running.
public enum TimerKind: String, Sendable, Codable, CaseIterable {
    case responseReminder, responseDeadline, statementDeadline, evidenceReminder, evidenceDeadline, reviewAlert

    /// The stage in which the timer means something; fired in any other stage it does nothing.
    public var stage: DisputeStage {
        switch self {
        case .responseReminder, .responseDeadline: return .awaitingMerchant
        case .statementDeadline: return .escalated
        case .evidenceReminder, .evidenceDeadline: return .awaitingEvidence
        case .reviewAlert: return .underReview
        }
    }
}

public enum Party: String, Sendable, Codable {
    case merchant, customer
}

/// The merchant facts the workflow needs.
public struct Merchant: Sendable, Codable, Equatable {
    public var id: String
    public var legalName: String
    public var email: String
    /// Market (country code): picks the business calendar.
    public var country: String
    public var timeZone: String
    public var locale: String
    public var portalActivated: Bool
    public var emailOnDispute: Bool

    public init(id: String, legalName: String, email: String, country: String, timeZone: String,
                locale: String = "en", portalActivated: Bool = false, emailOnDispute: Bool = false) {
        self.id = id
        self.legalName = legalName
        self.email = email
        self.country = country
        self.timeZone = timeZone
        self.locale = locale
        self.portalActivated = portalActivated
        self.emailOnDispute = emailOnDispute
    }

    /// workflow.md: e-mail when there is no activated portal or the merchant asked for e-mail.
    public var disputeChannel: NoticeChannel { !portalActivated || emailOnDispute ? .email : .portal }
}

/// A deadline the dispute has run (or runs) against, with its explanation.
public struct StageDeadline: Sendable, Codable, Equatable {
    public var kind: TimerKind
    public var instant: Int64
    public var explanation: DeadlineExplanation
}

/// A timer the workflow wants running: its kind and instant (whole seconds).
public struct TimerRequest: Sendable, Codable, Equatable, Hashable {
    public var kind: TimerKind
    public var instant: Int64
}

/// A dispute and everything the workflow decides from.
public struct Dispute: Sendable, Codable, Equatable {
    public var id: String
    public var merchantID: String
    public var orderReference: String
    public var customerReference: String?
    public var orderAmount: Money
    public var disputedAmount: Money
    /// A captured order is refunded, never cancelled.
    public var captured: Bool
    public var reason: DisputeReason
    public var openedAt: Int64
    /// Pinned at open: the calendar the dispute counts on, and the policy in force.
    public var market: String
    public var calendarVersion: String
    public var timeZone: String
    public var policy: DisputePolicy
    public var stage: DisputeStage
    public var outcome: Outcome?
    public var closedAt: Int64?
    public var merchantRespondedAt: Int64?
    public var invoice: InvoiceState
    public var invoiceDueDate: CivilDate?
    public var pausedAt: Int64?
    public var refundAmount: Money?
    public var deadlines: [StageDeadline]
}
