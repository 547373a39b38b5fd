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

    /// Commits the disputes `ids`, each with its opening e-mail notice, then
    /// damages the notice of `unreadable`, if named, by hand (a kind this version does not know).
    private func commitOpenedDisputes(_ ids: [String], unreadable: String? = nil, to store: DisputeStore) async throws {
        let merchant = Merchant(id: "M1", legalName: "Åsa AB", email: "a@example.se", country: "SE", timeZone: "Europe/Stockholm", locale: "sv")
        var group: [CommitBatch] = []
        for id in ids {
            var batch = CommitBatch()
            batch.now = 1_799_658_000
            batch.merchants = [merchant]
            batch.disputes = [try openedDispute(id, merchant: merchant)]
            batch.notices = [(id, .disputeOpened, .email, ["disputeId": id])]
            group.append(batch)
        }
        _ = try await store.commit(group: group)
        guard let unreadable else { return }
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE outbox SET kind = 'fromTheFuture' WHERE id = ?", arguments: ["\(unreadable).1.disputeOpened"])
        }
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
        try await commitOpenedDisputes(["D-a", "D-b"], unreadable: "D-a", to: store)
        let spooler = Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test"))
        await spooler.drain()
        // D-b's notice went out; D-a's stays pending and is named in the failure.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/spool/new") == ["D-b.1.disputeOpened.eml"])
        #expect(await spooler.lastError == "outbox row 'D-a.1.disputeOpened' cannot be read: unknown notice kind 'fromTheFuture'")
        #expect(try store.pendingNotices().unreadable.map(\.id) == ["D-a.1.disputeOpened"])
    }

    @Test func aBacklogOfManyPagesIsWrittenWholeAndOneUnreadableRowInAnEarlyPageHoldsBackNone() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ids = (0..<30).map { String(format: "D-%02d", $0) }
        try await commitOpenedDisputes(ids, unreadable: "D-03", to: store)
        // Pages of 7: the store answers 7 at a time, in commit order, and says where the next page starts.
        let first = try store.pendingNotices(limit: 7)
        #expect(first.notices.map(\.disputeID) == ["D-00", "D-01", "D-02", "D-04", "D-05", "D-06"])
        #expect(first.unreadable.map(\.id) == ["D-03.1.disputeOpened"])
        let second = try store.pendingNotices(after: try #require(first.next), limit: 7)
        #expect(second.notices.map(\.disputeID) == ["D-07", "D-08", "D-09", "D-10", "D-11", "D-12", "D-13"])

        let failure = Spooler.writePending(store: store, dispatcher: dispatcher, logger: Logger(label: "test"), pageSize: 7)
        #expect(failure == "outbox row 'D-03.1.disputeOpened' cannot be read: unknown notice kind 'fromTheFuture'")
        let written = try FileManager.default.contentsOfDirectory(atPath: directory + "/spool/new").sorted()
        #expect(written == ids.filter { $0 != "D-03" }.map { "\($0).1.disputeOpened.eml" })
        let left = try store.pendingNotices()
        #expect(left.notices.isEmpty && left.unreadable.map(\.id) == ["D-03.1.disputeOpened"] && left.next == nil)
    }

    @Test func aSpoolDirectoryRemovedByHandIsMadeAgainAtTheRetry() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await commitOpenedDisputes(["D-a", "D-b"], to: store)
        try FileManager.default.removeItem(atPath: directory + "/spool/new")
        let spooler = Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test"))
        await spooler.drain()
        let error = try #require(await spooler.lastError)
        #expect(error.contains("/spool/new/D-a.1.disputeOpened.eml: No such file or directory"), "\(error)")
        await spooler.drain()
        #expect(await spooler.lastError == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/spool/new").sorted()
                == ["D-a.1.disputeOpened.eml", "D-b.1.disputeOpened.eml"])
    }

    /// While requests are served, a pass runs on the spooler's own thread, 10
    /// nice levels below the rest of the daemon, and writes the same files.
    @Test func aPassInTheBackgroundRunsAtLowerCPUPriorityAndWritesEveryNotice() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await commitOpenedDisputes(["D-a", "D-b"], to: store)
        let spooler = Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test"))
        await spooler.drain(inBackground: true)
        #expect(await spooler.lastError == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/spool/new").sorted()
                == ["D-a.1.disputeOpened.eml", "D-b.1.disputeOpened.eml"])
        let ours = BackgroundThread.currentNice()
        let (theirs, name) = await withCheckedContinuation { continuation in
            spooler.background.async {
                continuation.resume(returning: (BackgroundThread.currentNice(), try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)))
            }
        }
        #expect(theirs == min(19, ours + BackgroundThread.niceIncrement))
        #expect(name == "disputed-spool\n")   // as top -H shows it
        #expect(ours < 19)   // the test itself must leave room to see the difference
    }

    @Test func aPassAskedToStopEndsAtTheNextBatchAndLeavesTheRestPending() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await commitOpenedDisputes((0..<100).map { String(format: "D-%03d", $0) }, to: store)
        let failure = Spooler.writePending(store: store, dispatcher: dispatcher, logger: Logger(label: "test"), shouldStop: { true })
        #expect(failure == nil)
        // One batch went out, durable and recorded; the other 36 wait in the outbox.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/spool/new").count == Spooler.batchSize)
        #expect(try store.counts().pendingNotices == 100 - Spooler.batchSize)
        // The next pass writes them.
        #expect(Spooler.writePending(store: store, dispatcher: dispatcher, logger: Logger(label: "test")) == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/spool/new").count == 100)
    }

    @Test func noticesWhoseIdsCannotNameAFileAreNamedAndPassedOverAndTheRestGoOut() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The files of a batch are written several at a time (as before READY);
        // two of these ids cannot be a spool file name, so their writes fail,
        // whichever of them finishes first.
        let ids = (0..<20).map { $0 == 5 ? "D-05/x" : $0 == 12 ? "D-12/y" : String(format: "D-%02d", $0) }
        try await commitOpenedDisputes(ids, to: store)
        let failure = Spooler.writePending(store: store, dispatcher: dispatcher, logger: Logger(label: "test"),
                                           concurrency: Spooler.concurrentWrites)
        #expect(failure == "D-05/x.1.disputeOpened cannot be written: refuse unsafe notice id D-05/x.1.disputeOpened: Invalid argument (and 1 more outbox rows)")
        // Every other notice is durable in new/ and recorded; the two failed ones stay pending.
        let written = try FileManager.default.contentsOfDirectory(atPath: directory + "/spool/new").sorted()
        #expect(written == ids.filter { !$0.contains("/") }.map { "\($0).1.disputeOpened.eml" })
        #expect(try store.pendingNotices().notices.map(\.id).sorted() == ["D-05/x.1.disputeOpened", "D-12/y.1.disputeOpened"])
    }

    @Test func aMerchantAddressNoMessageCanCarryHoldsBackNoOtherNotice() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Stored as an earlier version's merchant.upsert took it; the spool refuses it.
        let bad = Merchant(id: "M-BAD", legalName: "Bad AB", email: "a;b@shop.example", country: "SE", timeZone: "Europe/Stockholm", locale: "sv")
        var batch = CommitBatch()
        batch.now = 1_799_658_000
        batch.merchants = [bad]
        batch.disputes = [try openedDispute("D-BAD", merchant: bad)]
        batch.notices = [("D-BAD", .disputeOpened, .email, ["disputeId": "D-BAD"])]
        _ = try store.commit(batch)
        // More than a batch of notices behind it, all in one pass.
        let good = (0..<100).map { String(format: "D-%03d", $0) }
        try await commitOpenedDisputes(good, to: store)
        let failure = Spooler.writePending(store: store, dispatcher: dispatcher, logger: Logger(label: "test"))
        #expect(failure == "D-BAD.1.disputeOpened cannot be written: merchant e-mail: not a plain e-mail address")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/spool/new").count == 100)
        #expect(try store.pendingNotices().notices.map(\.id) == ["D-BAD.1.disputeOpened"])
        // Mended, it goes out at the next pass.
        var mend = CommitBatch()
        mend.now = 1_799_658_100
        mend.merchants = [Merchant(id: "M-BAD", legalName: "Bad AB", email: "ab@shop.example", country: "SE", timeZone: "Europe/Stockholm", locale: "sv")]
        _ = try store.commit(mend)
        #expect(Spooler.writePending(store: store, dispatcher: dispatcher, logger: Logger(label: "test")) == nil)
        #expect(try store.pendingNoticeCount() == 0)
    }

    @Test func eightFilesAtATimeWriteTheSameFilesAsOne() async throws {
        var spooled: [[String: Data]] = []
        for concurrency in [1, Spooler.concurrentWrites] {
            let (store, dispatcher, directory) = try fixture()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try await commitOpenedDisputes((0..<150).map { String(format: "D-%03d", $0) }, to: store)
            #expect(Spooler.writePending(store: store, dispatcher: dispatcher, logger: Logger(label: "test"), concurrency: concurrency) == nil)
            #expect(try store.pendingNoticeCount() == 0)
            let new = directory + "/spool/new/"
            var files: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: new) {
                files[name] = try Data(contentsOf: URL(fileURLWithPath: new + name))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/spool/tmp").isEmpty)
            spooled.append(files)
        }
        #expect(spooled[0].count == 150)
        // Byte for byte the same messages (their Date: is the notice's creation time).
        #expect(spooled[0] == spooled[1])
    }

    @Test func aPassReportsTheNoticesWrittenAfterEveryDurableBatch() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await commitOpenedDisputes((0..<130).map { String(format: "D-%03d", $0) }, to: store)
        #expect(try store.pendingNoticeCount() == 130)
        var reports: [Int] = []
        // Each report comes once its batch is durable and recorded: the outbox already agrees.
        let failure = Spooler.writePending(store: store, dispatcher: dispatcher, logger: Logger(label: "test"), progress: { written in
            reports.append(written)
            #expect((try? store.pendingNoticeCount()) == 130 - written)
        })
        #expect(failure == nil)
        #expect(reports == [64, 128, 130])
        #expect(try store.pendingNoticeCount() == 0)
    }

    private func filesInNew(_ directory: String) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: directory + "/spool/new").count) ?? 0
    }

    @Test func writingAlongsideACatchUpWaitsForItToBegin() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await commitOpenedDisputes(["D-a", "D-b"], to: store)
        let spooler = Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test"))
        #expect(try await spooler.prepare())
        let begun = Flag(), finished = Flag()
        let alongside = Task { await spooler.writeAlongside(begun: begun, finished: finished) }
        try await Task.sleep(for: .milliseconds(300))
        finished.set()
        await alongside.value
        // Nothing overdue began firing: the backlog is left to the pass before READY.
        #expect(filesInNew(directory) == 0)
        #expect(try store.pendingNoticeCount() == 2)
    }

    @Test func writingAlongsideACatchUpWritesWhatItCommitsUntilItEnds() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spooler = Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test"))
        #expect(try await spooler.prepare())
        let begun = Flag(), finished = Flag()
        begun.set()
        let alongside = Task { await spooler.writeAlongside(begun: begun, finished: finished) }
        try await commitOpenedDisputes((0..<10).map { "D-\($0)" }, to: store)
        _ = try await waitUntil { filesInNew(directory) == 10 }
        #expect(filesInNew(directory) == 10)
        // It keeps looking while the catch-up commits more.
        try await commitOpenedDisputes((10..<20).map { "D-\($0)" }, to: store)
        // Files reach new/ before their batch is recorded: wait for both.
        _ = try await waitUntil { filesInNew(directory) == 20 && (try? store.pendingNoticeCount()) == 0 }
        #expect(filesInNew(directory) == 20)
        #expect(try store.pendingNoticeCount() == 0)
        finished.set()
        await alongside.value
    }

    @Test func aThrottleSaysYesFirstThenOncePerInterval() async throws {
        let throttle = Throttle(interval: .milliseconds(200))
        #expect(throttle.due())
        #expect(!throttle.due())
        try await Task.sleep(for: .milliseconds(250))
        #expect(throttle.due())
        #expect(!throttle.due())
    }

    @Test func cancellingTheSpoolerStopsItsPassEarly() async throws {
        let (store, dispatcher, directory) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await commitOpenedDisputes((0..<600).map { String(format: "D-%03d", $0) }, to: store)
        let spooler = Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test"))
        let pass = Task { await spooler.drain() }
        // Cancelled once the first files are in new/ (the pass is under way).
        while (try? FileManager.default.contentsOfDirectory(atPath: directory + "/spool/new").count) ?? 0 == 0 {
            try await Task.sleep(for: .milliseconds(1))
        }
        pass.cancel()
        await pass.value
        #expect(await spooler.lastError == nil)
        let pending = try store.counts().pendingNotices
        #expect(pending > 0 && pending < 600, "the pass should stop part-way, at a batch boundary; \(pending) pending")
        #expect((600 - pending) % Spooler.batchSize == 0)
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
