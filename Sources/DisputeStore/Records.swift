import DisputeWorkflow
import Foundation
import GRDB

/// A timer row: the truth behind an entry of the daemon's timer wheel.
public struct StoredTimer: Sendable, Equatable, Codable {
    public var id: Int64
    public var disputeID: String
    public var kind: TimerKind
    public var dueAt: Int64
    public var state: String
    public var firedAt: Int64?
}

/// A notice of the outbox. Its id is stable for its whole life: the spool file
/// name and the Message-ID derive from it.
public struct StoredNotice: Sendable, Equatable, Codable {
    public var id: String
    public var disputeID: String
    public var kind: NoticeKind
    public var channel: NoticeChannel
    public var state: String
    public var createdAt: Int64
    public var doneAt: Int64?
    /// The template values, fixed when the notice was created.
    public var context: [String: String]
}

/// An order as the merchant knows it: order references are the merchants'
/// own, so two merchants may each have an order 1001.
public struct OrderKey: Hashable, Sendable {
    public var merchantID: String
    public var order: String

    public init(merchantID: String, order: String) {
        self.merchantID = merchantID
        self.order = order
    }
}

/// A write request already answered, for idempotency.
public struct RequestRecord: Sendable, Equatable {
    public var op: String
    public var fingerprint: String
    public var response: String

    public init(op: String, fingerprint: String, response: String) {
        self.op = op
        self.fingerprint = fingerprint
        self.response = response
    }
}

/// Everything one command or one fired timer changes, written in one transaction.
public struct CommitBatch: Sendable {
    public var merchants: [Merchant] = []
    public var disputes: [Dispute] = []
    public var timeline: [(disputeID: String, entry: TimelineEntry)] = []
    public var newTimers: [(disputeID: String, request: TimerRequest)] = []
    public var cancelTimers: [(disputeID: String, kinds: [TimerKind])] = []
    public var firedTimer: (id: Int64, at: Int64)?
    public var notices: [(disputeID: String, kind: NoticeKind, channel: NoticeChannel, context: [String: String])] = []
    public var request: (id: String, op: String, fingerprint: String, response: String)?
    /// Request records stored before this instant are forgotten: each batch that
    /// stores one removes up to two of the oldest that are, so the table holds
    /// about the retention window and no more, with no sweep of its own.
    public var requestsExpireBefore: Int64?
    public var now: Int64 = 0
    /// The JSON text of each dispute and of each notice's context, made by
    /// ``encodeBodies()`` before the batch reaches the store, so that encoding
    /// runs beside the commit in flight instead of inside the write lock.
    public private(set) var disputeBodies: [String] = []
    public private(set) var noticeContexts: [String] = []

    public init() {}

    /// Encodes the bodies now, with the caller's JSON encoder (the store's own
    /// encoder, Foundation's, is the default and the fallback).
    public mutating func encodeBodies(dispute: ((Dispute) throws -> String)? = nil,
                                      context: (([String: String]) throws -> String)? = nil) throws {
        disputeBodies = try disputes.map { try dispute?($0) ?? DisputeStore.encode($0) }
        noticeContexts = try notices.map { try context?($0.context) ?? DisputeStore.encode($0.context) }
    }
}

/// What a commit created and removed, for the in-memory index.
public struct CommitResult: Sendable {
    public var insertedTimers: [StoredTimer] = []
    public var cancelledTimerIDs: [Int64] = []
    public var notices: [StoredNotice] = []
}

extension DisputeStore {
    static let json: (JSONEncoder, JSONDecoder) = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (e, JSONDecoder())
    }()

    static func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try json.0.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try json.1.decode(type, from: Data(text.utf8))
    }

    /// Writes a batch in one transaction: state, timeline, timers, outbox and
    /// the idempotency record agree, or nothing is written.
    public func commit(_ batch: CommitBatch) throws -> CommitResult {
        defer { checkpointer.committed() }
        return try pool.write { db in try Self.write(batch, into: db) }
    }

    /// Several batches in order, in one transaction, waiting for it (the engine
    /// fires due timers this way). Either all of them are stored or none.
    public func commit(batches: [CommitBatch]) throws -> [CommitResult] {
        defer { checkpointer.committed() }
        return try pool.write { db in try batches.map { try Self.write($0, into: db) } }
    }

    /// Group commit, waited for: the batches apply in order, in one
    /// transaction (one fsync), after every commit enqueued before.
    /// Either all of them are stored or none.
    public func commit(group batches: [CommitBatch]) async throws -> [CommitResult] {
        try await withCheckedThrowingContinuation { continuation in
            enqueueCommit(group: batches, refusal: { nil }) { continuation.resume(with: $0) }
        }
    }

    /// Group commit without waiting: the batches are written in one
    /// transaction on the store's writer after every commit enqueued before
    /// this call (in call order, with no hop between one and the next), and
    /// `completion` is told the outcome on the writer's thread once the
    /// transaction is durable or failed. Either all of them are stored or none.
    ///
    /// `refusal` is asked on the writer right before the transaction: an error
    /// from it refuses the group without writing anything (the group was built
    /// on top of one whose commit failed).
    public func enqueueCommit(group batches: [CommitBatch], refusal: @escaping @Sendable () -> (any Error)?,
                              completion: @escaping @Sendable (Result<[CommitResult], any Error>) -> Void) {
        let checkpointer = self.checkpointer
        pool.asyncWriteWithoutTransaction { db in
            if let refusal = refusal() {
                completion(.failure(refusal))
                return
            }
            let outcome = Result { () throws -> [CommitResult] in
                var results: [CommitResult] = []
                try db.inTransaction {
                    results = try batches.map { try Self.write($0, into: db) }
                    return .commit
                }
                return results
            }
            checkpointer.committed()
            completion(outcome)
        }
    }

    /// The sequence numbers of the disputes a batch touches, read once each.
    /// Rows of a dispute are written after the dispute itself, so a dispute
    /// without one is a bug, refused rather than stored unreachable.
    struct DisputeSequences {
        let db: Database
        var known: [String: Int64] = [:]

        init(db: Database) { self.db = db }

        mutating func of(_ disputeID: String) throws -> Int64 {
            if let seq = known[disputeID] { return seq }
            guard let seq = try Int64.fetchOne(db.cachedStatement(sql: "SELECT seq FROM disputes WHERE id = ?"), arguments: [disputeID]) else {
                throw StoreError(path: db.description, message: "dispute \(disputeID) is not stored; its rows cannot be written")
            }
            known[disputeID] = seq
            return seq
        }
    }

    static func write(_ batch: CommitBatch, into db: Database) throws -> CommitResult {
        var result = CommitResult()
        for m in batch.merchants {
            try db.cachedStatement(sql: "INSERT INTO merchants (id, body, updated_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at").execute(arguments: [m.id, try Self.encode(m), batch.now])
        }
        let bodies = batch.disputeBodies.count == batch.disputes.count ? batch.disputeBodies : try batch.disputes.map(Self.encode)
        var sequences = DisputeSequences(db: db)
        for (d, body) in zip(batch.disputes, bodies) {
            let next = d.stage == .closed ? nil : d.deadlines.last?.instant
            // A new dispute takes the next sequence number; an update keeps its own.
            // Either way the row answers with it, for the rows written after it.
            let seq = try Int64.fetchOne(db.cachedStatement(sql: """
                INSERT INTO disputes (id, merchant_id, order_reference, stage, next_deadline, body, opened_at, updated_at, seq)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM disputes))
                ON CONFLICT(id) DO UPDATE SET stage = excluded.stage, next_deadline = excluded.next_deadline,
                    body = excluded.body, updated_at = excluded.updated_at
                RETURNING seq
                """), arguments: [d.id, d.merchantID, d.orderReference, d.stage.rawValue, next, body, d.openedAt, batch.now])
            if let seq { sequences.known[d.id] = seq }
        }
        for (id, entry) in batch.timeline {
            try db.cachedStatement(sql: "INSERT INTO timeline (dispute_id, dispute_seq, at, event, detail, actor) VALUES (?, ?, ?, ?, ?, ?)")
                .execute(arguments: [id, try sequences.of(id), entry.at, entry.event, entry.detail, entry.by])
        }
        if let fired = batch.firedTimer {
            try db.cachedStatement(sql: "UPDATE timers SET state = 'fired', fired_at = ? WHERE id = ? AND state = 'pending'").execute(arguments: [fired.at, fired.id])
        }
        for (id, kinds) in batch.cancelTimers {
            for kind in kinds {
                let seq = try sequences.of(id)
                let ids = try Int64.fetchAll(db.cachedStatement(sql: "SELECT id FROM timers WHERE dispute_seq = ? AND state = 'pending' AND kind = ?"), arguments: [seq, kind.rawValue])
                try db.cachedStatement(sql: "UPDATE timers SET state = 'cancelled' WHERE dispute_seq = ? AND state = 'pending' AND kind = ?").execute(arguments: [seq, kind.rawValue])
                result.cancelledTimerIDs += ids
            }
        }
        for (id, request) in batch.newTimers {
            try db.cachedStatement(sql: "INSERT INTO timers (dispute_id, dispute_seq, kind, due_at, state) VALUES (?, ?, ?, ?, 'pending')")
                .execute(arguments: [id, try sequences.of(id), request.kind.rawValue, request.instant])
            result.insertedTimers.append(StoredTimer(id: db.lastInsertedRowID, disputeID: id, kind: request.kind,
                                                     dueAt: request.instant, state: "pending", firedAt: nil))
        }
        let contexts = batch.noticeContexts.count == batch.notices.count ? batch.noticeContexts : try batch.notices.map { try Self.encode($0.context) }
        for ((id, kind, channel, context), contextText) in zip(batch.notices, contexts) {
            let seq = try sequences.of(id)
            let n = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM outbox WHERE dispute_seq = ?"), arguments: [seq]) ?? 0
            // Stable for the notice's life: the spool file is <id>.eml and the Message-ID <id@domain>.
            let noticeID = "\(id).\(n + 1).\(kind.rawValue)"
            let state = channel == .portal ? "portal" : "pending"
            try db.cachedStatement(sql: "INSERT INTO outbox (id, dispute_id, dispute_seq, kind, channel, state, context, created_at, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .execute(arguments: [noticeID, id, seq, kind.rawValue, channel.rawValue, state, contextText, batch.now, channel == .portal ? batch.now : nil])
            result.notices.append(StoredNotice(id: noticeID, disputeID: id, kind: kind, channel: channel, state: state,
                                               createdAt: batch.now, doneAt: channel == .portal ? batch.now : nil, context: context))
        }
        if let r = batch.request {
            try db.cachedStatement(sql: "INSERT INTO requests (id, op, fingerprint, response, at) VALUES (?, ?, ?, ?, ?)").execute(arguments: [r.id, r.op, r.fingerprint, r.response, batch.now])
            if let expireBefore = batch.requestsExpireBefore {
                // Only the two oldest rows are looked at (rowids grow with time), so
                // this costs the same on a table of any size.
                try db.cachedStatement(sql: """
                    DELETE FROM requests WHERE rowid IN (SELECT rowid FROM requests ORDER BY rowid LIMIT 2) AND at < ?
                    """).execute(arguments: [expireBefore])
            }
        }
        return result
    }

    public func merchant(_ id: String) throws -> Merchant? {
        try pool.read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT body FROM merchants WHERE id = ?"), arguments: [id]).map { try Self.decode(Merchant.self, $0) }
        }
    }

    /// The merchant of each of these disputes, in one read transaction, each
    /// merchant decoded once (the spooler asks this for a backlog of notices).
    /// A dispute without a stored merchant is missing from the answer.
    public func merchants(ofDisputes disputeIDs: some Sequence<String>) throws -> [String: Merchant] {
        try pool.read { db in
            let merchantOf = try db.cachedStatement(sql: "SELECT merchant_id FROM disputes WHERE id = ?")
            let body = try db.cachedStatement(sql: "SELECT body FROM merchants WHERE id = ?")
            var byID: [String: Merchant] = [:]
            var answer: [String: Merchant] = [:]
            for disputeID in Set(disputeIDs) {
                guard let merchantID = try String.fetchOne(merchantOf, arguments: [disputeID]) else { continue }
                if let known = byID[merchantID] {
                    answer[disputeID] = known
                } else if let text = try String.fetchOne(body, arguments: [merchantID]) {
                    let merchant = try Self.decode(Merchant.self, text)
                    byID[merchantID] = merchant
                    answer[disputeID] = merchant
                }
            }
            return answer
        }
    }

    /// The first `limit` merchants in id order after the id `after` (from the first without it).
    public func merchants(after: String?, limit: Int) throws -> [Merchant] {
        try pool.read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT body FROM merchants WHERE id > ? ORDER BY id LIMIT ?"),
                                arguments: [after ?? "", limit]).map { try Self.decode(Merchant.self, $0) }
        }
    }

    public func dispute(_ id: String) throws -> Dispute? {
        try pool.read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT body FROM disputes WHERE id = ?"), arguments: [id]).map { try Self.dispute(id, body: $0) }
        }
    }

    /// Whether a dispute with this id is stored, or was and has been removed
    /// (``purgeClosed(closedBefore:limit:at:)``): either way the id is taken.
    public func disputeExists(_ id: String) throws -> Bool {
        try pool.read { db in try Bool.fetchOne(db.cachedStatement(sql: Self.idTakenSQL), arguments: [id, id]) ?? false }
    }

    static let idTakenSQL = "SELECT 1 FROM disputes WHERE id = ? UNION ALL SELECT 1 FROM purged_disputes WHERE id = ?"

    /// When the dispute with this id was removed by the retention of closed
    /// disputes, if it was.
    public func purgedAt(_ id: String) throws -> Int64? {
        try pool.read { db in try Int64.fetchOne(db.cachedStatement(sql: "SELECT purged_at FROM purged_disputes WHERE id = ?"), arguments: [id]) }
    }

    /// Removes up to `limit` disputes that closed before `closedBefore`, oldest
    /// first, with their timeline, timers and notices, in one transaction;
    /// returns how many. A dispute with a notice not yet spooled stays until it
    /// is. Each removed id is kept (with `at`) so that it is never used again.
    public func purgeClosed(closedBefore: Int64, limit: Int, at now: Int64) throws -> Int {
        defer { checkpointer.committed() }
        // The rows of a dispute go first, so no reference is left dangling; with
        // foreign keys checked, each dispute's delete would also look for rows
        // naming its text id, and those columns have no index (the rows are
        // found by sequence number): a scan of three tables per dispute.
        return try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            defer { try? db.execute(sql: "PRAGMA foreign_keys = ON") }
            var removed = 0
            try db.inTransaction {
                removed = try Self.purgeClosed(db, closedBefore: closedBefore, limit: limit, at: now)
                return .commit
            }
            return removed
        }
    }

    static func purgeClosed(_ db: Database, closedBefore: Int64, limit: Int, at now: Int64) throws -> Int {
        let rows = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT seq, id FROM disputes INDEXED BY disputes_closed
            WHERE stage = 'closed' AND updated_at < ?
              AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.dispute_seq = disputes.seq AND outbox.state = 'pending')
            ORDER BY updated_at LIMIT ?
            """), arguments: [closedBefore, limit])
        for row in rows {
            let seq: Int64 = row["seq"]
            for table in ["timeline", "timers", "outbox"] {
                try db.cachedStatement(sql: "DELETE FROM \(table) WHERE dispute_seq = ?").execute(arguments: [seq])
            }
            try db.cachedStatement(sql: "DELETE FROM disputes WHERE seq = ?").execute(arguments: [seq])
            try db.cachedStatement(sql: "INSERT INTO purged_disputes (id, purged_at) VALUES (?, ?)").execute(arguments: [row["id"] as String, now])
        }
        if !rows.isEmpty {
            try db.execute(sql: """
                INSERT INTO meta (key, value) VALUES ('purgedDisputes', ?)
                ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + excluded.value
                """, arguments: [rows.count])
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('lastPurgeAt', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           arguments: [now])
        }
        return rows.count
    }

    /// How many closed disputes retention has removed, and when it last did
    /// (part of ``counts()``): kept in `meta` by each removal rather than
    /// counted, as `purged_disputes` only grows.
    static func purgeSummary(_ db: Database) throws -> (count: Int, lastAt: Int64?) {
        let count = try Int.fetchOne(db, sql: "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'purgedDisputes'") ?? 0
        let last = try Int64.fetchOne(db, sql: "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'lastPurgeAt'")
        return (count, last)
    }

    /// Disputes matching every filter given, the first `limit` of them in the
    /// order they were opened, or by their next deadline (soonest first; the
    /// same instant in open order).
    ///
    /// Open order is rowid order (a dispute's row is inserted when it opens and
    /// keeps its rowid), which every index on the table keeps within a key: a
    /// listing by state, merchant or order reads the first `limit` entries of
    /// its index instead of sorting every match (5 ms instead of 1 s for the
    /// first 1,000 of a million open disputes). By deadline, the
    /// `disputes_next_deadline` index does the same (12 ms instead of 2 s).
    public func disputes(stage: DisputeStage? = nil, merchantID: String? = nil, dueBefore: Int64? = nil,
                         orderReference: String? = nil, byDeadline: Bool = false, limit: Int = 1000) throws -> [Dispute] {
        try disputePage(stage: stage, merchantID: merchantID, dueBefore: dueBefore, orderReference: orderReference,
                        byDeadline: byDeadline, after: nil, limit: limit).map(\.dispute)
    }

    /// The listing of ``disputes(stage:merchantID:dueBefore:orderReference:byDeadline:limit:)``
    /// from just after `after`, each dispute with the cursor that continues
    /// after it: a listing read in pages, each from its index where the page
    /// before ended.
    public func disputePage(stage: DisputeStage? = nil, merchantID: String? = nil, dueBefore: Int64? = nil,
                            orderReference: String? = nil, byDeadline: Bool = false, after: ListingCursor?,
                            limit: Int) throws -> [(cursor: ListingCursor, dispute: Dispute)] {
        let (sql, arguments) = Self.listing(stage: stage, merchantID: merchantID, dueBefore: dueBefore,
                                            orderReference: orderReference, byDeadline: byDeadline, after: after, limit: limit)
        return try pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                (ListingCursor(nextDeadline: byDeadline ? row["next_deadline"] : nil, rowid: row["row"]),
                 try Self.dispute(row["id"], body: row["body"]))
            }
        }
    }

    /// A stored dispute body read back; one that cannot be read is named by its id.
    static func dispute(_ id: String, body: String) throws -> Dispute {
        do { return try Dispute(storedJSON: body) } catch { throw UnreadableRow(table: "disputes", id: id, problem: "\(error)") }
    }

    /// The query of ``disputePage(stage:merchantID:dueBefore:orderReference:byDeadline:after:limit:)``.
    static func listing(stage: DisputeStage?, merchantID: String?, dueBefore: Int64?, orderReference: String?,
                        byDeadline: Bool, after: ListingCursor? = nil, limit: Int) -> (sql: String, arguments: StatementArguments) {
        var clauses: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let stage { clauses.append("stage = ?"); arguments.append(stage.rawValue) }
        if let merchantID { clauses.append("merchant_id = ?"); arguments.append(merchantID) }
        if let dueBefore { clauses.append("next_deadline IS NOT NULL AND next_deadline < ?"); arguments.append(dueBefore) }
        if let orderReference { clauses.append("order_reference = ?"); arguments.append(orderReference) }
        func whereSQL(_ more: String...) -> String {
            let all = clauses + more
            return all.isEmpty ? "" : "WHERE " + all.joined(separator: " AND ")
        }
        let columns = "rowid AS row, id, body, next_deadline"
        guard let after else {
            return ("SELECT \(columns) FROM disputes \(whereSQL()) ORDER BY \(byDeadline ? "next_deadline, rowid" : "rowid") LIMIT ?",
                    StatementArguments(arguments + [limit]))
        }
        guard byDeadline else {
            return ("SELECT \(columns) FROM disputes \(whereSQL("rowid > ?")) ORDER BY rowid LIMIT ?",
                    StatementArguments(arguments + [after.rowid, limit]))
        }
        // After a cursor in deadline order: the rest of its instant, then every later one.
        // Two ranges of the index merged, each begun where it should: written as one
        // condition (with OR, or as a row value), SQLite started at the cursor's
        // instant and stepped over every dispute of that instant before it (27 ms a
        // page deep into 100,000 disputes sharing one instant, instead of 0.02).
        // A cursor without a deadline continues after every dated dispute.
        let deadline = after.nextDeadline ?? Int64.max
        return ("""
            SELECT * FROM (SELECT \(columns) FROM disputes \(whereSQL("next_deadline = ?", "rowid > ?"))
                           UNION ALL SELECT \(columns) FROM disputes \(whereSQL("next_deadline > ?")))
            ORDER BY next_deadline, row LIMIT ?
            """, StatementArguments(arguments + [deadline, after.rowid] + arguments + [deadline, limit]))
    }

    /// Dispute ids that resemble `id`, for "did you mean" hints.
    public func disputeIDs(like id: String) throws -> [String] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM disputes WHERE id LIKE ? ORDER BY id LIMIT 3", arguments: ["%\(id)%"])
        }
    }

    public func timeline(of disputeID: String) throws -> [TimelineEntry] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT at, event, detail, actor FROM timeline WHERE dispute_seq = (SELECT seq FROM disputes WHERE id = ?) ORDER BY id",
                             arguments: [disputeID])
                .map { TimelineEntry(at: $0["at"], event: $0["event"], detail: $0["detail"], by: $0["actor"]) }
        }
    }

    public func notices(of disputeID: String) throws -> [StoredNotice] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM outbox WHERE dispute_seq = (SELECT seq FROM disputes WHERE id = ?) ORDER BY created_at, id",
                             arguments: [disputeID]).map(Self.notice)
        }
    }

    /// The notices not spooled yet, in the order they were committed, one page at a time:
    /// at most `limit` of those after `cursor` (0 for the first page, then the
    /// `next` of the page before; nil when this page was the last). Paged so
    /// that a backlog of any size (a spool down for days) is read a page at a
    /// time, not all into memory at once; by rowid, which the `outbox_pending`
    /// index holds in order, so no page sorts the backlog. Rows this version
    /// cannot read are returned apart, each with what is wrong with it, so
    /// that one damaged row does not hold back every other merchant's notice.
    public func pendingNotices(after cursor: Int64 = 0, limit: Int = 1024) throws
        -> (notices: [StoredNotice], unreadable: [UnreadableRow], next: Int64?) {
        try pool.read { db in
            var notices: [StoredNotice] = []
            var unreadable: [UnreadableRow] = []
            var last: Int64 = cursor
            let rows = try Row.fetchAll(db, sql: "SELECT rowid AS page_key, * FROM outbox WHERE state = 'pending' AND rowid > ? ORDER BY rowid LIMIT ?",
                                        arguments: [cursor, limit])
            for row in rows {
                last = row["page_key"]
                do { notices.append(try Self.notice(row)) } catch let error as UnreadableRow { unreadable.append(error) }
            }
            return (notices, unreadable, rows.count == limit ? last : nil)
        }
    }

    /// How many e-mail notices wait to be spooled (from the `outbox_pending` index).
    public func pendingNoticeCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE state = 'pending'") ?? 0 }
    }

    /// A stored notice; a kind, channel or context this version does not know is
    /// an error naming the row, never read as some other notice.
    static func notice(_ row: Row) throws -> StoredNotice {
        let id: String = row["id"]
        func unreadable(_ problem: String) -> UnreadableRow { UnreadableRow(table: "outbox", id: id, problem: problem) }
        let kindText: String = row["kind"]
        guard let kind = NoticeKind(rawValue: kindText) else { throw unreadable("unknown notice kind '\(kindText)'") }
        let channelText: String = row["channel"]
        guard let channel = NoticeChannel(rawValue: channelText) else { throw unreadable("unknown channel '\(channelText)'") }
        let context: [String: String]
        do {
            context = try decode([String: String].self, row["context"] ?? "{}")
        } catch {
            throw unreadable("its context is not a JSON object of strings")
        }
        return StoredNotice(id: id, disputeID: row["dispute_id"], kind: kind, channel: channel, state: row["state"],
                            createdAt: row["created_at"], doneAt: row["done_at"], context: context)
    }

    /// A stored timer; a kind this version does not know is an error naming the
    /// row, never fired as some other timer.
    static func timer(_ row: Row) throws -> StoredTimer {
        let kindText: String = row["kind"]
        guard let kind = TimerKind(rawValue: kindText) else {
            throw UnreadableRow(table: "timers", id: "\(row["id"] as Int64)", problem: "unknown timer kind '\(kindText)'")
        }
        return StoredTimer(id: row["id"], disputeID: row["dispute_id"], kind: kind, dueAt: row["due_at"], state: row["state"],
                           firedAt: row["fired_at"])
    }

    /// Marks notices whose files are durable in the spool, in one transaction.
    public func markSpooled(_ notices: [StoredNotice], at: Int64) throws {
        guard !notices.isEmpty else { return }
        defer { checkpointer.committed() }
        try pool.write { db in
            // Found through the dispute (the outbox is indexed by dispute, then notice id).
            let statement = try db.cachedStatement(sql: """
                UPDATE outbox SET state = 'spooled', done_at = ?
                WHERE dispute_seq = (SELECT seq FROM disputes WHERE id = ?) AND id = ? AND state = 'pending'
                """)
            for notice in notices { try statement.execute(arguments: [at, notice.disputeID, notice.id]) }
        }
    }

    /// Id and instant of every pending timer: all the timer wheel needs at start.
    public func pendingTimerInstants() throws -> [(id: Int64, dueAt: Int64)] {
        try pool.read { db in
            var out: [(Int64, Int64)] = []
            let cursor = try Row.fetchCursor(db, sql: "SELECT id, due_at FROM timers WHERE state = 'pending'")
            while let row = try cursor.next() { out.append((row[0], row[1])) }
            return out
        }
    }

    public func timers(of disputeID: String) throws -> [StoredTimer] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM timers WHERE dispute_seq = (SELECT seq FROM disputes WHERE id = ?) ORDER BY id",
                             arguments: [disputeID]).map(Self.timer)
        }
    }

    /// A timer and, unless `known` says its dispute is already at hand, that
    /// dispute, in one read transaction (the engine asks this for each timer it
    /// fires).
    public func timerWithDispute(_ id: Int64, known: (String) -> Bool) throws -> (timer: StoredTimer, dispute: Dispute?)? {
        try pool.read { db in
            guard let timer = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM timers WHERE id = ?"), arguments: [id])
                .map(Self.timer) else { return nil }
            if known(timer.disputeID) { return (timer, nil) }
            let body = try String.fetchOne(db.cachedStatement(sql: "SELECT body FROM disputes WHERE id = ?"), arguments: [timer.disputeID])
            return (timer, try body.map { try Self.dispute(timer.disputeID, body: $0) })
        }
    }


    /// The stored answers among `requestIDs`, which of `disputeIDs` are taken (stored or removed), and
    /// the open disputes of each of `orders` (every order asked about has an
    /// entry, empty when none is open), in one read transaction: the engine
    /// asks this once per batch of requests instead of for each request.
    public func lookUp(requestIDs: [String], disputeIDs: [String], orders: [OrderKey] = [])
        throws -> (requests: [String: RequestRecord], disputes: Set<String>, orders: [OrderKey: [Dispute]]) {
        try pool.read { db in
            var requests: [String: RequestRecord] = [:]
            let requestStatement = try db.cachedStatement(sql: "SELECT op, fingerprint, response FROM requests WHERE id = ?")
            for id in requestIDs {
                if let row = try Row.fetchOne(requestStatement, arguments: [id]) { requests[id] = Self.requestRecord(row) }
            }
            var disputes: Set<String> = []
            let disputeStatement = try db.cachedStatement(sql: Self.idTakenSQL)
            for id in disputeIDs where try Bool.fetchOne(disputeStatement, arguments: [id, id]) ?? false {
                disputes.insert(id)
            }
            var open: [OrderKey: [Dispute]] = [:]
            for key in orders where open[key] == nil { open[key] = try Self.openDisputes(db, key) }
            return (requests, disputes, open)
        }
    }

    /// The disputes of a merchant's order that are not closed, oldest first.
    public func openDisputes(on key: OrderKey) throws -> [Dispute] {
        try pool.read { db in try Self.openDisputes(db, key) }
    }

    static func openDisputes(_ db: Database, _ key: OrderKey) throws -> [Dispute] {
        let statement = try db.cachedStatement(sql: """
            SELECT id, body FROM disputes WHERE order_reference = ? AND merchant_id = ? AND stage != 'closed' ORDER BY rowid
            """)
        return try Row.fetchAll(statement, arguments: [key.order, key.merchantID]).map { row in try Self.dispute(row["id"], body: row["body"]) }
    }

    public func request(_ id: String) throws -> RequestRecord? {
        try pool.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT op, fingerprint, response FROM requests WHERE id = ?"), arguments: [id])
                .map(Self.requestRecord)
        }
    }

    static func requestRecord(_ row: Row) -> RequestRecord {
        RequestRecord(op: row["op"], fingerprint: row["fingerprint"], response: row["response"])
    }

    /// Counts for `status`: disputes per stage, pending timers, pending e-mail
    /// notices and when the oldest of them was committed, and the disputes
    /// retention removed, from one snapshot (a removal moves a dispute from
    /// `closed` to `removed`; read apart, one could be counted twice or not at all).
    public func counts() throws -> StoreCounts {
        try pool.read { db in
            var stages: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT stage, COUNT(*) AS n FROM disputes GROUP BY stage") {
                stages[row["stage"]] = row["n"]
            }
            let timers = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM timers WHERE state = 'pending'") ?? 0
            let notices = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE state = 'pending'")
            let next = try Int64.fetchOne(db, sql: "SELECT MIN(due_at) FROM timers WHERE state = 'pending'")
            return (stages, timers, notices?["n"] ?? 0, notices?["oldest"], next, try Self.purgeSummary(db))
        }
    }
}

/// What ``DisputeStore/counts()`` reads in one snapshot for `status`: disputes
/// per state, pending timers, pending e-mail notices and when the oldest was
/// committed, the next timer due, and the disputes retention removed.
public typealias StoreCounts = (stages: [String: Int], pendingTimers: Int, pendingNotices: Int, oldestPendingNotice: Int64?,
                                nextTimer: Int64?, removed: (count: Int, lastAt: Int64?))
