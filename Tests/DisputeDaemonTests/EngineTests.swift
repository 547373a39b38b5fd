import DisputeWorkflow
import Foundation
import Logging
import Synchronization
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

    /// Handles these write requests into one group, as the committer does,
    /// and hands it to the store; waits for it to land unless `land` is false
    /// (then it stays in flight). Each request's answer, in order.
    func handleInOneGroup(_ requests: [(ControlRequest, ControlOperation)], land: Bool = true) async -> [ControlResponse] {
        group = Group()
        let answers = requests.map { handle($0.0, $0.1, by: "tester (uid 1000)") }
        let built = group!
        group = nil
        let started = start(built, [])
        inFlight.append(started)
        if land {
            await started.outcome.wait()
            landFinished()
        }
        return answers
    }

    /// Lands every group in flight.
    func landAll() async {
        for s in inFlight { await s.outcome.wait() }
        landFinished()
    }
}

/// An engine on a fresh store (in `directory`, for removal) with the
/// repository's calendars and templates, on a simulated clock at
/// 2027-01-11T09:00Z (a Monday, 10:00 in Stockholm).
func engineOnFreshStore(closedRetentionDays: Int = 0) throws -> (Engine, DisputeStore, DaemonClock, String) {
    let (store, dispatcher, directory) = try storeAndDispatcher()
    let clock = DaemonClock.simulated(at: Date(timeIntervalSince1970: 1_799_658_000))
    let engine = Engine(store: store, clock: clock, calendars: try repositoryCalendars(), policy: DisputePolicy(),
                        spooler: Spooler(store: store, dispatcher: dispatcher, logger: Logger(label: "test")), logger: Logger(label: "test"),
                        closedRetentionDays: closedRetentionDays)
    return (engine, store, clock, directory)
}

/// A `dispute.open` of `amount` SEK on order O-1 of merchant M1.
func openOnOrder(_ id: String, amount: String, orderAmount: String? = nil, currency: String = "SEK",
                 merchant: String = "M1", captured: Bool? = nil) -> (ControlRequest, ControlOperation) {
    var args: [String: JSONValue] = ["merchant": .string(merchant), "order": .string("O-1"), "amount": .string(amount),
                                     "currency": .string(currency), "reason": .string("faulty"), "id": .string(id)]
    if let orderAmount { args["orderAmount"] = .string(orderAmount) }
    if let captured { args["captured"] = .bool(captured) }
    return (ControlRequest(id: "open-\(id)", op: "dispute.open", args: .object(args)), .disputeOpen)
}

@Suite struct EngineTests {
    static let merchant = Merchant(id: "M1", legalName: "Åsa AB", email: "a@example.se", country: "SE", timeZone: "Europe/Stockholm",
                                   locale: "sv", portalActivated: true)

    /// Several disputes may share an order (a customer disputes two parts of
    /// it), but together the open ones claim at most the order amount, and
    /// they agree on it and its currency; a dispute without an order amount
    /// takes the one its order's open disputes know. Closed disputes and other
    /// merchants' orders of the same reference do not count.
    @Test func openDisputesOfOneOrderShareItsAmountAndClaimAtMostItTogether() async throws {
        let (engine, store, _, directory) = try engineOnFreshStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await engine.open([], for: Self.merchant)
        try await engine.open([], for: Merchant(id: "M2", legalName: "Berit AB", email: "b@example.se", country: "SE",
                                                timeZone: "Europe/Stockholm", locale: "sv", portalActivated: true))
        func one(_ request: (ControlRequest, ControlOperation)) async -> ControlResponse {
            await engine.handleInOneGroup([request])[0]
        }
        #expect(await one(openOnOrder("D-1", amount: "499.00", orderAmount: "899.00")).ok)
        let over = await one(openOnOrder("D-2", amount: "400.01"))
        #expect(over.error?.code == .conflict)
        #expect(over.error?.message == "order O-1 of merchant M1 (899.00 SEK) has 499.00 SEK disputed in its open disputes D-1; "
            + "another 400.01 SEK would claim more than the order")
        let otherAmount = await one(openOnOrder("D-2", amount: "10.00", orderAmount: "900.00"))
        #expect(otherAmount.error?.code == .conflict)
        #expect(otherAmount.error?.message.contains("is 899.00 SEK in its open dispute D-1, not 900.00 SEK") == true)
        let otherCurrency = await one(openOnOrder("D-2", amount: "10.00", currency: "EUR"))
        #expect(otherCurrency.error?.message == "order O-1 of merchant M1 is in SEK (its open dispute D-1), not EUR")
        #expect(try store.dispute("D-2") == nil)
        // The rest of the order, without naming its amount: it takes 899.00.
        #expect(await one(openOnOrder("D-2", amount: "400.00")).ok)
        #expect(try store.dispute("D-2")?.orderAmount == Money(decimal: "899.00", currency: Currency(code: "SEK")!))
        #expect(await one(openOnOrder("D-3", amount: "0.01")).error?.code == .conflict)
        // Another merchant's order O-1 is another order.
        #expect(await one(openOnOrder("D-4", amount: "899.00", merchant: "M2")).ok)
        // A closed dispute claims nothing any more.
        #expect(await one((ControlRequest(id: "withdraw-D-1", op: "dispute.withdraw", args: .object(["id": .string("D-1")])), .disputeWithdraw)).ok)
        #expect(await one(openOnOrder("D-3", amount: "499.00")).ok)
    }

    /// An order found captured by one open dispute is not uncaptured by the
    /// next (a cancellation would then be asked of a captured order); one
    /// found uncaptured may be captured since.
    @Test func anOrderFoundCapturedIsNotUncapturedByALaterDispute() async throws {
        let (engine, store, _, directory) = try engineOnFreshStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await engine.open([], for: Self.merchant)
        func one(_ request: (ControlRequest, ControlOperation)) async -> ControlResponse {
            await engine.handleInOneGroup([request])[0]
        }
        #expect(await one(openOnOrder("D-1", amount: "10.00", orderAmount: "899.00", captured: false)).ok)
        #expect(await one(openOnOrder("D-2", amount: "10.00", captured: true)).ok)          // captured since
        let uncaptured = await one(openOnOrder("D-3", amount: "10.00", captured: false))
        #expect(uncaptured.error?.code == .conflict)
        #expect(uncaptured.error?.message.hasPrefix("order O-1 of merchant M1 is captured (its open dispute D-2)") == true, "\(uncaptured)")
        #expect(try store.dispute("D-3") == nil)
        // Within one group too: the earlier request's dispute counts.
        let together = await engine.handleInOneGroup([openOnOrder("D-4", amount: "10.00", captured: true),
                                                      openOnOrder("D-5", amount: "10.00", captured: false)])
        #expect(together[0].ok && together[1].error?.code == .conflict)
    }

    /// The timeline names who made each line: the user of the request for
    /// what a request did, the daemon for what a lapsed deadline did.
    @Test func eachTimelineLineNamesTheUserOfTheRequestOrTheDaemon() async throws {
        let (engine, store, clock, directory) = try engineOnFreshStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await engine.open([], for: Self.merchant)
        #expect(await engine.handleInOneGroup([openOnOrder("D-1", amount: "10.00")])[0].ok)
        _ = clock.advance(by: 40 * 86400)
        while try await engine.tick() > 0 {}
        let lines = try store.timeline(of: "D-1")
        let byRequest = lines.filter { $0.at == 1_799_658_000 }
        #expect(byRequest.map(\.event) == ["opened", "deadlineSet", "reminderSet", "reminderSet", "notice"])
        #expect(byRequest.allSatisfy { $0.by == "tester (uid 1000)" })
        let byDaemon = lines.filter { $0.at != 1_799_658_000 }
        #expect(byDaemon.contains { $0.event == "deadlineLapsed" })
        #expect(byDaemon.allSatisfy { $0.by == Engine.daemonActor })
    }

    /// Opens handled into one group, and into a group while the one before it
    /// is still in flight, see each other's disputes on their order.
    @Test func anOpenCountsTheDisputesOfItsOrderInTheGroupBeingBuiltAndInFlight() async throws {
        let (engine, store, _, directory) = try engineOnFreshStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await engine.open([], for: Self.merchant)
        let together = await engine.handleInOneGroup([openOnOrder("D-1", amount: "500.00", orderAmount: "899.00"),
                                                      openOnOrder("D-2", amount: "400.00"), openOnOrder("D-3", amount: "300.00")])
        #expect(together.map(\.ok) == [true, false, true])
        #expect(together[1].error?.message.contains("(899.00 SEK) has 500.00 SEK disputed in its open disputes D-1; another 400.00 SEK") == true)
        // One group in flight, the next built behind it: 800.00 + 99.00 is the whole order.
        _ = await engine.handleInOneGroup([openOnOrder("D-4", amount: "99.00")], land: false)
        let withdrawD1 = (ControlRequest(id: "withdraw-D-1", op: "dispute.withdraw", args: .object(["id": .string("D-1")])), ControlOperation.disputeWithdraw)
        let behind = await engine.handleInOneGroup([openOnOrder("D-5", amount: "0.01"), withdrawD1, openOnOrder("D-6", amount: "500.00")],
                                                   land: false)
        await engine.landAll()
        #expect(behind.map(\.ok) == [false, true, true])
        #expect(behind[0].error?.message.contains("has 899.00 SEK disputed in its open disputes D-1, D-3, D-4") == true)
        #expect(try store.dispute("D-6")?.orderAmount.minorUnits == 89_900)
        #expect(try store.dispute("D-5") == nil)
    }

    /// A deadline storm (all deadlines at one instant) or a resumed host is
    /// worked off a bounded number of timers per turn of the tick loop, so
    /// the loop keeps turning (the watchdog is pinged only while it does).
    @Test func manyDueTimersAreFiredOverSeveralTurnsOfTheTickLoop() async throws {
        let (engine, store, clock, directory) = try engineOnFreshStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
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
        let (engine, store, _, directory) = try engineOnFreshStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
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

    /// Under a steady stream of writes a group is always in flight or being
    /// built, and the tick loop waits for a moment without one: due timers are
    /// then fired by the committer itself, between two groups, while the
    /// writes go on. (The tick loop does not run here.)
    @Test func dueTimersFireBetweenGroupsWhileWritesKeepComing() async throws {
        let (engine, store, clock, directory) = try engineOnFreshStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await engine.open(["D-0"], for: Self.merchant)
        let committer = Task { for await _ in engine.writeWakeups { await engine.advanceWrites() } }
        final class Shared: Sendable {
            let acknowledged = Atomic<Int>(0)
            let stop = Atomic<Bool>(false)
        }
        let shared = Shared()
        let writers = (0..<8).map { k in
            Task {
                var n = 0
                while !shared.stop.load(ordering: .relaxed) {
                    let id = "W-\(k)-\(n)"
                    let request = ControlRequest(id: "open-\(id)", op: "dispute.open", args: .object([
                        "merchant": .string("M1"), "order": .string("O-\(id)"), "amount": .string("10.00"),
                        "currency": .string("SEK"), "reason": .string("faulty"), "id": .string(id)]))
                    let answer = await engine.submit(request, .disputeOpen, by: "tester (uid 1000)")
                    if answer.ok { shared.acknowledged.add(1, ordering: .relaxed) } else { Issue.record("\(answer)") }
                    n += 1
                }
            }
        }
        #expect(try await waitUntil(within: .seconds(20)) { shared.acknowledged.load(ordering: .relaxed) >= 200 })
        _ = clock.advance(by: 40 * 86400)   // D-0's reminders and deadline (and those of the first writes) are due
        #expect(try await waitUntil(within: .seconds(20)) { try store.dispute("D-0")?.stage == .closed })
        let whenClosed = shared.acknowledged.load(ordering: .relaxed)
        // The writes did not stop for it: more are acknowledged after the chargeback.
        #expect(try await waitUntil(within: .seconds(20)) { shared.acknowledged.load(ordering: .relaxed) >= whenClosed + 200 })
        shared.stop.store(true, ordering: .relaxed)
        for writer in writers { await writer.value }
        engine.writeWakeup.finish()
        await committer.value
        #expect(try store.dispute("D-0")?.outcome == .customerFavour)
    }
}
