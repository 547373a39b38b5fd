import BusinessCalendar
import Foundation
import GRDB
import Synchronization
import Testing
@testable import DisputeStore
@testable import DisputeWorkflow

/// A dispute's timeline, timers and notices are found through the sequence
/// number it gets when first stored (migration 0003).
@Suite struct DisputeSequenceTests {
    static let sweden: BusinessCalendar = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("config/calendars/SE.toml").path
        return BusinessCalendar(try! CalendarLoader.parse(text: try! String(contentsOfFile: path, encoding: .utf8), file: path))
    }()
    static let merchant = Merchant(id: "M1", legalName: "Åsa AB", email: "a@example.se", country: "SE", timeZone: "Europe/Stockholm", locale: "sv")

    static func opened(_ id: String) throws -> Dispute {
        let sek = Currency(code: "SEK")!
        return try DisputeWorkflow.open(
            OpenRequest(id: id, orderReference: "O-\(id)", orderAmount: Money(decimal: "899.00", currency: sek)!,
                        disputedAmount: Money(decimal: "499.00", currency: sek)!, reason: .faulty),
            merchant: merchant, now: 1_799_658_000, policy: DisputePolicy(), calendar: sweden).dispute
    }

    static func batch(_ d: Dispute, now: Int64, event: String, withMerchant: Bool = false) -> CommitBatch {
        var batch = CommitBatch()
        batch.now = now
        if withMerchant { batch.merchants = [merchant] }
        batch.disputes = [d]
        batch.timeline = [(d.id, TimelineEntry(at: now, event: event, detail: "\(d.id) \(event)"))]
        batch.newTimers = [(d.id, TimerRequest(kind: .responseDeadline, instant: now + 86400))]
        batch.notices = [(d.id, .disputeOpened, .email, ["disputeId": d.id])]
        return batch
    }

    /// A new store migrated up to `migration` only, holding merchant M1 and
    /// what `fill` writes: the store an older version left behind.
    static func storeOfSchema(_ migration: String, _ fill: (Database) throws -> Void) throws -> String {
        let path = DisputeStoreTests.temporaryPath()
        let queue = try DatabaseQueue(path: path)
        try DisputeStore.migrator.migrate(queue, upTo: migration)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO merchants (id, body, updated_at) VALUES ('M1', '{}', 1)")
            try fill(db)
        }
        return path
    }

    static func sequence(of id: String, in store: DisputeStore) throws -> Int64? {
        try store.pool.read { db in try Int64.fetchOne(db, sql: "SELECT seq FROM disputes WHERE id = ?", arguments: [id]) }
    }

    @Test func newDisputesTakeTheNextSequenceAndUpdatesKeepTheirs() async throws {
        let store = try DisputeStore(path: DisputeStoreTests.temporaryPath())
        let a = try Self.opened("D-a"), b = try Self.opened("D-b")
        _ = try await store.commit(group: [Self.batch(a, now: 100, event: "opened", withMerchant: true), Self.batch(b, now: 100, event: "opened")])
        #expect(try Self.sequence(of: "D-a", in: store) == 1)
        #expect(try Self.sequence(of: "D-b", in: store) == 2)
        // An update of D-a (a second notice, timer and timeline entry) keeps its number.
        _ = try await store.commit(group: [Self.batch(a, now: 200, event: "changed")])
        #expect(try Self.sequence(of: "D-a", in: store) == 1)
        #expect(try store.timeline(of: "D-a").map(\.event) == ["opened", "changed"])
        #expect(try store.timers(of: "D-a").count == 2)
        #expect(try store.notices(of: "D-a").map(\.id) == ["D-a.1.disputeOpened", "D-a.2.disputeOpened"])
        #expect(try store.timeline(of: "D-b").map(\.event) == ["opened"])
        #expect(try store.notices(of: "D-b").map(\.id) == ["D-b.1.disputeOpened"])
    }

    @Test func storedDisputesReadBackAsStoredAndAnUnreadableBodyIsNamedByItsRow() async throws {
        let store = try DisputeStore(path: DisputeStoreTests.temporaryPath())
        let a = try Self.opened("D-a"), b = try Self.opened("D-b")
        _ = try await store.commit(group: [Self.batch(a, now: 100, event: "opened", withMerchant: true), Self.batch(b, now: 100, event: "opened")])
        #expect(try store.dispute("D-a") == a)
        #expect(try store.disputes() == [a, b])
        // A body this version cannot read (written by hand): every read names the row and the problem.
        try await store.pool.write { db in try db.execute(sql: "UPDATE disputes SET body = replace(body, '\"stage\":\"awaitingMerchant\"', '\"stage\":\"lost\"') WHERE id = 'D-b'") }
        for read in [{ _ = try store.dispute("D-b") }, { _ = try store.disputes() }] {
            let error = #expect(throws: UnreadableRow.self) { try read() }
            #expect(error?.description.hasPrefix("disputes row 'D-b' cannot be read: 'lost' is not a DisputeStage at byte ") == true, "\(String(describing: error))")
        }
        #expect(try store.dispute("D-a") == a)
    }

    @Test func rowsOfADisputeThatWasNeverStoredAreRefusedAndNothingIsWritten() async throws {
        let store = try DisputeStore(path: DisputeStoreTests.temporaryPath())
        var batch = CommitBatch()
        batch.timeline = [("D-ghost", TimelineEntry(at: 1, event: "opened", detail: ""))]
        await #expect(throws: StoreError.self) { _ = try await store.commit(group: [batch]) }
        #expect(try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM timeline") } == 0)
    }

    /// Enqueued group commits are written in call order, each told its
    /// outcome once written; one refused before its transaction writes nothing.
    @Test func enqueuedGroupsAreWrittenInCallOrderAndARefusedOneWritesNothing() async throws {
        let store = try DisputeStore(path: DisputeStoreTests.temporaryPath())
        let order = Mutex<[String]>([])
        struct Refused: Error {}
        let ids = ["D-a", "D-b", "D-c", "D-d"]
        await withTaskGroup(of: Void.self) { tasks in
            for (i, id) in ids.enumerated() {
                let batch = Self.batch(try! Self.opened(id), now: 100, event: "opened", withMerchant: i == 0)
                let done = AsyncStream<Void>.makeStream()
                store.enqueueCommit(group: [batch], refusal: { id == "D-c" ? Refused() : nil }) { result in
                    order.withLock { $0.append("\(id) \((try? result.get()) == nil ? "refused" : "written")") }
                    done.continuation.finish()
                }
                tasks.addTask { for await _ in done.stream {} }
            }
        }
        #expect(order.withLock { $0 } == ["D-a written", "D-b written", "D-c refused", "D-d written"])
        #expect(try Self.sequence(of: "D-b", in: store) == 2)
        #expect(try Self.sequence(of: "D-c", in: store) == nil)
        #expect(try Self.sequence(of: "D-d", in: store) == 3)
        #expect(try store.timeline(of: "D-c").isEmpty)
    }

    @Test func aDisputesRowsAreReadThroughTheSequenceIndexes() throws {
        let store = try DisputeStore(path: DisputeStoreTests.temporaryPath())
        let plans = try store.pool.read { db in
            try ["timeline": "SELECT at FROM timeline WHERE dispute_seq = (SELECT seq FROM disputes WHERE id = 'x') ORDER BY id",
                 "timers": "SELECT * FROM timers WHERE dispute_seq = (SELECT seq FROM disputes WHERE id = 'x') ORDER BY id",
                 "outbox": "SELECT * FROM outbox WHERE dispute_seq = (SELECT seq FROM disputes WHERE id = 'x')"]
                .mapValues { sql in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String }.joined(separator: "; ") }
        }
        #expect(plans["timeline"]!.contains("USING INDEX timeline_dispute"), "\(plans["timeline"]!)")
        #expect(plans["timers"]!.contains("USING INDEX timers_dispute"), "\(plans["timers"]!)")
        #expect(plans["outbox"]!.contains("USING INDEX outbox_dispute"), "\(plans["outbox"]!)")
    }

    /// A store written by the previous schema: after the upgrade every dispute
    /// has a sequence number and all its rows are found through it.
    @Test func upgradingAStoreKeepsEveryRowOfEveryDisputeReachable() throws {
        let path = try Self.storeOfSchema("0002-disputes") { db in
            for d in ["D-b", "D-a"] {
                try db.execute(sql: "INSERT INTO disputes (id, merchant_id, order_reference, stage, body, opened_at, updated_at) VALUES (?, 'M1', ?, 'awaitingMerchant', '{}', 1, 1)",
                               arguments: [d, "O-" + d])
                for event in ["opened", "notified"] {
                    try db.execute(sql: "INSERT INTO timeline (dispute_id, at, event, detail) VALUES (?, 1, ?, '')", arguments: [d, event])
                }
                try db.execute(sql: "INSERT INTO timers (dispute_id, kind, due_at, state) VALUES (?, 'responseDeadline', 99, 'pending')", arguments: [d])
                try db.execute(sql: "INSERT INTO outbox (id, dispute_id, kind, channel, state, context, created_at) VALUES (?, ?, 'disputeOpened', 'email', 'pending', '{}', 1)",
                               arguments: [d + ".1.disputeOpened", d])
            }
        }
        let store = try DisputeStore(path: path)
        #expect(try store.schemaVersion() == "0007-closed-retention")
        #expect(Set([try Self.sequence(of: "D-a", in: store), try Self.sequence(of: "D-b", in: store)]) == [1, 2])
        for d in ["D-a", "D-b"] {
            #expect(try store.timeline(of: d).map(\.event) == ["opened", "notified"])
            #expect(try store.timers(of: d).map(\.disputeID) == [d])
            #expect(try store.notices(of: d).map(\.id) == [d + ".1.disputeOpened"])
        }
        #expect(try store.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM timeline WHERE dispute_seq IS NULL) + (SELECT COUNT(*) FROM timers WHERE dispute_seq IS NULL) + (SELECT COUNT(*) FROM outbox WHERE dispute_seq IS NULL)")
        } == 0)
    }
}

/// Schema 0005: the outbox is indexed by dispute, then notice id, instead of by
/// the notice id alone.
@Suite struct OutboxByDisputeTests {
    /// A store of schema 0004 keeps every notice, its rowid (the spooler's
    /// order) and its state; notice ids stay unique; marking a notice spooled
    /// finds it through its dispute.
    @Test func upgradingKeepsEveryNoticeInOrderAndIdsStayUnique() throws {
        let path = try DisputeSequenceTests.storeOfSchema("0004-next-deadline") { db in
            for (seq, d) in ["D-b", "D-a"].enumerated() {
                try db.execute(sql: "INSERT INTO disputes (id, merchant_id, order_reference, stage, body, opened_at, updated_at, seq) VALUES (?, 'M1', ?, 'awaitingMerchant', '{}', 1, 1, ?)",
                               arguments: [d, "O-" + d, seq + 1])
            }
            // Rowids out of the id order, and one notice already spooled.
            for (rowid, d, n, state) in [(7, "D-a", 1, "pending"), (3, "D-b", 1, "spooled"), (9, "D-b", 2, "pending")] {
                try db.execute(sql: "INSERT INTO outbox (rowid, id, dispute_id, dispute_seq, kind, channel, state, context, created_at) VALUES (?, ?, ?, (SELECT seq FROM disputes WHERE id = ?), 'disputeOpened', 'email', ?, '{}', 1)",
                               arguments: [rowid, "\(d).\(n).disputeOpened", d, d, state])
            }
        }
        let store = try DisputeStore(path: path)
        #expect(try store.schemaVersion() == "0007-closed-retention")
        let rows = try store.pool.read { db in try Row.fetchAll(db, sql: "SELECT rowid, id, state FROM outbox ORDER BY rowid") }
        #expect(rows.map { "\($0[0] as Int64) \($0[1] as String) \($0[2] as String)" }
                == ["3 D-b.1.disputeOpened spooled", "7 D-a.1.disputeOpened pending", "9 D-b.2.disputeOpened pending"])
        #expect(try store.pendingNotices().notices.map(\.id) == ["D-a.1.disputeOpened", "D-b.2.disputeOpened"])
        // The same notice id twice for one dispute is refused, as the primary key refused it.
        #expect(throws: DatabaseError.self) {
            try store.pool.write { db in
                try db.execute(sql: "INSERT INTO outbox (id, dispute_id, dispute_seq, kind, channel, state, context, created_at) VALUES ('D-a.1.disputeOpened', 'D-a', 2, 'disputeOpened', 'email', 'pending', '{}', 2)")
            }
        }
        let pending = try store.pendingNotices().notices
        try store.markSpooled(pending.filter { $0.disputeID == "D-b" }, at: 50)
        #expect(try store.pendingNotices().notices.map(\.id) == ["D-a.1.disputeOpened"])
        #expect(try store.notices(of: "D-b").map { "\($0.id) \($0.state) \($0.doneAt.map(String.init) ?? "-")" }
                == ["D-b.1.disputeOpened spooled -", "D-b.2.disputeOpened spooled 50"])
        // Marking looks the notice up through its dispute's index, not by scanning the outbox.
        let plan = try store.pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN UPDATE outbox SET state = 'spooled' WHERE dispute_seq = (SELECT seq FROM disputes WHERE id = 'D-a') AND id = 'D-a.1.disputeOpened'")
                .map { $0["detail"] as String }.joined(separator: "; ")
        }
        #expect(plan.contains("USING INDEX outbox_dispute (dispute_seq=? AND id=?)"), "\(plan)")
    }
}

/// Rows holding a value this version does not know are errors naming the row,
/// never read as some other notice or timer.
@Suite struct UnreadableRowTests {
    @Test func anUnknownNoticeKindIsReportedApartAndTheOtherNoticesAreStillRead() async throws {
        let store = try DisputeStore(path: DisputeStoreTests.temporaryPath())
        let a = try DisputeSequenceTests.opened("D-a"), b = try DisputeSequenceTests.opened("D-b")
        _ = try await store.commit(group: [DisputeSequenceTests.batch(a, now: 100, event: "opened", withMerchant: true),
                                           DisputeSequenceTests.batch(b, now: 100, event: "opened")])
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE outbox SET kind = 'fromTheFuture' WHERE id = 'D-a.1.disputeOpened'")
        }
        let (notices, unreadable, _) = try store.pendingNotices()
        #expect(notices.map(\.id) == ["D-b.1.disputeOpened"])
        #expect(unreadable.map(\.description) == ["outbox row 'D-a.1.disputeOpened' cannot be read: unknown notice kind 'fromTheFuture'"])
        // Showing the dispute names the row instead of showing some other notice.
        #expect(throws: UnreadableRow.self) { try store.notices(of: "D-a") }
    }

    @Test func anUnknownTimerKindIsAnErrorNamingTheRow() async throws {
        let store = try DisputeStore(path: DisputeStoreTests.temporaryPath())
        let a = try DisputeSequenceTests.opened("D-a")
        _ = try await store.commit(group: [DisputeSequenceTests.batch(a, now: 100, event: "opened", withMerchant: true)])
        let id = try #require(try store.timers(of: "D-a").first?.id)
        try await store.pool.write { db in try db.execute(sql: "UPDATE timers SET kind = 'fromTheFuture' WHERE id = ?", arguments: [id]) }
        #expect {
            _ = try store.timerWithDispute(id, known: { _ in false })
        } throws: { error in
            "\(error)" == "timers row '\(id)' cannot be read: unknown timer kind 'fromTheFuture'"
        }
    }
}

/// Schema 0006: each timeline line says who made it.
@Suite struct TimelineActorTests {
    /// Lines stored before the upgrade keep their text and have no maker;
    /// lines stored after keep theirs.
    @Test func upgradedLinesHaveNoMakerAndNewLinesKeepTheirs() async throws {
        let path = try DisputeSequenceTests.storeOfSchema("0005-outbox-by-dispute") { db in
            try db.execute(sql: "INSERT INTO disputes (id, merchant_id, order_reference, stage, body, opened_at, updated_at, seq) VALUES ('D-a', 'M1', 'O-a', 'awaitingMerchant', '{}', 1, 1, 1)")
            try db.execute(sql: "INSERT INTO timeline (dispute_id, dispute_seq, at, event, detail) VALUES ('D-a', 1, 1, 'opened', 'before the upgrade')")
        }
        let store = try DisputeStore(path: path)
        #expect(try store.schemaVersion() == "0007-closed-retention")
        #expect(try store.timeline(of: "D-a") == [TimelineEntry(at: 1, event: "opened", detail: "before the upgrade", by: nil)])
        let b = try DisputeSequenceTests.opened("D-b")
        var batch = DisputeSequenceTests.batch(b, now: 100, event: "opened")
        batch.timeline.append((b.id, TimelineEntry(at: 100, event: "deadlineLapsed", detail: "", by: "disputed")))
        batch.timeline[0].entry.by = "alice (uid 1001)"
        _ = try await store.commit(group: [batch])
        #expect(try store.timeline(of: "D-b").map(\.by) == ["alice (uid 1001)", "disputed"])
    }
}

/// Schema 0007: closed disputes stored before the upgrade are found by the
/// retention of closed disputes like those closed after it.
@Suite struct ClosedRetentionUpgradeTests {
    @Test func disputesClosedBeforeTheUpgradeAreRemovedWithTheirRowsAndOpenOnesStay() throws {
        let path = try DisputeSequenceTests.storeOfSchema("0006-timeline-actor") { db in
            for (seq, id, stage) in [(1, "D-closed", "closed"), (2, "D-open", "awaitingMerchant")] {
                try db.execute(sql: "INSERT INTO disputes (id, merchant_id, order_reference, stage, body, opened_at, updated_at, seq) VALUES (?, 'M1', ?, ?, '{}', 1, 10, ?)",
                               arguments: [id, "O-\(id)", stage, seq])
                try db.execute(sql: "INSERT INTO timeline (dispute_id, dispute_seq, at, event, detail) VALUES (?, ?, 1, 'opened', '')", arguments: [id, seq])
                try db.execute(sql: "INSERT INTO timers (dispute_id, dispute_seq, kind, due_at, state) VALUES (?, ?, 'responseDeadline', 99, 'cancelled')", arguments: [id, seq])
                try db.execute(sql: "INSERT INTO outbox (id, dispute_id, dispute_seq, kind, channel, state, context, created_at) VALUES (?, ?, ?, 'disputeOpened', 'email', 'spooled', '{}', 1)",
                               arguments: [id + ".1.disputeOpened", id, seq])
            }
        }
        let store = try DisputeStore(path: path)
        #expect(try store.purgeClosed(closedBefore: 10, limit: 10, at: 50) == 0)   // closed at 10: not before 10
        #expect(try store.purgeClosed(closedBefore: 11, limit: 10, at: 50) == 1)
        let left = try store.pool.read { db in
            try ["id FROM disputes", "dispute_id FROM timeline", "dispute_id FROM timers", "dispute_id FROM outbox"].map {
                try String.fetchAll(db, sql: "SELECT DISTINCT \($0)")
            }
        }
        #expect(left == [["D-open"], ["D-open"], ["D-open"], ["D-open"]])
        // Removed without foreign key checks (a scan per dispute): none is left dangling, and the checks are back on.
        #expect(try store.pool.read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") }.isEmpty)
        #expect(try store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA foreign_keys") } == 1)
        #expect(try store.purgedAt("D-closed") == 50)
        #expect(try store.disputeExists("D-closed"))
        #expect(try store.lookUp(requestIDs: [], disputeIDs: ["D-closed", "D-new"]).disputes == ["D-closed"])
        #expect(try store.counts().removed == (1, 50))
    }
}
