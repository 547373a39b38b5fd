import DisputeWorkflow
import Foundation
import GRDB
import Logging
import Synchronization
import Testing
@testable import ControlProtocol
@testable import DisputeDaemon
@testable import DisputeStore

extension Engine {
    func setRemovalsPerTurn(_ limit: Int) { removalsPerTurn = limit }
}

/// `daemon.closed_retention_days`: closed disputes go some time after they
/// closed, with every row of theirs; open ones and those with a notice still
/// to spool stay; a removed dispute's id is never used again.
@Suite struct RetentionTests {
    static let portal = EngineTests.merchant
    static let email = Merchant(id: "M2", legalName: "Bo AB", email: "b@example.se", country: "SE", timeZone: "Europe/Stockholm",
                                locale: "sv", portalActivated: false)

    func withdraw(_ id: String, _ engine: Engine) async throws {
        let answer = await engine.handle(ControlRequest(id: "withdraw-\(id)", op: "dispute.withdraw", args: .object(["id": .string(id)])),
                                         .disputeWithdraw, by: "tester (uid 1000)")
        #expect(answer.ok, "\(answer)")
    }

    /// How many rows of each table belong to the dispute with this id.
    func rows(of id: String, _ store: DisputeStore) throws -> [Int] {
        try store.pool.read { db in
            try ["disputes", "timeline", "timers", "outbox"].map { table in
                let column = table == "disputes" ? "id" : "dispute_id"
                return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE \(column) = ?", arguments: [id]) ?? 0
            }
        }
    }

    @Test func closedDisputesGoWithTheirRowsAfterTheRetentionOldestFirstAndTheirIdsStayTaken() async throws {
        let (engine, store, clock, directory) = try engineOnFreshStore(closedRetentionDays: 90)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await engine.open(["D-1", "D-2", "D-4"], for: Self.portal)
        try await engine.open(["D-3"], for: Self.email)
        try await withdraw("D-1", engine)
        _ = clock.advance(by: 86400)
        try await withdraw("D-2", engine)
        try await withdraw("D-3", engine)
        // The spooler (not running here) has e-mailed the closing notices of all but D-3.
        for id in ["D-1", "D-2", "D-4"] { try store.markSpooled(store.notices(of: id), at: await engine.now) }
        #expect(try rows(of: "D-1", store).allSatisfy { $0 > 0 })
        #expect(try store.notices(of: "D-3").contains { $0.state == "pending" })

        _ = clock.advance(by: 89 * 86400)                       // D-1 closed exactly 90 days ago: not before the cut
        #expect(await engine.removeExpiredClosed() == 0)
        await engine.setRemovalsPerTurn(1)
        _ = clock.advance(by: 86400 + 3600)                     // the next look, an hour on: D-1 and D-2 are both due
        #expect(await engine.removeExpiredClosed() == 1)        // a turn's worth, the one closed first
        #expect(try rows(of: "D-1", store) == [0, 0, 0, 0])
        #expect(try store.dispute("D-2") != nil)
        #expect(await engine.removeExpiredClosed() == 1)        // a full turn looks again at once
        #expect(try rows(of: "D-2", store) == [0, 0, 0, 0])
        #expect(await engine.removeExpiredClosed() == 0)        // D-3 waits for its notices, D-4 is open
        #expect(try store.dispute("D-3")?.stage == .closed)
        #expect(try store.dispute("D-4")?.stage == .awaitingMerchant)
        #expect(try store.counts().removed.count == 2)

        // Removed ids stay taken, and say why.
        #expect(try store.disputeExists("D-1"))
        let reopen = await engine.handle(openOnOrder("D-1", amount: "5.00").0, .disputeOpen, by: "tester (uid 1000)")
        #expect(reopen.error?.code == .conflict && reopen.error?.message.contains("removed") == true, "\(reopen)")
        let show = await engine.handle(ControlRequest(id: "s", op: "dispute.show", args: .object(["id": .string("D-2")])), .disputeShow, by: "t")
        #expect(show.error?.code == .notFound && show.error?.message.contains("was removed on") == true, "\(show)")

        // Once spooled, D-3 goes at the next look (an hour on).
        try store.markSpooled(store.notices(of: "D-3"), at: await engine.now)
        #expect(await engine.removeExpiredClosed() == 0)
        _ = clock.advance(by: 3600)
        #expect(await engine.removeExpiredClosed() == 1)
        #expect(try rows(of: "D-3", store) == [0, 0, 0, 0])
        #expect(try store.dispute("D-4") != nil)
    }

    /// A system clock set forward while the daemon runs (a bad NTP answer, an
    /// operator's typo) removes nothing: removal cannot be undone, so it goes
    /// by the clock at start plus the time that really passed. A clock set
    /// back is followed at once.
    @Test func aSystemClockSetForwardWhileRunningRemovesNothingUntilTheTimeHasPassed() async throws {
        let t0 = Date(timeIntervalSince1970: 1_799_658_000)    // 2027-01-11T09:00Z
        let times = Mutex((wall: t0, elapsed: TimeInterval(0)))
        let clock = DaemonClock.real(wall: { times.withLock { $0.wall } }, elapsed: { times.withLock { $0.elapsed } })
        func set(wall: TimeInterval, elapsed: TimeInterval) {
            times.withLock { $0 = (t0.addingTimeInterval(wall), elapsed) }
        }
        let (store, dispatcher, directory) = try storeAndDispatcher()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = Engine(store: store, clock: clock, calendars: try repositoryCalendars(), policy: DisputePolicy(),
                            spooler: Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test")), logger: Logger(label: "test"),
                            closedRetentionDays: 90)
        try await engine.open(["D-1"], for: Self.portal)
        try await withdraw("D-1", engine)
        try store.markSpooled(store.notices(of: "D-1"), at: await engine.now)

        set(wall: 100 * 86400, elapsed: 1)                   // set 100 days ahead, a second after
        #expect(clock.nowNotAheadOfElapsed == t0.addingTimeInterval(1))
        #expect(await engine.removeExpiredClosed() == 0)
        #expect(try store.dispute("D-1") != nil)
        set(wall: 100 * 86400 + 3600, elapsed: 100 * 86400 + 3600)   // the time has passed since: the next look removes it
        #expect(await engine.removeExpiredClosed() == 1)
        #expect(try store.dispute("D-1") == nil)
        set(wall: 100 * 86400, elapsed: 100 * 86400 + 7200)  // set back an hour: followed
        #expect(clock.nowNotAheadOfElapsed == t0.addingTimeInterval(100 * 86400))
    }

    @Test func withoutRetentionClosedDisputesStay() async throws {
        let (engine, store, clock, directory) = try engineOnFreshStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await engine.open(["D-1"], for: Self.portal)
        try await withdraw("D-1", engine)
        _ = clock.advance(by: 20 * 365 * 86400)
        _ = try await engine.tick()
        #expect(await engine.removeExpiredClosed() == 0)
        #expect(try store.dispute("D-1")?.stage == .closed)
    }
}
