/// Every operation of the control protocol, by its wire name.
public enum ControlOperation: String, Sendable, CaseIterable, Codable {
    // Read operations.
    case status
    case merchantList = "merchant.list"
    case merchantShow = "merchant.show"
    case disputeList = "dispute.list"
    case disputeShow = "dispute.show"
    case deadlinesUpcoming = "deadlines.upcoming"
    case calendarDeadline = "calendar.deadline"
    case calendarHolidays = "calendar.holidays"
    case noticeShow = "notice.show"
    // Write operations.
    case merchantUpsert = "merchant.upsert"
    case disputeOpen = "dispute.open"
    case disputeRespond = "dispute.respond"
    case disputeResolve = "dispute.resolve"
    case disputeWithdraw = "dispute.withdraw"
    case orderRefunded = "order.refunded"
    case orderCancelled = "order.cancelled"
    case disputeStatement = "dispute.statement"
    case disputeEvidence = "dispute.evidence"
    case disputeDecide = "dispute.decide"
    case noticeResend = "notice.resend"
    case configReload = "config.reload"
    case clockAdvance = "clock.advance"

    /// Write operations need the admin role, and their request id is an idempotency key.
    public var isWrite: Bool {
        switch self {
        case .status, .merchantList, .merchantShow, .disputeList, .disputeShow,
             .deadlinesUpcoming, .calendarDeadline, .calendarHolidays, .noticeShow:
            return false
        default:
            return true
        }
    }
}

/// What a peer may do, decided from its credentials.
public enum ControlRole: String, Sendable, Codable, Comparable {
    case none
    case reader
    case admin

    private var rank: Int {
        switch self {
        case .none: return 0
        case .reader: return 1
        case .admin: return 2
        }
    }

    public static func < (lhs: ControlRole, rhs: ControlRole) -> Bool { lhs.rank < rhs.rank }

    public func may(_ operation: ControlOperation) -> Bool {
        operation.isWrite ? self >= .admin : self >= .reader
    }
}
