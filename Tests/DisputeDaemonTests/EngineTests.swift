import DisputeWorkflow
import Foundation
import Logging
import Testing
@testable import ControlProtocol
@testable import DisputeDaemon
@testable import DisputeStore

extension Engine {
    /// Stores the merchant and opens each dispute as `dispute.open` does, one commit each.
    func open(_ ids: [String], for merchant: Merchant) throws {
        var batch = CommitBatch()
        batch.now = now
        batch.merchants = [merchant]
        try apply(batch)
        for id in ids {
            var batch = CommitBatch()
            batch.now = now
            _ = try open(Arguments(.object(["merchant": .string(merchant.id), "order": .string("O-\(id)"), "amount": .string("10.00"),
                                            "currency": .string("SEK"), "reason": .string("faulty"), "id": .string(id)])),
                         requestID: "open-\(id)", &batch)
            try apply(batch)
        }
    }

    func setTimersPerTurn(_ limit: Int) { timersPerTurn = limit }

    /// Hands these groups to the store at once, as the committer does with
    /// ``groupsInFlight`` of them, and lands them: each one's outcome, in order.
    func commitTogether(_ batches: [CommitBatch]) async -> [Result<[CommitResult], any Error>] {
        let started = batches.map { batch in
            var group = Group()
            group.batches = [batch]
            return start(group, [])
        }
        inFlight += started
        for s in started { await s.outcome.wait() }
        landFinished()
        return started.map { $0.outcome.result! }
    }

    /// Whether a group being built reads the changes of a group still in
    /// flight that was built in `epoch` (one that made `disputeID` `dispute`).
    func seesGroupInFlight(builtIn epoch: Int, disputeID: String, dispute: Dispute) -> Bool {
        var earlier = Group()
        earlier.disputes[disputeID] = dispute
        inFlight.append(InFlight(group: earlier, outcome: CommitOutcome(), epoch: epoch))
        defer { inFlight.removeLast() }
        group = Group()
        defer { group = nil }
        return unconfirmed(\.disputes, disputeID) != nil
    }

    var epoch: Int { commitEpoch }
}

@Suite struct EngineTests {
    static let merchant = Merchant(id: "M1", legalName: "Åsa AB", email: "a@example.se", country: "SE", timeZone: "Europe/Stockholm",
                                   locale: "sv", portalActivated: true)

    /// A deadline storm (all deadlines at one instant) or a resumed host is
    /// worked off a bounded number of timers per turn of the tick loop, so
    /// the loop keeps turning (the watchdog is pinged only while it does).
    @Test func manyDueTimersAreFiredOverSeveralTurnsOfTheTickLoop() async throws {
        let (store, dispatcher, directory) = try storeAndDispatcher()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = DaemonClock.simulated(at: Date(timeIntervalSince1970: 1_799_658_000))  // 2027-01-11T09:00Z
        let engine = Engine(store: store, clock: clock, calendars: try repositoryCalendars(), policy: DisputePolicy(),
                            spooler: Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test")), logger: Logger(label: "test"))
        let ids = (0..<10).map { "D-\($0)" }
        try await engine.open(ids, for: Self.merchant)
        #expect(await engine.pendingTimerCount == 30)   // two reminders and the deadline each
        await engine.setTimersPerTurn(7)
        _ = clock.advance(by: 40 * 86400)                // all 30 are due now
        var turns: [Int] = []
        while true {
            let fired = try await engine.tick()
            if fired == 0 { break }
            turns.append(fired)
        }
        #expect(turns == [7, 7, 7, 7, 2])
        #expect(await engine.pendingTimerCount == 0)
        for id in ids { #expect(try store.dispute(id)?.stage == .closed) }
    }

    /// Two groups are handed to the store at once; when the first one's commit
    /// fails, the second (built on top of it) is refused by the store's writer
    /// without anything of it written, and groups built after the engine saw
    /// the failure are written again.
    @Test func aGroupEnqueuedBehindAFailedCommitIsRefusedAndLaterGroupsAreWritten() async throws {
        let (store, dispatcher, directory) = try storeAndDispatcher()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = DaemonClock.simulated(at: Date(timeIntervalSince1970: 1_799_658_000))
        let engine = Engine(store: store, clock: clock, calendars: try repositoryCalendars(), policy: DisputePolicy(),
                            spooler: Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test")), logger: Logger(label: "test"))
        try await engine.open(["D-0"], for: Self.merchant)
        func opening(_ id: String) async throws -> CommitBatch {
            var batch = CommitBatch()
            batch.now = await engine.now
            _ = try await engine.open(Arguments(.object(["merchant": .string("M1"), "order": .string("O-\(id)"), "amount": .string("10.00"),
                                                          "currency": .string("SEK"), "reason": .string("faulty"), "id": .string(id)])),
                                      requestID: "open-\(id)", &batch)
            return batch
        }
        var broken = CommitBatch()
        broken.timeline = [("D-ghost", TimelineEntry(at: 1, event: "opened", detail: ""))]   // no such dispute: the commit fails
        let outcomes = await engine.commitTogether([broken, try await opening("D-1")])
        guard case let .failure(first) = outcomes[0], case let .failure(second) = outcomes[1] else {
            Issue.record("both groups should fail: \(outcomes)")
            return
        }
        #expect(first is StoreError)
        #expect(second is Engine.BuiltOnFailedCommit)
        #expect(try store.dispute("D-1") == nil)
        #expect(await engine.pendingTimerCount == 3)   // D-0's only
        // A group of the failed epoch still in flight (to be refused) is not read
        // by what is built now; one of the current epoch is.
        let d2 = try #require(try store.dispute("D-0"))
        #expect(await engine.epoch == 1)
        #expect(await engine.seesGroupInFlight(builtIn: 0, disputeID: "D-9", dispute: d2) == false)
        #expect(await engine.seesGroupInFlight(builtIn: 1, disputeID: "D-9", dispute: d2) == true)
        // The engine has seen the failure: what it builds now is written.
        let again = await engine.commitTogether([try await opening("D-2"), try await opening("D-3")])
        for outcome in again { if case let .failure(error) = outcome { Issue.record("\(error)") } }
        #expect(try store.dispute("D-2")?.stage == .awaitingMerchant)
        #expect(try store.dispute("D-3")?.stage == .awaitingMerchant)
        #expect(await engine.pendingTimerCount == 9)
    }

    /// A system clock before 1970 (a host without clock battery or NTP) starts
    /// the engine at 1970 instead of trapping; timers fire once it catches up.
    @Test func aClockBefore1970StartsTheEngineAndTimersFireWhenItCatchesUp() async throws {
        let (store, dispatcher, directory) = try storeAndDispatcher()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let opening = DaemonClock.simulated(at: Date(timeIntervalSince1970: 1_799_658_000))  // 2027-01-11T09:00Z
        try await Engine(store: store, clock: opening, calendars: try repositoryCalendars(), policy: DisputePolicy(),
                         spooler: Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test")),
                         logger: Logger(label: "test")).open(["D-1"], for: Self.merchant)
        let early = DaemonClock.simulated(at: Date(timeIntervalSince1970: -86400))     // 1969-12-31
        let engine = Engine(store: store, clock: early, calendars: try repositoryCalendars(), policy: DisputePolicy(),
                            spooler: Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test")), logger: Logger(label: "test"))
        #expect(try await engine.recover() == (timers: 3, fired: 0))
        _ = early.advance(by: 86400 + 1_799_658_000 + 40 * 86400)
        #expect(try await engine.tick() == 3)
        #expect(try store.dispute("D-1")?.stage == .closed)
    }

    /// A stop during the catch-up at start (its task cancelled) ends it after
    /// the group being committed; the next start fires the rest, each once.
    @Test func aCancelledCatchUpStopsAfterTheGroupInHandAndTheNextStartFiresTheRest() async throws {
        let (store, dispatcher, directory) = try storeAndDispatcher()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = DaemonClock.simulated(at: Date(timeIntervalSince1970: 1_799_658_000))  // 2027-01-11T09:00Z
        func start() -> Engine {
            Engine(store: store, clock: clock, calendars: (try? repositoryCalendars()) ?? [:], policy: DisputePolicy(),
                   spooler: Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test")), logger: Logger(label: "test"))
        }
        let ids = (0..<100).map { "D-\($0)" }
        try await start().open(ids, for: Self.merchant)
        _ = clock.advance(by: 40 * 86400)                // all 300 timers are overdue at the next start
        let stopped = start()
        let first = try await Task {
            withUnsafeCurrentTask { $0?.cancel() }       // SIGTERM came during the start
            return try await stopped.recover()
        }.value
        #expect(first.timers == 300 && first.fired == Engine.firingGroupLimit)
        let next = try await start().recover()
        #expect(next.timers == 300 - Engine.firingGroupLimit && next.fired == 300 - Engine.firingGroupLimit)
        for id in ids { #expect(try store.dispute(id)?.stage == .closed) }
    }
}
