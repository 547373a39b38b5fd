/// What a transition asks the shell to do, as plain data. The shell commits the
/// new state and these effects in one transaction, then carries them out.
public enum Effect: Sendable, Equatable, Codable {
    case pauseInvoice
    /// The customer pays after all; the due date moved later by the days the invoice was paused.
    case reactivateInvoice(newDueDate: CivilDateString?)
    case chargeback(Money)
    case refund(Money?)
    case schedule(TimerRequest)
    /// Cancel every pending timer of these kinds.
    case cancelTimers([TimerKind])
    case notice(NoticeKind, NoticeChannel)
}

public typealias CivilDateString = String

/// One line of a dispute's append-only timeline.
public struct TimelineEntry: Sendable, Codable, Equatable {
    public var at: Int64
    public var event: String
    public var detail: String
    /// Who made it: the user of the control request (`alice (uid 1001)`), or
    /// `disputed` for what the daemon did by itself (a deadline). Set by the
    /// engine when it stores the line, not by the workflow; nil for lines
    /// stored before schema 0006.
    public var by: String?

    public init(at: Int64, event: String, detail: String, by: String? = nil) {
        self.at = at
        self.event = event
        self.detail = detail
        self.by = by
    }
}

/// The result of applying one event.
public struct Transition: Sendable, Equatable {
    public var dispute: Dispute
    public var effects: [Effect]
    public var timeline: [TimelineEntry]
}

/// Why an event was refused. Nothing changes when one is thrown.
public enum WorkflowError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The state does not allow the event (interfaces.md code `conflict`).
    case conflict(String)
    /// The event's data is wrong (code `bad_request`).
    case invalid(String)

    public var description: String {
        switch self {
        case let .conflict(m), let .invalid(m): return m
        }
    }
}
