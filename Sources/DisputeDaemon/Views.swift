import BusinessCalendar
import ControlProtocol
import DisputeStore
import DisputeWorkflow

/// How domain values look on the wire (interfaces.md): camelCase, instants in
/// UTC with `Z`, money as `{"amount","minorUnits","currency"}`.
enum View {
    static func instant(_ t: Int64?) -> JSONValue { t.map { .string(ZonedTime.isoUTC($0)) } ?? .null }

    static func money(_ m: Money?) -> JSONValue {
        guard let m else { return .null }
        return .object(["amount": .string(m.decimal), "minorUnits": .int(m.minorUnits), "currency": .string(m.currency.code)])
    }

    static func merchant(_ m: Merchant) -> JSONValue {
        .object(["id": .string(m.id), "name": .string(m.legalName), "email": .string(m.email), "country": .string(m.country),
                 "timezone": .string(m.timeZone), "locale": .string(m.locale), "portal": .bool(m.portalActivated),
                 "emailOnDispute": .bool(m.emailOnDispute)])
    }

    static func dispute(_ d: Dispute) -> JSONValue {
        let open = d.stage != .closed
        return .object([
            "id": .string(d.id), "merchant": .string(d.merchantID), "order": .string(d.orderReference),
            "customer": d.customerReference.map(JSONValue.string) ?? .null,
            "orderAmount": money(d.orderAmount), "disputedAmount": money(d.disputedAmount),
            "reason": .string(d.reason.rawValue), "state": .string(d.stage.rawValue),
            "outcome": d.outcome.map { .string($0.rawValue) } ?? .null,
            "invoice": .string(d.invoice.rawValue), "invoiceDueDate": d.invoiceDueDate.map { .string($0.description) } ?? .null,
            "openedAt": instant(d.openedAt), "closedAt": instant(d.closedAt), "merchantRespondedAt": instant(d.merchantRespondedAt),
            "refund": money(d.refundAmount), "calendar": .string(d.market), "calendarVersion": .string(d.calendarVersion),
            "timezone": .string(d.timeZone),
            "nextDeadline": open ? (d.deadlines.last.map { .string(ZonedTime.isoUTC($0.instant)) } ?? .null) : .null,
            "nextDeadlineKind": open ? (d.deadlines.last.map { .string($0.kind.rawValue) } ?? .null) : .null,
        ])
    }

    /// A deadline's status from its timer's state.
    static func deadlineStatus(_ timerState: String) -> String {
        switch timerState {
        case "pending": return "running"
        case "fired": return "lapsed"
        default: return "stopped"
        }
    }

    /// A notice as `dispute.show` and `notice.show` list it.
    static func notice(_ n: StoredNotice) -> JSONValue {
        .object(["id": .string(n.id), "kind": .string(n.kind.rawValue), "channel": .string(n.channel.rawValue),
                 "state": .string(n.state), "createdAt": instant(n.createdAt)])
    }

    static func detailed(_ d: Dispute, timeline: [TimelineEntry], notices: [StoredNotice], timers: [StoredTimer]) -> JSONValue {
        guard case var .object(fields) = dispute(d) else { return .null }
        fields["deadlines"] = .array(d.deadlines.map { deadline in
            (try? JSONValue.from(deadline.explanation)).map { explanation -> JSONValue in
                guard case var .object(e) = explanation else { return explanation }
                e["kind"] = .string(deadline.kind.rawValue)
                // Where the deadline stands, from its timer: still running, lapsed
                // (the daemon acted on it), or stopped when the dispute moved on.
                if let timer = timers.last(where: { $0.kind == deadline.kind && $0.dueAt == deadline.instant }) {
                    e["status"] = .string(deadlineStatus(timer.state))
                    if let firedAt = timer.firedAt { e["lapsedAt"] = instant(firedAt) }
                }
                return .object(e)
            } ?? .null
        })
        fields["timeline"] = .array(timeline.map { .object(["at": instant($0.at), "event": .string($0.event), "detail": .string($0.detail),
                                                            "by": $0.by.map(JSONValue.string) ?? .null]) })
        fields["notices"] = .array(notices.map(notice))
        fields["timers"] = .array(timers.map { .object(["id": .int($0.id), "kind": .string($0.kind.rawValue), "dueAt": instant($0.dueAt),
                                                         "state": .string($0.state), "firedAt": instant($0.firedAt)]) })
        return .object(fields)
    }
}

/// Reads typed arguments out of a request and names the field when one is wrong.
struct Arguments {
    let values: [String: JSONValue]

    init(_ value: JSONValue) {
        if case let .object(o) = value { values = o } else { values = [:] }
    }

    func string(_ key: String) throws -> String? {
        switch values[key] {
        case nil, .null?: return nil
        case let .string(s)?: return s
        default: throw ControlError(.badRequest, "'\(key)' must be a string")
        }
    }

    func required(_ key: String) throws -> String {
        guard let s = try string(key), !s.isEmpty else { throw ControlError(.badRequest, "missing required argument '\(key)'") }
        return s
    }

    func bool(_ key: String, default value: Bool) throws -> Bool {
        switch values[key] {
        case nil, .null?: return value
        case let .bool(b)?: return b
        default: throw ControlError(.badRequest, "'\(key)' must be true or false")
        }
    }

    func int(_ key: String) throws -> Int64? {
        switch values[key] {
        case nil, .null?: return nil
        case let .int(i)?: return i
        default: throw ControlError(.badRequest, "'\(key)' must be an integer")
        }
    }

    /// Only these keys may appear.
    func allow(_ keys: Set<String>) throws {
        for key in values.keys.sorted() where !keys.contains(key) {
            throw ControlError(.badRequest, "unknown argument '\(key)' (allowed: \(keys.sorted().joined(separator: ", ")))")
        }
    }
}
