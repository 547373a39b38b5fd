import BusinessCalendar
import ControlProtocol

// A dispute read back from its stored JSON body directly, without `Codable`:
// Foundation's `JSONDecoder` took ~55 µs for a 1.5 KB body, which was two
// thirds of a `dispute.list`'s time in the daemon and a second per 20,000
// timers fired in a catch-up. The rules are `JSONDecoder`'s for these types
// (the body is what their `Encodable` conformances write): keys in any order,
// unknown keys passed over, an optional missing or null is nil, anything else
// missing or of the wrong kind is an error naming the key.

extension Dispute {
    /// Reads a dispute from the JSON text its `Encodable` conformance writes.
    public init(storedJSON text: String) throws(JSONSyntaxError) {
        self = try JSONPullReader.read(text) { (r: inout JSONPullReader) throws(JSONSyntaxError) -> Dispute in try Dispute(reading: &r) }
    }

    init(reading r: inout JSONPullReader) throws(JSONSyntaxError) {
        var id, merchantID, orderReference, market, calendarVersion, timeZone: String?
        var customerReference: String?
        var orderAmount, disputedAmount, refundAmount: Money?
        var captured: Bool?
        var reason: DisputeReason?
        var openedAt, closedAt, merchantRespondedAt, pausedAt: Int64?
        var policy: DisputePolicy?
        var stage: DisputeStage?
        var outcome: Outcome?
        var invoice: InvoiceState?
        var invoiceDueDate: CivilDate?
        var deadlines: [StageDeadline]?
        try r.beginObject()
        while let key = try r.nextKey() {
            switch key {
            case "id": id = try r.string()
            case "merchantID": merchantID = try r.string()
            case "orderReference": orderReference = try r.string()
            case "customerReference": customerReference = try r.skipNull() ? nil : try r.string()
            case "orderAmount": orderAmount = try Money(reading: &r)
            case "disputedAmount": disputedAmount = try Money(reading: &r)
            case "captured": captured = try r.bool()
            case "reason": reason = try r.rawValue(DisputeReason.self)
            case "openedAt": openedAt = try r.int64()
            case "market": market = try r.string()
            case "calendarVersion": calendarVersion = try r.string()
            case "timeZone": timeZone = try r.string()
            case "policy": policy = try DisputePolicy(reading: &r)
            case "stage": stage = try r.rawValue(DisputeStage.self)
            case "outcome": outcome = try r.skipNull() ? nil : try r.rawValue(Outcome.self)
            case "closedAt": closedAt = try r.skipNull() ? nil : try r.int64()
            case "merchantRespondedAt": merchantRespondedAt = try r.skipNull() ? nil : try r.int64()
            case "invoice": invoice = try r.rawValue(InvoiceState.self)
            case "invoiceDueDate": invoiceDueDate = try r.skipNull() ? nil : try r.civilDate()
            case "pausedAt": pausedAt = try r.skipNull() ? nil : try r.int64()
            case "refundAmount": refundAmount = try r.skipNull() ? nil : try Money(reading: &r)
            case "deadlines": deadlines = try r.array { (r: inout JSONPullReader) throws(JSONSyntaxError) in try StageDeadline(reading: &r) }
            default: try r.skipValue()
            }
        }
        let type = "Dispute"
        self.init(id: try r.required(id, "id", of: type), merchantID: try r.required(merchantID, "merchantID", of: type),
                  orderReference: try r.required(orderReference, "orderReference", of: type), customerReference: customerReference,
                  orderAmount: try r.required(orderAmount, "orderAmount", of: type),
                  disputedAmount: try r.required(disputedAmount, "disputedAmount", of: type),
                  captured: try r.required(captured, "captured", of: type), reason: try r.required(reason, "reason", of: type),
                  openedAt: try r.required(openedAt, "openedAt", of: type), market: try r.required(market, "market", of: type),
                  calendarVersion: try r.required(calendarVersion, "calendarVersion", of: type),
                  timeZone: try r.required(timeZone, "timeZone", of: type), policy: try r.required(policy, "policy", of: type),
                  stage: try r.required(stage, "stage", of: type), outcome: outcome, closedAt: closedAt,
                  merchantRespondedAt: merchantRespondedAt, invoice: try r.required(invoice, "invoice", of: type),
                  invoiceDueDate: invoiceDueDate, pausedAt: pausedAt, refundAmount: refundAmount,
                  deadlines: try r.required(deadlines, "deadlines", of: type))
    }
}

extension Money {
    init(reading r: inout JSONPullReader) throws(JSONSyntaxError) {
        var minorUnits: Int64?
        var currency: Currency?
        try r.beginObject()
        while let key = try r.nextKey() {
            switch key {
            case "minorUnits": minorUnits = try r.int64()
            case "currency":
                let code = try r.string()
                guard let known = Currency(code: code) else { throw r.error("unknown currency '\(code)'") }
                currency = known
            default: try r.skipValue()
            }
        }
        self.init(minorUnits: try r.required(minorUnits, "minorUnits", of: "Money"), currency: try r.required(currency, "currency", of: "Money"))
    }
}

extension DisputePolicy {
    init(reading r: inout JSONPullReader) throws(JSONSyntaxError) {
        var response, extendedResponse, customerStatement, evidence, reviewAlert, cutoff, reminder: Int?
        var extendedReasons: [DisputeReason]?
        var reminderDays: [Int]?
        try r.beginObject()
        while let key = try r.nextKey() {
            switch key {
            case "responseBusinessDays": response = try r.int()
            case "extendedResponseBusinessDays": extendedResponse = try r.int()
            case "extendedReasons": extendedReasons = try r.array { (r: inout JSONPullReader) throws(JSONSyntaxError) in try r.rawValue(DisputeReason.self) }
            case "customerStatementBusinessDays": customerStatement = try r.int()
            case "evidenceBusinessDays": evidence = try r.int()
            case "reviewAlertBusinessDays": reviewAlert = try r.int()
            case "reminderBusinessDaysBefore": reminderDays = try r.array { (r: inout JSONPullReader) throws(JSONSyntaxError) in try r.int() }
            case "cutoffMinutes": cutoff = try r.int()
            case "reminderMinutes": reminder = try r.int()
            default: try r.skipValue()
            }
        }
        let type = "DisputePolicy"
        self.init(responseBusinessDays: try r.required(response, "responseBusinessDays", of: type),
                  extendedResponseBusinessDays: try r.required(extendedResponse, "extendedResponseBusinessDays", of: type),
                  extendedReasons: try r.required(extendedReasons, "extendedReasons", of: type),
                  customerStatementBusinessDays: try r.required(customerStatement, "customerStatementBusinessDays", of: type),
                  evidenceBusinessDays: try r.required(evidence, "evidenceBusinessDays", of: type),
                  reviewAlertBusinessDays: try r.required(reviewAlert, "reviewAlertBusinessDays", of: type),
                  reminderBusinessDaysBefore: try r.required(reminderDays, "reminderBusinessDaysBefore", of: type),
                  cutoffMinutes: try r.required(cutoff, "cutoffMinutes", of: type),
                  reminderMinutes: try r.required(reminder, "reminderMinutes", of: type))
    }
}

extension StageDeadline {
    init(reading r: inout JSONPullReader) throws(JSONSyntaxError) {
        var kind: TimerKind?
        var instant: Int64?
        var explanation: DeadlineExplanation?
        try r.beginObject()
        while let key = try r.nextKey() {
            switch key {
            case "kind": kind = try r.rawValue(TimerKind.self)
            case "instant": instant = try r.int64()
            case "explanation": explanation = try DeadlineExplanation.read(&r)
            default: try r.skipValue()
            }
        }
        self.init(kind: try r.required(kind, "kind", of: "StageDeadline"), instant: try r.required(instant, "instant", of: "StageDeadline"),
                  explanation: try r.required(explanation, "explanation", of: "StageDeadline"))
    }
}

extension DeadlineExplanation {
    static func read(_ r: inout JSONPullReader) throws(JSONSyntaxError) -> DeadlineExplanation {
        var calendar, calendarVersion, timezone, notifiedAt, notifiedLocal, cutoff, effectiveDay, lastDay, deadline, deadlineLocal: String?
        var effectiveReason: String?
        var businessDays: Int?
        var epochSeconds: Int64?
        var counted: [String]?
        var skipped: [SkippedDay]?
        try r.beginObject()
        while let key = try r.nextKey() {
            switch key {
            case "calendar": calendar = try r.string()
            case "calendarVersion": calendarVersion = try r.string()
            case "timezone": timezone = try r.string()
            case "businessDays": businessDays = try r.int()
            case "notifiedAt": notifiedAt = try r.string()
            case "notifiedLocal": notifiedLocal = try r.string()
            case "cutoff": cutoff = try r.string()
            case "effectiveNotificationDay": effectiveDay = try r.string()
            case "effectiveReason": effectiveReason = try r.skipNull() ? nil : try r.string()
            case "lastDay": lastDay = try r.string()
            case "deadline": deadline = try r.string()
            case "deadlineLocal": deadlineLocal = try r.string()
            case "deadlineEpochSeconds": epochSeconds = try r.int64()
            case "counted": counted = try r.array { (r: inout JSONPullReader) throws(JSONSyntaxError) in try r.string() }
            case "skipped": skipped = try r.array { (r: inout JSONPullReader) throws(JSONSyntaxError) in try SkippedDay.read(&r) }
            default: try r.skipValue()
            }
        }
        let type = "DeadlineExplanation"
        return DeadlineExplanation(
            calendar: try r.required(calendar, "calendar", of: type), calendarVersion: try r.required(calendarVersion, "calendarVersion", of: type),
            timezone: try r.required(timezone, "timezone", of: type), businessDays: try r.required(businessDays, "businessDays", of: type),
            notifiedAt: try r.required(notifiedAt, "notifiedAt", of: type), notifiedLocal: try r.required(notifiedLocal, "notifiedLocal", of: type),
            cutoff: try r.required(cutoff, "cutoff", of: type),
            effectiveNotificationDay: try r.required(effectiveDay, "effectiveNotificationDay", of: type), effectiveReason: effectiveReason,
            lastDay: try r.required(lastDay, "lastDay", of: type), deadline: try r.required(deadline, "deadline", of: type),
            deadlineLocal: try r.required(deadlineLocal, "deadlineLocal", of: type),
            deadlineEpochSeconds: try r.required(epochSeconds, "deadlineEpochSeconds", of: type),
            counted: try r.required(counted, "counted", of: type), skipped: try r.required(skipped, "skipped", of: type))
    }
}

extension SkippedDay {
    static func read(_ r: inout JSONPullReader) throws(JSONSyntaxError) -> SkippedDay {
        var date, reason: String?
        try r.beginObject()
        while let key = try r.nextKey() {
            switch key {
            case "date": date = try r.string()
            case "reason": reason = try r.string()
            default: try r.skipValue()
            }
        }
        return SkippedDay(date: try r.required(date, "date", of: "SkippedDay"), reason: try r.required(reason, "reason", of: "SkippedDay"))
    }
}

extension JSONPullReader {
    /// `value`, or an error naming the key it was read from when the object had none.
    func required<T>(_ value: T?, _ key: String, of type: String) throws(JSONSyntaxError) -> T {
        guard let value else { throw error("\(type) has no '\(key)'") }
        return value
    }

    /// A string naming a case of `E`.
    mutating func rawValue<E: RawRepresentable>(_: E.Type) throws(JSONSyntaxError) -> E where E.RawValue == String {
        let text = try string()
        guard let value = E(rawValue: text) else { throw error("'\(text)' is not a \(E.self)") }
        return value
    }

    mutating func civilDate() throws(JSONSyntaxError) -> CivilDate {
        let text = try string()
        guard let date = CivilDate(text) else { throw error("'\(text)' is not a date YYYY-MM-DD") }
        return date
    }

    /// The elements of an array, each read by `element`.
    mutating func array<T>(_ element: (inout JSONPullReader) throws(JSONSyntaxError) -> T) throws(JSONSyntaxError) -> [T] {
        var items: [T] = []
        try beginArray()
        while try nextElement() { items.append(try element(&self)) }
        return items
    }
}
