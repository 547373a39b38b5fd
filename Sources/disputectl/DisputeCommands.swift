import ArgumentParser
import ControlProtocol
import Foundation

// MARK: - Merchants

struct MerchantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "merchant", abstract: "Register and look up merchants.",
                                                    subcommands: [MerchantUpsert.self, MerchantList.self, MerchantShow.self])
}

struct MerchantUpsert: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "upsert", abstract: "Create or update a merchant.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Merchant id: 1-64 ASCII letters, digits, '-', '_' or '.'.") var id: String
    @Option(help: "Legal name, as the notices address the merchant.") var name: String
    @Option(help: "Address the notices are sent to.") var email: String
    @Option(help: "Market, which picks the business calendar (SE, DE, GB, ...).") var country: String
    @Option(help: "IANA time zone the merchant's deadlines are read in.") var timezone: String
    @Option(help: "Locale of the notices: en, sv, de, nb, da, fi, nl, fr, it, es or pl have texts of their own, any other language gets English (de-AT reads de).") var locale: String = "en"
    @Flag(help: "The merchant has an activated portal.") var portal = false
    @Flag(name: .customLong("email-on-dispute"), help: "E-mail the merchant about disputes even with a portal.") var emailOnDispute = false
    @Option(name: .customLong("request-id"), help: "Idempotency key (default: random).") var requestID: String?

    func run() throws {
        let result = try connection.call(.merchantUpsert, [
            "id": .string(id), "name": .string(name), "email": .string(email), "country": .string(country),
            "timezone": .string(timezone), "locale": .string(locale), "portal": .bool(portal), "emailOnDispute": .bool(emailOnDispute),
        ], requestID: requestID)
        if connection.json { printJSON(result); return }
        print("Merchant \(id) saved.")
    }
}

struct MerchantList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List merchants.")
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let result = try connection.listing(.merchantList, [:], key: "merchants")
        if connection.json { printJSON(result); return }
        let rows = (result["merchants"]?.arrayValue ?? []).map { m in
            [m["id"]?.stringValue ?? "", m["country"]?.stringValue ?? "", m["locale"]?.stringValue ?? "",
             m["portal"]?.boolValue == true ? "portal" : "e-mail", m["email"]?.stringValue ?? ""]
        }
        printTable(["MERCHANT", "MARKET", "LOCALE", "CHANNEL", "E-MAIL"], rows)
    }
}

struct MerchantShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a merchant and its disputes.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Merchant id.") var id: String

    func run() throws {
        var m = try connection.call(.merchantShow, ["id": .string(id)])
        // The answer carries the disputes that fit its line; the rest of the first
        // thousand come from dispute.list, from where it stopped.
        if case var .object(fields) = m, fields["more"]?.boolValue == true, let next = fields["next"]?.stringValue {
            let shown = fields["disputes"]?.arrayValue ?? []
            let rest = try connection.listing(.disputeList, ["merchant": .string(id), "after": .string(next)],
                                              key: "disputes", limit: 1000 - shown.count)
            fields["disputes"] = .array(shown + (rest["disputes"]?.arrayValue ?? []))
            fields["more"] = rest["more"] ?? .bool(false)
            fields["next"] = nil
            m = .object(fields)
        }
        if connection.json { printJSON(m); return }
        printAligned([("Merchant", "\(m["id"]?.stringValue ?? "") — \(m["name"]?.stringValue ?? "")"),
                      ("E-mail", m["email"]?.stringValue ?? ""),
                      ("Market", "\(m["country"]?.stringValue ?? ""), \(m["timezone"]?.stringValue ?? ""), locale \(m["locale"]?.stringValue ?? "")"),
                      ("Notices", m["portal"]?.boolValue == true ? (m["emailOnDispute"]?.boolValue == true ? "portal and e-mail" : "portal") : "e-mail")])
        print()
        let disputes = m["disputes"]?.arrayValue ?? []
        printDisputes(disputes)
        noteMore(m, shown: disputes.count, what: "disputes", hint: "disputectl list --merchant \(id) --limit N")
    }
}

// MARK: - Disputes

struct Open: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Open a dispute: pause the invoice, notify the merchant, start the response window.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Merchant id (see 'disputectl merchant upsert').") var merchant: String
    @Option(help: "The merchant's order reference.") var order: String
    // .unconditional: a value such as "-5" is the amount (which the daemon then
    // refuses by name), not a missing value followed by an unknown option.
    @Option(parsing: .unconditional, help: "Disputed amount, e.g. 499.00.") var amount: String
    @Option(help: "ISO 4217 currency code of both amounts, e.g. SEK.") var currency: String
    @Option(help: "notReceived, faulty, returned, notAsDescribed, incorrectInvoice, unauthorized, other.") var reason: String
    @Option(name: .customLong("order-amount"), parsing: .unconditional, help: "Order amount (default: that of the open disputes on the order, else the disputed amount).") var orderAmount: String?
    @Option(help: "The customer's reference, for the record.") var customer: String?
    @Option(help: "Dispute id (default: generated).") var id: String?
    @Option(name: .customLong("invoice-due"), help: "Invoice due date YYYY-MM-DD.") var invoiceDue: String?
    @Flag(name: .customLong("not-captured"), help: "The order is not captured yet (it can be cancelled).") var notCaptured = false
    @Option(name: .customLong("request-id"), help: "Idempotency key (default: random).") var requestID: String?

    func run() throws {
        var args: [String: JSONValue] = ["merchant": .string(merchant), "order": .string(order), "amount": .string(amount),
                                         "currency": .string(currency), "reason": .string(reason), "captured": .bool(!notCaptured)]
        if let orderAmount { args["orderAmount"] = .string(orderAmount) }
        if let customer { args["customer"] = .string(customer) }
        if let id { args["id"] = .string(id) }
        if let invoiceDue { args["invoiceDueDate"] = .string(invoiceDue) }
        let result = try connection.call(.disputeOpen, args, requestID: requestID)
        if connection.json { printJSON(result); return }
        let d = result["dispute"] ?? .null
        print("Opened \(d["id"]?.stringValue ?? ""): \(money(d["disputedAmount"])) on order \(order); merchant must answer by \(d["nextDeadline"]?.stringValue ?? "?").")
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List disputes.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Only disputes in this state: awaitingMerchant, escalated, awaitingEvidence, underReview or closed.") var state: String?
    @Option(help: "Only disputes of this merchant id.") var merchant: String?
    @Option(help: "Only disputes of this order reference (the merchant's own).") var order: String?
    @Option(name: .customLong("due-before"), help: "Only disputes whose next deadline is before this instant.") var dueBefore: String?
    @Option(help: "Show at most this many (1-100000), oldest first.") var limit: Int = 1000

    func validate() throws {
        try validateLimit(limit)
        if let dueBefore, parseInstant(dueBefore) == nil {
            throw ValidationError("--due-before '\(dueBefore)' is not an ISO 8601 instant such as 2026-12-18T09:00:00Z")
        }
    }

    func run() throws {
        var args: [String: JSONValue] = [:]
        if let state { args["state"] = .string(state) }
        if let merchant { args["merchant"] = .string(merchant) }
        if let order { args["order"] = .string(order) }
        if let dueBefore { args["dueBefore"] = .string(dueBefore) }
        let result = try connection.listing(.disputeList, args, key: "disputes", limit: limit)
        if connection.json { printJSON(result); return }
        let rows = result["disputes"]?.arrayValue ?? []
        printDisputes(rows)
        noteMore(result, shown: rows.count)
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a dispute: state, explained deadlines, timeline, notices.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Dispute id.") var id: String

    func run() throws {
        let d = try connection.call(.disputeShow, ["id": .string(id)])
        if connection.json { printJSON(d); return }
        var rows: [(String, String)] = [
            ("Dispute", d["id"]?.stringValue ?? ""),
            ("Merchant", d["merchant"]?.stringValue ?? ""),
            ("Order", "\(d["order"]?.stringValue ?? "") (\(money(d["orderAmount"])))"),
            ("Disputed", "\(money(d["disputedAmount"])), reason \(d["reason"]?.stringValue ?? "")"),
            ("State", (d["state"]?.stringValue ?? "") + (d["outcome"]?.stringValue.map { " (\($0))" } ?? "")),
            ("Invoice", (d["invoice"]?.stringValue ?? "") + (d["invoiceDueDate"]?.stringValue.map { ", due \($0)" } ?? "")),
            ("Calendar", "\(d["calendar"]?.stringValue ?? "") \(d["calendarVersion"]?.stringValue ?? ""), \(d["timezone"]?.stringValue ?? "")"),
        ]
        if let next = d["nextDeadline"]?.stringValue { rows.append(("Next deadline", "\(next) (\(d["nextDeadlineKind"]?.stringValue ?? ""))")) }
        printAligned(rows)
        for deadline in d["deadlines"]?.arrayValue ?? [] {
            print()
            let status: String
            switch deadline["status"]?.stringValue {
            case "running"?: status = " (running)"
            case "lapsed"?: status = " (lapsed" + (deadline["lapsedAt"]?.stringValue.map { ", acted on at \($0)" } ?? "") + ")"
            case "stopped"?: status = " (stopped: the dispute moved on before it ended)"
            default: status = ""
            }
            print("Deadline \(deadline["kind"]?.stringValue ?? "")\(status): \(deadline["businessDays"]?.intValue ?? 0) business days, ends \(deadline["deadlineLocal"]?.stringValue ?? "") (\(deadline["deadline"]?.stringValue ?? ""))")
            print("  counting from \(deadline["effectiveNotificationDay"]?.stringValue ?? "")" + (deadline["effectiveReason"]?.stringValue.map { " (\($0))" } ?? "") + ", last day \(deadline["lastDay"]?.stringValue ?? "")")
            // "2026-12-24 skipped: Julafton (SE)", as workflow.md writes it: the market says whose holiday.
            let market = deadline["calendar"]?.stringValue.map { " (\($0))" } ?? ""
            for s in deadline["skipped"]?.arrayValue ?? [] {
                print("  \(s["date"]?.stringValue ?? "") skipped: \(s["reason"]?.stringValue ?? "")\(market)")
            }
        }
        print()
        // BY: who made the line ("-" for lines stored before the daemon recorded it).
        printTable(["WHEN", "EVENT", "BY", "DETAIL"], (d["timeline"]?.arrayValue ?? []).map {
            [$0["at"]?.stringValue ?? "", $0["event"]?.stringValue ?? "", $0["by"]?.stringValue ?? "-", $0["detail"]?.stringValue ?? ""]
        })
        let notices = d["notices"]?.arrayValue ?? []
        if !notices.isEmpty {
            print()
            printTable(["NOTICE", "KIND", "CHANNEL", "STATE"], notices.map {
                [$0["id"]?.stringValue ?? "", $0["kind"]?.stringValue ?? "", $0["channel"]?.stringValue ?? "", $0["state"]?.stringValue ?? ""]
            })
        }
    }
}

/// The one-argument dispute commands.
struct DisputeAction: ParsableArguments {
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Dispute id.") var id: String
    @Option(name: .customLong("request-id"), help: "Idempotency key (default: random).") var requestID: String?

    func send(_ op: ControlOperation, _ extra: [String: JSONValue] = [:], done: String) throws {
        var args = extra
        args["id"] = .string(id)
        let result = try connection.call(op, args, requestID: requestID)
        if connection.json { printJSON(result); return }
        let d = result["dispute"] ?? .null
        print("\(id): \(done); now \(d["state"]?.stringValue ?? "")" + (d["outcome"]?.stringValue.map { " (\($0))" } ?? "") + ".")
    }
}

struct Respond: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Record that the merchant answered (reminders stop; the deadline holds).")
    @OptionGroup var action: DisputeAction
    func run() throws { try action.send(.disputeRespond, done: "merchant response recorded") }
}

struct Resolve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Close by agreement between merchant and customer.")
    @OptionGroup var action: DisputeAction
    @Option(parsing: .unconditional, help: "Amount refunded to the customer.") var refund: String?
    func run() throws { try action.send(.disputeResolve, refund.map { ["refund": .string($0)] } ?? [:], done: "resolved by agreement") }
}

struct Withdraw: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The customer withdrew the dispute.")
    @OptionGroup var action: DisputeAction
    func run() throws { try action.send(.disputeWithdraw, done: "withdrawn") }
}

struct Statement: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Record the customer's statement in an escalated dispute.")
    @OptionGroup var action: DisputeAction
    @Flag(exclusivity: .exclusive, help: "Whether the statement was found valid.") var validity: Validity
    enum Validity: EnumerableFlag { case valid, invalid }
    func run() throws { try action.send(.disputeStatement, ["valid": .bool(validity == .valid)], done: "statement recorded") }
}

struct Evidence: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Record the merchant's evidence; the dispute goes to review.")
    @OptionGroup var action: DisputeAction
    @Option(help: "What the evidence is, for the timeline.") var note: String?
    func run() throws { try action.send(.disputeEvidence, note.map { ["note": .string($0)] } ?? [:], done: "evidence recorded") }
}

struct Decide: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Decide a dispute under review.")
    @OptionGroup var action: DisputeAction
    @Option(name: .customLong("for"), help: "merchant or customer.") var party: String
    func run() throws { try action.send(.disputeDecide, ["for": .string(party)], done: "decided for the \(party)") }
}

struct OrderAction: ParsableArguments {
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Order reference.") var order: String
    @Option(help: "The merchant whose order it is (needed when another merchant has an open dispute on an order of the same reference).")
    var merchant: String?
    @Option(name: .customLong("request-id"), help: "Idempotency key (default: random).") var requestID: String?

    func send(_ op: ControlOperation, done: String) throws {
        var args: [String: JSONValue] = ["order": .string(order)]
        if let merchant { args["merchant"] = .string(merchant) }
        let result = try connection.call(op, args, requestID: requestID)
        if connection.json { printJSON(result); return }
        for d in result["disputes"]?.arrayValue ?? [] {
            print("\(d["id"]?.stringValue ?? ""): \(done); now \(d["state"]?.stringValue ?? "")"
                + (d["outcome"]?.stringValue.map { " (\($0))" } ?? "") + ".")
        }
    }
}

struct Refunded: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The merchant refunded the order: its open disputes end.")
    @OptionGroup var action: OrderAction
    func run() throws { try action.send(.orderRefunded, done: "order refunded") }
}

struct Cancelled: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The merchant cancelled the (uncaptured) order: its open disputes end.")
    @OptionGroup var action: OrderAction
    func run() throws { try action.send(.orderCancelled, done: "order cancelled") }
}

struct NoticeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "notice", abstract: "Look at a notice, or e-mail it again.",
                                                    subcommands: [NoticeShow.self, NoticeResend.self])
}

/// What the notice commands share: the connection and the notice.
struct NoticeTarget: ParsableArguments {
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Notice id, as 'disputectl show' lists them (D-1.1.disputeOpened).") var notice: String
}

struct NoticeShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show",
        abstract: "Print a notice as the mail relay gets it (rendered with the merchant's address and the templates of now).")
    @OptionGroup var target: NoticeTarget

    func run() throws {
        let result = try target.connection.call(.noticeShow, ["id": .string(target.notice)])
        if target.connection.json { printJSON(result); return }
        print(result["message"]?.stringValue ?? "", terminator: "")
    }
}

struct NoticeResend: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resend",
        abstract: "E-mail a notice again (a copy with its own id), to the merchant's address now.")
    @OptionGroup var target: NoticeTarget
    @Option(name: .customLong("request-id"), help: "Idempotency key (default: random).") var requestID: String?

    func run() throws {
        let result = try target.connection.call(.noticeResend, ["id": .string(target.notice)], requestID: requestID)
        if target.connection.json { printJSON(result); return }
        let dispute = result["dispute"]?["id"]?.stringValue ?? ""
        print("\(target.notice): e-mailed again as a new notice; 'disputectl show \(dispute)' lists it.")
    }
}

struct Deadlines: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Deadlines coming up.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Window, such as 7d or 36h.") var within: String = "7d"
    @Option(help: "Show at most this many (1-100000), soonest first.") var limit: Int = 1000

    func validate() throws {
        try validateLimit(limit)
        guard let seconds = parseDuration(within) else { throw ValidationError("--within '\(within)' is not a duration such as 90s, 15m, 12h, 3d, 2w or 1d12h") }
        guard seconds <= longestSpanSeconds else { throw ValidationError("--within '\(within)' is longer than the 20 years the daemon looks ahead") }
    }

    func run() throws {
        let result = try connection.listing(.deadlinesUpcoming, ["withinSeconds": .int(parseDuration(within)!)], key: "deadlines", limit: limit)
        if connection.json { printJSON(result); return }
        let deadlines = result["deadlines"]?.arrayValue ?? []
        defer { noteMore(result, shown: deadlines.count) }
        // "(none)" alone read as "no deadlines at all" when the window was only short.
        printTable(["DISPUTE", "MERCHANT", "KIND", "DEADLINE", "ENDS (LOCAL)", "LEFT"], none: "(none within \(within))", deadlines.map {
            [$0["id"]?.stringValue ?? "", $0["merchant"]?.stringValue ?? "", $0["kind"]?.stringValue ?? "",
             $0["deadline"]?.stringValue ?? "", $0["deadlineLocal"]?.stringValue ?? "",
             "\($0["businessDaysLeft"]?.intValue ?? 0) business days"]
        })
    }
}

struct Clock: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The simulated clock.", subcommands: [ClockAdvance.self])
}

struct ClockAdvance: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "advance",
        abstract: "Move a simulated clock forward; answers once every timer due by then has been applied.",
        usage: "disputectl clock advance [--socket <path>] [--json] <duration>")
    @OptionGroup var connection: ConnectionOptions
    // Taken as all that is left, so that "-3d" reaches validate() and is named
    // there instead of being read as an unknown option.
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Duration such as 90s, 15m, 12h, 3d, 2w or 1d12h.", valueName: "duration"))
    var durations: [String] = []
    var duration: String { durations.first ?? "" }

    func validate() throws {
        guard !durations.isEmpty else { throw ValidationError("missing the duration to advance by, such as 90s, 15m, 12h, 3d, 2w or 1d12h") }
        guard durations.count == 1 else { throw ValidationError("one duration only, such as 1d12h; got \(durations.joined(separator: " "))") }
        if duration.hasPrefix("-") { throw ValidationError("'\(duration)': a simulated clock only moves forward (it cannot undo timers that fired)") }
        guard let seconds = parseDuration(duration) else { throw ValidationError("'\(duration)' is not a duration such as 90s, 15m, 12h, 3d, 2w or 1d12h") }
        guard seconds <= longestSpanSeconds else { throw ValidationError("'\(duration)' is longer than the 20 years a simulated clock moves at a time") }
    }

    func run() throws {
        let result = try connection.call(.clockAdvance, ["seconds": .int(parseDuration(duration)!)])
        if connection.json { printJSON(result); return }
        let fired = result["timersFired"]?.intValue ?? 0
        print("Clock now \(result["now"]?.stringValue ?? ""); \(fired) \(fired == 1 ? "timer" : "timers") fired.")
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reload the daemon's configuration and calendars.")
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let result = try connection.call(.configReload)
        if connection.json { printJSON(result); return }
        print("Configuration reloaded at \(result["configLoadedAt"]?.stringValue ?? "").")
    }
}

// MARK: - Output helpers

func money(_ m: JSONValue?) -> String {
    guard let m, let amount = m["amount"]?.stringValue, let currency = m["currency"]?.stringValue else { return "-" }
    return "\(amount) \(currency)"
}

func printDisputes(_ disputes: [JSONValue]) {
    printTable(["DISPUTE", "MERCHANT", "ORDER", "AMOUNT", "STATE", "NEXT DEADLINE"], disputes.map {
        [$0["id"]?.stringValue ?? "", $0["merchant"]?.stringValue ?? "", $0["order"]?.stringValue ?? "",
         money($0["disputedAmount"]),
         ($0["state"]?.stringValue ?? "") + ($0["outcome"]?.stringValue.map { " (\($0))" } ?? ""),
         $0["nextDeadline"]?.stringValue ?? "-"]
    })
}

/// An aligned table; the last column takes what is left of 80 columns; `none` when there are no rows.
func printTable(_ header: [String], none: String = "(none)", _ rows: [[String]]) {
    if rows.isEmpty { print(none); return }
    let rows = rows.map { $0.map(PlainText.printable) }
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

/// `--limit` of a listing: 1 to 100,000 rows, read in as many pages as that takes.
func validateLimit(_ limit: Int) throws {
    guard (1...100_000).contains(limit) else { throw ValidationError("--limit \(limit) must be from 1 to 100000") }
}

/// Says on stderr when the daemon had more rows than it was asked for, so a
/// listing that stops at the limit is never taken for all there is.
func noteMore(_ result: JSONValue, shown: Int, what: String = "", hint: String = "raise --limit or narrow the filters") {
    if result["more"]?.boolValue == true {
        let shownText = what.isEmpty ? "the first \(shown) shown; more match" : "the first \(shown) \(what) shown; more exist"
        FileHandle.standardError.write(Data("disputectl: \(shownText) (\(hint))\n".utf8))
    }
}

/// `90s`, `15m`, `12h`, `3d`, `2w`, or combined (`1d12h`), in seconds.
func parseDuration(_ text: String) -> Int64? {
    var total: Int64 = 0
    var number = ""
    var sawUnit = false
    for c in text {
        if c.isASCII && c.isNumber { number.append(c); continue }
        guard let n = Int64(number), let unit = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800][String(c)] else { return nil }
        // Overflow is no duration either (999999999999999w): refused, not a crash.
        let (seconds, overflow) = n.multipliedReportingOverflow(by: Int64(unit))
        guard !overflow else { return nil }
        let (sum, overflowed) = total.addingReportingOverflow(seconds)
        guard !overflowed else { return nil }
        total = sum
        number = ""
        sawUnit = true
    }
    return number.isEmpty && sawUnit ? total : nil
}
