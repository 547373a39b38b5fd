import BusinessCalendar
import ControlProtocol
import DisputeStore
import DisputeWorkflow
import Foundation
import Logging
import NoticeSpool
import TimerWheel

/// The shell around the pure workflow: applies commands and expired timers,
/// commits each result in one transaction, then updates the timer wheel.
///
/// An actor, so commands and timers for every dispute apply one at a time, in
/// order. The database is the truth; the wheel is an index of its pending
/// timer rows, rebuilt by ``recover()`` at start.
public actor Engine {
    let store: DisputeStore
    let clock: DaemonClock
    let logger: Logger
    var calendars: [String: BusinessCalendar]
    /// Every calendar version this process has loaded, so a dispute keeps
    /// counting on the version it was opened under after a reload.
    var calendarsByVersion: [String: BusinessCalendar] = [:]
    var policy: DisputePolicy
    var wheel: TimerWheel
    var handles: [Int64: TimerHandle] = [:]
    /// Advanced by every tick: the watchdog pings only while this moves.
    public private(set) var ticks: UInt64 = 0
    public private(set) var lastRecovery: (timers: Int, fired: Int) = (0, 0)
    let spooler: Spooler
    var queuedWrites: [QueuedWrite] = []
    /// The group being built (write requests of one group commit).
    var group: Group?
    /// The group handed to the store and not yet durable; the next group is
    /// built on top of it.
    var committing: Group?
    /// Merchants read or committed so far (the store has no other writer).
    var merchantCache: [String: Merchant] = [:]
    /// True while a group is being applied and committed: timers wait, so they
    /// never act on a dispute whose new state is not yet durable.
    var batchInFlight = false
    nonisolated let writeWakeups: AsyncStream<Void>
    nonisolated let writeWakeup: AsyncStream<Void>.Continuation

    init(store: DisputeStore, clock: DaemonClock, calendars: [String: BusinessCalendar], policy: DisputePolicy,
         spooler: Spooler, logger: Logger) {
        self.spooler = spooler
        (writeWakeups, writeWakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.store = store
        self.clock = clock
        self.calendars = calendars
        self.policy = policy
        self.logger = logger
        self.wheel = TimerWheel(now: Self.seconds(clock.now))
        for c in calendars.values { calendarsByVersion[c.version] = c }
    }

    /// Whole seconds, rounded down: a timer due at second s fires once the clock has reached s.
    static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }

    var now: Int64 { Self.seconds(clock.now) }

    /// Loads every pending timer into the wheel and fires those that fell due
    /// while the daemon was down, once each, in due order.
    @discardableResult
    public func recover() throws -> (timers: Int, fired: Int) {
        let pending = try store.pendingTimerInstants()
        wheel.reserveCapacity(pending.count + 1024)
        handles.reserveCapacity(pending.count + 1024)
        for t in pending { handles[t.id] = wheel.schedule(at: t.dueAt, payload: UInt64(t.id)) }
        let fired = try fireDue(upTo: now)
        lastRecovery = (pending.count, fired)
        return lastRecovery
    }

    /// A new configuration: new policy for disputes opened from now on, new calendars.
    func reconfigure(calendars: [String: BusinessCalendar], policy: DisputePolicy) {
        self.calendars = calendars
        self.policy = policy
        for c in calendars.values { calendarsByVersion[c.version] = c }
    }

    /// One turn of the tick loop: fire what is due by now.
    public func tick() throws -> Int {
        ticks &+= 1
        if batchInFlight { return 0 }  // the next tick fires them, after the commit
        return try fireDue(upTo: now)
    }

    /// Fires every timer due at or before `target`, each in its own transaction,
    /// applied at its due instant so that a chain of deadlines unfolds as it would
    /// have in real time. Returns how many fired.
    @discardableResult
    func fireDue(upTo target: Int64) throws -> Int {
        var fired = 0
        while let expired = wheel.popExpired(notAfter: target) {
            let id = Int64(expired.payload)
            handles[id] = nil
            guard let row = try store.timer(id), row.state == "pending" else { continue }
            guard var dispute = try store.dispute(row.disputeID), let merchant = try store.merchant(dispute.merchantID) else {
                logger.error("timer refers to a missing dispute", metadata: ["timer": "\(id)", "dispute": "\(row.disputeID)"])
                continue
            }
            let calendar = try calendar(for: dispute)
            var batch = CommitBatch()
            batch.now = row.dueAt
            batch.firedTimer = (id, now)
            do {
                let t = try DisputeWorkflow.apply(.timerFired(row.kind), to: dispute, merchant: merchant, now: row.dueAt, calendar: calendar)
                dispute = t.dispute
                add(t, merchant: merchant, to: &batch)
            } catch {
                batch.timeline.append((dispute.id, TimelineEntry(at: row.dueAt, event: "timerFailed", detail: "\(row.kind.rawValue): \(error)")))
                logger.error("timer could not be applied", metadata: ["dispute": "\(dispute.id)", "error": "\(error)"])
            }
            try Self.encodeBodies(&batch)
            try apply(batch)
            fired += 1
            if row.kind == .responseDeadline || row.kind == .evidenceDeadline || row.kind == .statementDeadline {
                logger.notice("deadline lapsed", metadata: ["dispute": "\(dispute.id)", "merchant": "\(dispute.merchantID)",
                                                            "kind": "\(row.kind.rawValue)", "state": "\(dispute.stage.rawValue)"])
            }
        }
        return fired
    }

    func calendar(for dispute: Dispute) throws -> BusinessCalendar {
        if let pinned = calendarsByVersion[dispute.calendarVersion] { return pinned }
        // Decision: after a restart the pinned version may no longer be on disk.
        // Deadlines already set never move; later stages count on the current file.
        guard let current = calendars[dispute.market] else {
            throw ControlError(.unavailable, "no calendar for market \(dispute.market) is loaded")
        }
        return current
    }

    /// Turns a transition into rows of a batch.
    func add(_ t: Transition, merchant: Merchant, to batch: inout CommitBatch) {
        batch.disputes.append(t.dispute)
        for entry in t.timeline { batch.timeline.append((t.dispute.id, entry)) }
        for effect in t.effects {
            switch effect {
            case let .schedule(request): batch.newTimers.append((t.dispute.id, request))
            case let .cancelTimers(kinds): batch.cancelTimers.append((t.dispute.id, kinds))
            case let .notice(kind, channel):
                batch.notices.append((t.dispute.id, kind, channel, NoticeContext.make(kind: kind, dispute: t.dispute, merchant: merchant)))
            case .pauseInvoice, .reactivateInvoice, .chargeback, .refund:
                // The invoice's new state is part of the dispute row; the ledger
                // that moves money is outside this daemon.
                break
            }
        }
    }

    /// Encodes a batch's stored JSON with the fast encoder before it reaches the
    /// store (every batch the engine commits goes through here, so the store's
    /// Foundation fallback is never the hot path).
    static func encodeBodies(_ batch: inout CommitBatch) throws {
        try batch.encodeBodies(dispute: { try JSONValueEncoder.encode($0).jsonText() },
                               context: { JSONValue.object($0.mapValues(JSONValue.string)).jsonText() })
    }

    /// Commits, then brings the wheel in line with what was committed.
    @discardableResult
    func apply(_ batch: CommitBatch) throws -> CommitResult {
        let result = try store.commit(batch)
        for m in batch.merchants { merchantCache[m.id] = m }
        afterCommit(result)
        return result
    }

    /// Brings the wheel in line with a commit and wakes the spooler.
    func afterCommit(_ result: CommitResult) {
        for id in result.cancelledTimerIDs {
            if let h = handles.removeValue(forKey: id) { wheel.cancelBatched(h) }
        }
        for t in result.insertedTimers {
            handles[t.id] = wheel.schedule(at: t.dueAt, payload: UInt64(t.id))
        }
        if result.notices.contains(where: { $0.channel == .email }) { spooler.wake() }
    }

    /// Moves a simulated clock and applies every timer due up to the new instant
    /// before answering (interfaces.md).
    func advanceClock(by seconds: Int64) throws -> (now: Int64, fired: Int) {
        guard let date = clock.advance(by: TimeInterval(seconds)) else {
            throw ControlError(.forbidden, "clock.advance works only on a daemon started with --simulated-clock")
        }
        let target = Self.seconds(date)
        return (target, try fireDue(upTo: target))
    }

    var pendingTimerCount: Int { wheel.count }
}
