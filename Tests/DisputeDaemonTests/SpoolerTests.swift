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
