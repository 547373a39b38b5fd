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
