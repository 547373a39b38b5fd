import BusinessCalendar
import DisputeWorkflow
import Foundation
import GRDB
import Logging
import NoticeSpool
import Testing
@testable import DisputeDaemon
@testable import DisputeStore

@Suite struct SpoolerTests {
    private func fixture() throws -> (DisputeStore, NoticeDispatcher, String) { try storeAndDispatcher() }

    @Test func anEmptyOutboxIsNoFailure() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spooler = Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test"))
        await spooler.drain()
        #expect(await spooler.lastError == nil)
    }

    @Test func anUnreadableOutboxRowIsNamedAndHoldsBackNoOtherNotice() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let merchant = Merchant(id: "M1", legalName: "Åsa AB", email: "a@example.se", country: "SE", timeZone: "Europe/Stockholm", locale: "sv")
        var group: [CommitBatch] = []
        for id in ["D-a", "D-b"] {
            var batch = CommitBatch()
            batch.now = 1_799_658_000
            batch.merchants = [merchant]
            batch.disputes = [try openedDispute(id, merchant: merchant)]
            batch.notices = [(id, .disputeOpened, .email, ["disputeId": id])]
            group.append(batch)
        }
        _ = try await store.commit(group: group)
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE outbox SET kind = 'fromTheFuture' WHERE id = 'D-a.1.disputeOpened'")
        }
        let spooler = Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test"))
        await spooler.drain()
        // D-b's notice went out; D-a's stays pending and is named in the failure.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/spool/new") == ["D-b.1.disputeOpened.eml"])
        #expect(await spooler.lastError == "outbox row 'D-a.1.disputeOpened' cannot be read: unknown notice kind 'fromTheFuture'")
        #expect(try store.pendingNotices().unreadable.map(\.id) == ["D-a.1.disputeOpened"])
    }

    @Test func anOutboxThatCannotBeReadIsAFailureForStatusNotAnEmptyOutbox() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The read fails the way a damaged store would: the table is not there.
        try await store.pool.write { db in try db.execute(sql: "ALTER TABLE outbox RENAME TO outbox_elsewhere") }
        let spooler = Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test"))
        await spooler.drain()
        let error = try #require(await spooler.lastError)
        #expect(error.contains("reading the outbox") && error.contains("no such table"), "\(error)")
        // Readable again: the next pass clears the failure.
        try await store.pool.write { db in try db.execute(sql: "ALTER TABLE outbox_elsewhere RENAME TO outbox") }
        await spooler.drain()
        #expect(await spooler.lastError == nil)
    }
}
