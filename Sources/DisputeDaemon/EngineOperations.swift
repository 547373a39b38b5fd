import BusinessCalendar
import ControlProtocol
import DisputeStore
import DisputeWorkflow
import Foundation
import Logging
import NoticeSpool

extension Engine {
    /// Answers a dispute, merchant, deadline or clock operation.
    ///
    /// Write operations are idempotent by request id: the same id with the same
    /// operation and arguments returns the first answer again; with anything
    /// else it is refused (`duplicate_mismatch`). The answer is stored in the
    /// same transaction as the change it reports, and the timeline lines a
    /// write adds say it was `actor` (who sent the request).
    func handle(_ request: ControlRequest, _ op: ControlOperation, by actor: String) -> ControlResponse {
        do {
            let args = Arguments(request.args)
            // Only writes are idempotent; reads skip the canonical re-encoding.
            let fingerprint = op.isWrite ? Self.fingerprint(op, request.args) : ""
            if op.isWrite, op != .clockAdvance, let prior = try unconfirmed(\.requests, request.id) ?? storedRequest(request.id) {
                guard prior.op == op.rawValue, prior.fingerprint == fingerprint else {
                    throw ControlError(.duplicateMismatch, "request id '\(request.id)' was already used for a different request (\(prior.op)); use a new id")
                }
                return .success(id: request.id, result: try JSONValue.parse(prior.response.utf8))
            }
            let result: JSONValue
            switch op {
            case .merchantList:
                try args.allow(["limit", "after"])
                let limit = min(try Self.limit(args), Self.merchantsPerPage)
                let found = try store.merchants(after: try args.string("after"), limit: limit + 1)
                result = Self.listing("merchants", AnswerPage(found, limit: limit, cursor: \.id, view: View.merchant), next: { $0 })
            case .merchantShow:
                try args.allow(["id"])
                let m = try merchantNamed(try args.required("id"))
                guard case var .object(fields) = View.merchant(m) else { return .failure(id: request.id, ControlError(.internal, "view")) }
                // The first ones that fit the answer, oldest first; `more` says that dispute.list has
                // the rest, from `next` (its `after`, with the merchant as filter).
                let found = try store.disputePage(merchantID: m.id, after: nil, limit: Self.disputesPerPage + 1)
                let page = AnswerPage(found, limit: Self.disputesPerPage, budget: AnswerPage<ListingCursor>.rowBudget - 2048,
                                      cursor: \.cursor) { View.dispute($0.dispute) }
                fields["disputes"] = .array(page.rows)
                fields["more"] = .bool(page.more)
                if let next = page.next { fields["next"] = .string(next.text) }
                result = .object(fields)
            case .disputeList:
                try args.allow(["state", "merchant", "order", "dueBefore", "limit", "after"])
                let stage = try args.string("state").map { raw -> DisputeStage in
                    guard let s = DisputeStage(rawValue: raw) else {
                        throw ControlError(.badRequest, "'state' is \"\(raw)\"; states: \(DisputeStage.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    return s
                }
                let due = try args.string("dueBefore").map { raw -> Int64 in
                    guard let d = Instant.parse(raw) else {
                        throw ControlError(.badRequest, "'dueBefore' is \"\(raw)\", not an ISO 8601 instant such as 2027-01-12T09:00:00Z")
                    }
                    return Self.seconds(d)
                }
                let limit = min(try Self.limit(args), Self.disputesPerPage)
                // One more than the page holds, to tell the client that more match.
                let found = try store.disputePage(stage: stage, merchantID: try args.string("merchant"), dueBefore: due,
                                                  orderReference: try args.string("order"), after: try Self.cursor(args, byDeadline: false),
                                                  limit: limit + 1)
                result = Self.listing("disputes", AnswerPage(found, limit: limit, cursor: \.cursor) { View.dispute($0.dispute) }, next: \.text)
            case .disputeShow:
                try args.allow(["id"])
                let d = try disputeNamed(try args.required("id"))
                result = View.detailed(d, timeline: try store.timeline(of: d.id), notices: try store.notices(of: d.id), timers: try store.timers(of: d.id))
            case .deadlinesUpcoming:
                try args.allow(["withinSeconds", "limit", "after"])
                let within = try args.int("withinSeconds") ?? 7 * 86400
                guard (0...longestSpanSeconds).contains(within) else {
                    throw ControlError(.badRequest, "'withinSeconds' is \(within); the window must be from 0 seconds to 20 years")
                }
                let limit = min(try Self.limit(args), Self.deadlinesPerPage)
                // Soonest first (closed disputes have no next deadline); one more than the page holds, to tell that more match.
                let found = try store.disputePage(dueBefore: now + within, byDeadline: true, after: try Self.cursor(args, byDeadline: true),
                                                  limit: limit + 1)
                let page = AnswerPage(found, limit: limit, cursor: \.cursor) { row -> JSONValue? in
                    let d = row.dispute
                    guard let last = d.deadlines.last else { return nil }
                    return .object(["id": .string(d.id), "merchant": .string(d.merchantID), "state": .string(d.stage.rawValue),
                                    "kind": .string(last.kind.rawValue), "deadline": View.instant(last.instant),
                                    "deadlineLocal": .string(last.explanation.deadlineLocal), "lastDay": .string(last.explanation.lastDay),
                                    "businessDaysLeft": .int(Int64(businessDaysLeft(d, last)))])
                }
                result = Self.listing("deadlines", page, next: \.text, with: ["now": View.instant(now)])
            case .clockAdvance:
                try args.allow(["seconds"])
                guard let seconds = try args.int("seconds") else { throw ControlError(.badRequest, "clock.advance needs 'seconds', an integer") }
                guard (0...longestSpanSeconds).contains(seconds) else {
                    throw ControlError(.badRequest, "'seconds' is \(seconds); a simulated clock moves from 0 seconds to 20 years (\(longestSpanSeconds) s) at a time")
                }
                let (newNow, fired) = try advanceClock(by: seconds)
                result = .object(["now": View.instant(newNow), "timersFired": .int(Int64(fired))])
            case .calendarDeadline, .calendarHolidays:
                result = try calendarQuery(op, args)
            case .merchantUpsert:
                result = try write(request, op, fingerprint, by: actor) { batch in try self.upsertMerchant(args, &batch) }
            case .disputeOpen:
                result = try write(request, op, fingerprint, by: actor) { batch in try self.open(args, requestID: request.id, &batch) }
            case .disputeRespond, .disputeResolve, .disputeWithdraw, .disputeStatement, .disputeEvidence, .disputeDecide:
                result = try write(request, op, fingerprint, by: actor) { batch in try self.command(op, args, &batch) }
            case .orderRefunded, .orderCancelled:
                result = try write(request, op, fingerprint, by: actor) { batch in try self.orderEnded(op, args, &batch) }
            case .noticeResend:
                result = try write(request, op, fingerprint, by: actor) { batch in try self.resendNotice(args, &batch) }
            case .status, .configReload, .noticeShow:
                throw ControlError(.internal, "\(op.rawValue) is answered by the router")
            }
            return .success(id: request.id, result: result)
        } catch let error as ControlError {
            return .failure(id: request.id, error)
        } catch let error as WorkflowError {
            switch error {
            case let .conflict(m): return .failure(id: request.id, ControlError(.conflict, m))
            case let .invalid(m): return .failure(id: request.id, ControlError(.badRequest, m))
            }
        } catch {
            let message = store.explain(error)
            logger.error("operation failed", metadata: ["op": "\(op.rawValue)", "error": "\(message)"])
            return .failure(id: request.id, ControlError(.internal, message))
        }
    }

    static func fingerprint(_ op: ControlOperation, _ args: JSONValue) -> String {
        op.rawValue + " " + args.jsonText()
    }

    /// Runs a write by `actor`: builds the batch, stores the answer with it, commits once.
    func write(_ request: ControlRequest, _ op: ControlOperation, _ fingerprint: String, by actor: String,
               _ body: (inout CommitBatch) throws -> JSONValue) throws -> JSONValue {
        var batch = CommitBatch()
        batch.now = now
        let result = try body(&batch)
        Self.attribute(&batch, to: actor)
        let response = result.jsonText()
        batch.request = (request.id, op.rawValue, fingerprint, response)
        batch.requestsExpireBefore = batch.now - requestRetention
        try Self.encodeBodies(&batch)
        let journal = logger.logLevel <= .info ? Self.journalLines(request.id, op, by: actor, batch) : []
        if group != nil {
            // Part of a group commit: later requests of the group see these changes.
            group!.batches.append(batch)
            for d in batch.disputes { group!.disputes[d.id] = d }
            for m in batch.merchants { group!.merchants[m.id] = m }
            group!.requests[request.id] = RequestRecord(op: op.rawValue, fingerprint: fingerprint, response: response)
            group!.journal += journal
        } else {
            try apply(batch)
            logJournal(journal)
        }
        return result
    }

    /// The journal's line of a write, one for each dispute it changed, with
    /// who asked (the timeline has the details); logged once the write is
    /// stored (``logJournal(_:)``), so a commit that fails shows its error only.
    /// Built only when info is logged: every write passes here.
    static func journalLines(_ requestID: String, _ op: ControlOperation, by actor: String,
                             _ batch: CommitBatch) -> [(Logger.Message, Logger.Metadata)] {
        let message: Logger.Message = op == .disputeOpen ? "dispute opened" : "\(op.rawValue) applied"
        if batch.disputes.isEmpty {
            // A merchant saved, or a notice sent again.
            var metadata: Logger.Metadata = ["request": "\(requestID)", "by": "\(actor)"]
            if let merchant = batch.merchants.first { metadata["merchant"] = "\(merchant.id)" }
            if let line = batch.timeline.first { metadata["dispute"] = "\(line.disputeID)" }
            return [(message, metadata)]
        }
        return batch.disputes.map { d in
            (message, ["request": "\(requestID)", "by": "\(actor)", "dispute": "\(d.id)", "merchant": "\(d.merchantID)",
                       "state": "\(d.stage.rawValue)"])
        }
    }

    func logJournal(_ lines: [(Logger.Message, Logger.Metadata)]) {
        for (message, metadata) in lines { logger.info(message, metadata: metadata) }
    }

    /// A change made by the group being built or the group in flight, which the
    /// store does not show yet. Only writes being grouped see them: a read
    /// outside a group sees committed state only.
    func unconfirmed<Value>(_ table: KeyPath<Group, [String: Value]>, _ key: String) -> Value? {
        guard let group else { return nil }
        if let value = group[keyPath: table][key] { return value }
        // Groups of an earlier epoch are still in flight after a failed commit
        // only to be refused: what they changed will not be stored.
        for earlier in inFlight.reversed() where earlier.epoch == commitEpoch {
            if let value = earlier.group[keyPath: table][key] { return value }
        }
        return nil
    }

    func merchantNamed(_ id: String) throws -> Merchant {
        if let m = unconfirmed(\.merchants, id) { return m }
        guard let m = try cachedMerchant(id) else { throw ControlError(.notFound, "no merchant \(id)") }
        return m
    }

    func disputeNamed(_ id: String) throws -> Dispute {
        guard let d = try unconfirmed(\.disputes, id) ?? store.dispute(id) else {
            if let removed = try store.purgedAt(id) {
                throw ControlError(.notFound, "dispute \(id) was removed on \(ZonedTime.isoUTC(removed)) by the retention of "
                                   + "closed disputes (daemon.closed_retention_days)")
            }
            let similar = (try? store.disputeIDs(like: id)) ?? []
            throw ControlError(.notFound, "no dispute \(id)" + (similar.isEmpty ? "" : "; did you mean \(similar.joined(separator: ", "))?"))
        }
        return d
    }

    /// How many rows a listing answers when the request does not say.
    static let defaultLimit = 1000

    /// The most rows a listing reads for one answer: about what the 64 KiB
    /// line holds of each (disputes about 820 bytes, deadlines 250, merchants
    /// 150), so that a page does not read and decode many rows it leaves out.
    static let disputesPerPage = 100
    static let deadlinesPerPage = 250
    static let merchantsPerPage = 400

    /// A listing's answer: `fields`, its rows under `key`, `more`, and `next`
    /// (the cursor to continue from, as text) when more match.
    static func listing<Cursor>(_ key: String, _ page: AnswerPage<Cursor>, next text: (Cursor) -> String,
                                with fields: [String: JSONValue] = [:]) -> JSONValue {
        var fields = fields
        fields[key] = .array(page.rows)
        fields["more"] = .bool(page.more)
        if let next = page.next { fields["next"] = .string(text(next)) }
        return .object(fields)
    }

    /// The `after` of a request for the next page: a cursor from a previous answer's `next`.
    static func cursor(_ args: Arguments, byDeadline: Bool) throws -> ListingCursor? {
        guard let text = try args.string("after") else { return nil }
        guard let cursor = ListingCursor(text: text, byDeadline: byDeadline) else {
            throw ControlError(.badRequest, "'after' is \"\(text)\", not a cursor this listing gives; pass the 'next' of its previous answer")
        }
        return cursor
    }

    /// How many rows a listing answers at most: `limit`, 1 to 100,000 (default ``defaultLimit``).
    static func limit(_ args: Arguments) throws -> Int {
        let limit = try args.int("limit") ?? Int64(defaultLimit)
        guard (1...100_000).contains(limit) else { throw ControlError(.badRequest, "'limit' is \(limit); it must be from 1 to 100000") }
        return Int(limit)
    }

    /// Merchant and dispute ids: 1–64 ASCII letters, digits, '-', '_' or '.', not
    /// starting with '.' (a hidden spool file) or '-' (`disputectl show -1`
    /// would read it as an option).
    static func validIdentifier(_ s: String) -> Bool {
        (1...64).contains(s.utf8.count) && s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F || c == 0x2E
        } && s.first != "." && s.first != "-"
    }

    static let identifierRule = "must be 1–64 ASCII letters, digits, '-', '_' or '.', and not start with '.' or '-'"

    /// A merchant's locale in its canonical form (`de_at` → `de-AT`), or nil
    /// unless it is an ISO 639 language, optionally followed by an ISO 3166
    /// region. Notices use the templates of the tag, else of its language,
    /// else English; dates and amounts follow the tag (completed with the
    /// merchant's country). A language no one speaks (`xx`) would silently
    /// get English notices, so it is refused instead.
    static func canonicalLocale(_ tag: String) -> String? {
        let parts = tag.split(separator: "-", omittingEmptySubsequences: false).flatMap {
            $0.split(separator: "_", omittingEmptySubsequences: false)
        }
        guard (1...2).contains(parts.count), parts.allSatisfy({ part in part.utf8.allSatisfy { c in
            (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) } }) else { return nil }
        let language = parts[0].lowercased()
        guard (2...3).contains(language.utf8.count),
              Locale.LanguageCode.isoLanguageCodes.contains(Locale.LanguageCode(language)) else { return nil }
        guard parts.count == 2 else { return language }
        let region = parts[1].uppercased()
        guard region.utf8.count == 2, Locale.Region.isoRegions.contains(Locale.Region(region)) else { return nil }
        return language + "-" + region
    }

    /// A one-line text argument as it is stored and shown (a name, a reference):
    /// at most `maxBytes` of UTF-8 and no control characters, which would break
    /// a notice's header or a listing's row.
    static func singleLine(_ value: String, _ key: String, maxBytes: Int) throws -> String {
        guard value.utf8.count <= maxBytes, !PlainText.hasControlCharacters(value) else {
            throw ControlError(.badRequest, "'\(key)' must be at most \(maxBytes) bytes without control characters (CR, LF, NUL, ...)")
        }
        return value
    }

    func upsertMerchant(_ args: Arguments, _ batch: inout CommitBatch) throws -> JSONValue {
        try args.allow(["id", "name", "email", "country", "timezone", "locale", "portal", "emailOnDispute"])
        let id = try args.required("id")
        guard Self.validIdentifier(id) else { throw ControlError(.badRequest, "merchant id '\(id)' \(Self.identifierRule)") }
        let name = try Self.singleLine(args.required("name"), "name", maxBytes: 200)
        let email = try args.required("email")
        // The spool's own rule (MailAddress), so that an address taken here can
        // always be written into a notice: one it refused later held the
        // merchant's notices in the outbox for good.
        guard (try? MailAddress(displayName: name, address: email)) != nil,
              email.split(separator: "@").last?.contains(".") == true else {
            let hint = email.utf8.contains(where: { $0 >= 0x80 })
                ? " (an address must be ASCII: write a domain with other letters in its xn-- form; a mailbox name with them cannot be sent to)"
                : " (one @, a domain with a dot, no spaces and none of < > ( ) [ ] , ; : \\ \")"
            throw ControlError(.badRequest, "'email' is \"\(email.prefix(80))\", which is not a plain address such as disputes@shop.example" + hint)
        }
        let country = try args.required("country").uppercased()
        guard calendars[country] != nil else {
            throw ControlError(.badRequest, "no business calendar for country \(country); loaded: \(calendars.keys.sorted().joined(separator: ", "))")
        }
        let zone = try args.required("timezone")
        guard TimeZone(identifier: zone) != nil else { throw ControlError(.badRequest, "'timezone' \"\(zone)\" is not an IANA time zone") }
        let written = try args.string("locale") ?? "en"
        guard let locale = Self.canonicalLocale(written) else {
            throw ControlError(.badRequest, "'locale' \"\(written.prefix(40))\" is not a language tag: write an ISO 639 language "
                + "such as en, sv or de, optionally with an ISO 3166 region such as de-AT")
        }
        let merchant = Merchant(id: id, legalName: name, email: email, country: country, timeZone: zone, locale: locale,
                                portalActivated: try args.bool("portal", default: false),
                                emailOnDispute: try args.bool("emailOnDispute", default: false))
        batch.merchants.append(merchant)
        return .object(["merchant": View.merchant(merchant)])
    }

    func money(_ args: Arguments, _ key: String, _ currency: Currency) throws -> Money? {
        guard let raw = try args.string(key) else { return nil }
        guard let m = Money(decimal: raw, currency: currency) else {
            let example = Money(decimal: "499", currency: currency)?.decimal ?? "499"
            throw ControlError(.badRequest, "'\(key)' is \"\(raw)\"; write a non-negative amount of at most 15 digits before the point "
                + "and \(currency.minorDigits) after it in \(currency.code), such as \(example)")
        }
        return m
    }

    func open(_ args: Arguments, requestID: String, _ batch: inout CommitBatch) throws -> JSONValue {
        try args.allow(["merchant", "order", "amount", "currency", "reason", "orderAmount", "customer", "id", "captured", "invoiceDueDate"])
        let merchant = try merchantNamed(try args.required("merchant"))
        let code = try args.required("currency").uppercased()
        guard let currency = Currency(code: code) else { throw ControlError(.badRequest, "unknown currency '\(code)'; disputes are kept in \(Currency.knownCodes.joined(separator: ", "))") }
        let amount = try money(args, "amount", currency) ?? { throw ControlError(.badRequest, "missing required argument 'amount'") }()
        let givenOrderAmount = try money(args, "orderAmount", currency)
        let rawReason = try args.required("reason")
        guard let reason = DisputeReason(rawValue: rawReason) else {
            throw ControlError(.badRequest, "'reason' is \"\(rawReason)\"; reasons: \(DisputeReason.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let order = try Self.singleLine(args.required("order"), "order", maxBytes: 100)
        let customer = try args.string("customer").map { try Self.singleLine($0, "customer", maxBytes: 100) }
        let orderKey = OrderKey(merchantID: merchant.id, order: order)
        let others = try openDisputes(on: orderKey)
        let orderAmount = try Self.orderAmount(givenOrderAmount, disputing: amount, onOrder: order, of: merchant.id, alreadyOpen: others)
        let captured = try args.bool("captured", default: true)
        // An order is captured once and stays so (decision, the design is
        // silent): a dispute may find it captured since an earlier one did not,
        // never the other way round, or a cancellation meant for an uncaptured
        // order would be asked of a captured one.
        if !captured, let known = others.first(where: \.captured) {
            throw ControlError(.conflict, "order \(order) of merchant \(merchant.id) is captured (its open dispute \(known.id)); "
                + "a captured order is not uncaptured again: leave 'captured' out (disputectl: no --not-captured)")
        }
        let id = try args.string("id") ?? "D-" + String(UInt32.random(in: 0x1000_0000...UInt32.max), radix: 16).uppercased()
        guard Self.validIdentifier(id) else { throw ControlError(.badRequest, "dispute id '\(id)' \(Self.identifierRule)") }
        if try unconfirmed(\.disputes, id) != nil || storedDisputeExists(id) {
            if let removed = try store.purgedAt(id) {
                throw ControlError(.conflict, "dispute id \(id) was used by a dispute removed on \(ZonedTime.isoUTC(removed)) by retention "
                                   + "(daemon.closed_retention_days); an id is not used twice (its notices' Message-IDs would repeat)")
            }
            throw ControlError(.conflict, "dispute \(id) already exists")
        }
        let due = try args.string("invoiceDueDate").map { raw -> CivilDate in
            guard let d = CivilDate(raw) else { throw ControlError(.badRequest, "'invoiceDueDate' is \"\(raw)\", not a calendar date YYYY-MM-DD") }
            return d
        }
        guard let calendar = calendars[merchant.country] else { throw ControlError(.unavailable, "no calendar for \(merchant.country) is loaded") }
        let t = try DisputeWorkflow.open(
            OpenRequest(id: id, orderReference: order, customerReference: customer, orderAmount: orderAmount,
                        disputedAmount: amount, captured: captured, reason: reason, invoiceDueDate: due),
            merchant: merchant, now: now, policy: policy, calendar: calendar)
        add(t, merchant: merchant, to: &batch)
        group?.opened[orderKey, default: []].append(id)
        return .object(["dispute": View.dispute(t.dispute)])
    }

    /// The order amount of a new dispute, checked against the disputes already
    /// open on the same order of the same merchant (decision, the design is
    /// silent): a customer may dispute several parts of one order, but the
    /// order has one amount, and together the open disputes may not claim more
    /// than it (each chargeback returns its disputed amount). Without
    /// `orderAmount` a dispute takes the amount the open ones know, else its
    /// own disputed amount. Closed disputes do not count: their money has
    /// moved, and a new claim on the order is the provider's to vet.
    static func orderAmount(_ given: Money?, disputing amount: Money, onOrder order: String, of merchantID: String,
                            alreadyOpen others: [Dispute]) throws -> Money {
        guard let first = others.first else { return given ?? amount }
        let known = first.orderAmount
        guard amount.currency == known.currency else {
            throw ControlError(.conflict, "order \(order) of merchant \(merchantID) is in \(known.currency) (its open dispute \(first.id)), "
                + "not \(amount.currency)")
        }
        let orderAmount = given ?? known
        guard orderAmount == known else {
            throw ControlError(.conflict, "order \(order) of merchant \(merchantID) is \(known) in its open dispute \(first.id), "
                + "not \(orderAmount); name the same order amount, or leave it out")
        }
        // An open dispute's amount is in its order's currency (the workflow
        // refuses others), so the sum is in the order's minor units.
        let disputed = others.reduce(Int64(0)) { $0 + $1.disputedAmount.minorUnits }
        let ids = others.map(\.id).joined(separator: ", ")
        guard disputed + amount.minorUnits <= known.minorUnits else {
            throw ControlError(.conflict, "order \(order) of merchant \(merchantID) (\(known)) has \(Money(minorUnits: disputed, currency: known.currency)) "
                + "disputed in its open disputes \(ids); another \(amount) would claim more than the order")
        }
        return orderAmount
    }

    func command(_ op: ControlOperation, _ args: Arguments, _ batch: inout CommitBatch) throws -> JSONValue {
        let dispute = try disputeNamed(try args.required("id"))
        let event: DisputeEvent
        switch op {
        case .disputeRespond: try args.allow(["id"]); event = .merchantResponded
        case .disputeWithdraw: try args.allow(["id"]); event = .withdrawn
        case .disputeResolve:
            try args.allow(["id", "refund"])
            event = .resolved(refund: try money(args, "refund", dispute.disputedAmount.currency))
        case .disputeStatement:
            try args.allow(["id", "valid"])
            guard case let .bool(valid)? = args.values["valid"] else { throw ControlError(.badRequest, "dispute.statement needs 'valid': true or false") }
            event = .customerStatement(valid: valid)
        case .disputeEvidence:
            try args.allow(["id", "note"])
            let note = try args.string("note")
            if let note, note.utf8.count > 2000 || PlainText.hasControlCharacters(note, allowingLineBreaks: true) {
                throw ControlError(.badRequest, "'note' must be at most 2000 bytes without control characters other than line breaks and tabs")
            }
            event = .evidenceSubmitted(note: note)
        case .disputeDecide:
            try args.allow(["id", "for"])
            let raw = try args.required("for")
            guard let party = Party(rawValue: raw) else { throw ControlError(.badRequest, "'for' must be merchant or customer") }
            event = .decided(party)
        default: throw ControlError(.internal, "not a dispute command")
        }
        let merchant = try merchantNamed(dispute.merchantID)
        let t = try DisputeWorkflow.apply(event, to: dispute, merchant: merchant, now: now, calendar: try calendar(for: dispute))
        add(t, merchant: merchant, to: &batch)
        return .object(["dispute": View.dispute(t.dispute)])
    }

    /// A refunded or cancelled order ends every open dispute on it.
    func orderEnded(_ op: ControlOperation, _ args: Arguments, _ batch: inout CommitBatch) throws -> JSONValue {
        try args.allow(["order", "merchant"])
        let order = try args.required("order")
        var open = try store.disputes(orderReference: order).filter { $0.stage != .closed }
        if let merchant = try args.string("merchant") {
            open = open.filter { $0.merchantID == merchant }
            guard !open.isEmpty else { throw ControlError(.notFound, "no open dispute on order \(order) of merchant \(merchant)") }
        } else {
            guard !open.isEmpty else { throw ControlError(.notFound, "no open dispute on order \(order)") }
            // Order references are the merchants' own: two shops may both have an order 1001.
            let merchants = Set(open.map(\.merchantID)).sorted()
            guard merchants.count == 1 else {
                throw ControlError(.conflict, "order \(order) has open disputes of merchants \(merchants.joined(separator: ", ")); "
                    + "name the merchant ('merchant', disputectl --merchant)")
            }
        }
        var views: [JSONValue] = []
        for d in open {
            let merchant = try merchantNamed(d.merchantID)
            let t = try DisputeWorkflow.apply(op == .orderRefunded ? .orderRefunded : .orderCancelled, to: d,
                                              merchant: merchant, now: now, calendar: try calendar(for: d))
            add(t, merchant: merchant, to: &batch)
            views.append(View.dispute(t.dispute))
        }
        return .object(["disputes": .array(views)])
    }

    /// E-mails a notice again (decision, the design is silent: a merchant who
    /// says the e-mail never came gets the same notice once more, to the
    /// address the merchant has now): a new notice of the same kind and
    /// content, with an id and Message-ID of its own, spooled like any other.
    /// A notice in the portal can be e-mailed this way too; one not yet
    /// spooled cannot (it goes out on its own).
    func resendNotice(_ args: Arguments, _ batch: inout CommitBatch) throws -> JSONValue {
        try args.allow(["id"])
        let id = try args.required("id")
        let (dispute, notice) = try storedNotice(id)
        guard notice.state != "pending" else {
            throw ControlError(.conflict, "notice \(id) is not spooled yet; it goes out on its own (see the outbox in `disputectl status`)")
        }
        batch.notices.append((dispute.id, notice.kind, .email, notice.context))
        batch.timeline.append((dispute.id, TimelineEntry(at: now, event: "noticeResent", detail: "\(notice.kind.rawValue): \(id) e-mailed again")))
        return .object(["resent": .string(id), "dispute": View.dispute(dispute)])
    }

    /// A stored notice by its id (`<dispute id>.<number>.<kind>`, as `show`
    /// lists them; the dispute id may itself hold dots), with its dispute.
    func storedNotice(_ id: String) throws -> (Dispute, StoredNotice) {
        let parts = id.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 3, Int(parts[parts.count - 2]) != nil else {
            throw ControlError(.badRequest, "'\(id)' is not a notice id (<dispute>.<number>.<kind>, as `disputectl show` lists them)")
        }
        let dispute = try disputeNamed(parts.dropLast(2).joined(separator: "."))
        guard let notice = try store.notices(of: dispute.id).first(where: { $0.id == id }) else {
            throw ControlError(.notFound, "dispute \(dispute.id) has no notice \(id); `disputectl show \(dispute.id)` lists its notices")
        }
        return (dispute, notice)
    }

    /// A notice and the merchant it goes to now, for `notice.show`.
    func noticeToShow(_ args: Arguments) throws -> (StoredNotice, Merchant) {
        try args.allow(["id"])
        let (dispute, notice) = try storedNotice(try args.required("id"))
        return (notice, try merchantNamed(dispute.merchantID))
    }

    func businessDaysLeft(_ d: Dispute, _ deadline: StageDeadline) -> Int {
        guard let calendar = try? calendar(for: d), let zone = ZonedTime(identifier: d.timeZone),
              let last = CivilDate(deadline.explanation.lastDay) else { return 0 }
        let today = zone.local(now).date
        return max(0, (try? calendar.countBusinessDays(from: today, to: last)) ?? 0)
    }

    func calendarQuery(_ op: ControlOperation, _ args: Arguments) throws -> JSONValue {
        let market = try args.required("calendar").uppercased()
        guard let calendar = calendars[market] else { throw ControlError(.notFound, "no calendar \(market); loaded: \(calendars.keys.sorted().joined(separator: ", "))") }
        do {
            if op == .calendarHolidays {
                try args.allow(["calendar", "year"])
                guard let year = try args.int("year") else { throw ControlError(.badRequest, "missing required argument 'year'") }
                return .array(try calendar.holidays(in: Int(year)).map { .object(["date": .string($0.date.description), "name": .string($0.name)]) })
            }
            try args.allow(["calendar", "from", "businessDays", "timezone", "cutoff"])
            let fromText = try args.required("from")
            guard let from = Instant.parse(fromText) else { throw ControlError(.badRequest, "'from' is \"\(fromText)\", not an ISO 8601 instant") }
            guard let n = try args.int("businessDays") else { throw ControlError(.badRequest, "missing required argument 'businessDays'") }
            guard (1...366).contains(n) else { throw ControlError(.badRequest, "'businessDays' is \(n); it must be from 1 to 366") }
            let zoneName = try args.string("timezone") ?? calendar.timeZone
            guard let zone = ZonedTime(identifier: zoneName) else { throw ControlError(.badRequest, "'timezone' is \"\(zoneName)\", not an IANA time zone") }
            let cutoff = try args.string("cutoff").map { raw -> Int in
                guard let m = parseClockTime(raw) else { throw ControlError(.badRequest, "'cutoff' is \"\(raw)\"; it must be HH:MM") }
                return m
            } ?? policy.cutoffMinutes
            return try JSONValue.from(try calendar.deadline(notifiedAt: Self.seconds(from), businessDays: Int(n), zone: zone, cutoffMinutes: cutoff))
        } catch let error as CalendarError {
            throw ControlError(.badRequest, error.description)
        }
    }
}
