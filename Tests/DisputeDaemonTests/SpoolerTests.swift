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
    /// A store and a dispatcher in a fresh directory, the real templates of the repository.
    private func fixture() throws -> (DisputeStore, NoticeDispatcher, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spooler-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try DisputeStore(path: directory + "/disputed.sqlite")
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dispatcher = NoticeDispatcher(
            writer: SpoolWriter(directory: directory + "/spool"),
            templates: try NoticeTemplates.load(directory: repository.appendingPathComponent("Notifications").path, overrideDirectory: nil),
            from: try MailAddress(parsing: "Disputes <disputes@test.invalid>", field: "spool.from"), domain: "test.invalid")
        try dispatcher.writer.prepare()
        return (store, dispatcher, directory)
    }

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
            batch.disputes = [try Self.dispute(id, merchant: merchant)]
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

    static func dispute(_ id: String, merchant: Merchant) throws -> Dispute {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("config/calendars/SE.toml").path
        let sweden = BusinessCalendar(try CalendarLoader.parse(text: try String(contentsOfFile: path, encoding: .utf8), file: path))
        let sek = Currency(code: "SEK")!
        return try DisputeWorkflow.open(
            OpenRequest(id: id, orderReference: "O-\(id)", orderAmount: Money(decimal: "899.00", currency: sek)!,
                        disputedAmount: Money(decimal: "499.00", currency: sek)!, reason: .faulty),
            merchant: merchant, now: 1_799_658_000, policy: DisputePolicy(), calendar: sweden).dispute
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
