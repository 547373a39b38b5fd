import BusinessCalendar
import ControlProtocol
import DisputeStore
import DisputeWorkflow
import Foundation
import Logging
import NoticeSpool
import Synchronization
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
    /// Due timers that could not fire (see ``fireDue(upTo:)``), in due order,
    /// and when they are tried again.
    var deferredTimers: [ExpiredTimer] = []
    /// Why the last timer set aside could not fire.
    var lastHoldReason: String?
    var retryDeferredAt: Int64 = .max
    /// Advanced by every tick: the watchdog pings only while this moves.
    public private(set) var ticks: UInt64 = 0
    public private(set) var lastRecovery: (timers: Int, fired: Int) = (0, 0)
    let spooler: Spooler
    var queuedWrites: [QueuedWrite] = []
    /// The group requests are being handled into; set only while they are
    /// (``build(_:)``), so that other work on the actor sees committed state.
    var group: Group?
    /// The group taking in write requests while the ones before it are written.
    var openGroup: OpenGroup?
    /// Groups handed to the store and not yet landed, oldest first; the open
    /// group is built on top of their changes.
    var inFlight: [InFlight] = []
    /// Counts failed group commits: a group is refused by the store's writer
    /// when the commit that failed last was of its epoch (built on top of it).
    var commitEpoch = 0
    nonisolated let failedEpoch = FailedEpoch()
    /// Merchants read or committed so far (the store has no other writer).
    var merchantCache: [String: Merchant] = [:]
    /// True while a group is open or being committed: timers wait, so they
    /// never act on a dispute whose new state is not yet durable.
    var batchInFlight: Bool { !inFlight.isEmpty || openGroup != nil }
    nonisolated let writeWakeups: AsyncStream<Void>
    nonisolated let writeWakeup: AsyncStream<Void>.Continuation

    /// Seconds a request record is kept for idempotency (`daemon.request_retention_days`).
    var requestRetention: Int64
    /// Seconds after it closed that a dispute is removed (`daemon.closed_retention_days`); 0 keeps them.
    var closedRetention: Int64
    /// When retention next looks for closed disputes to remove (``removeExpiredClosed()``).
    var nextRemovalAt: Int64 = .min

    /// Told when due timers start failing to commit and when they fire again.
    nonisolated let health: HealthSignal?

    init(store: DisputeStore, clock: DaemonClock, calendars: [String: BusinessCalendar], policy: DisputePolicy,
         spooler: Spooler, logger: Logger, requestRetentionDays: Int = Configuration.Daemon.defaultRequestRetentionDays,
         closedRetentionDays: Int = 0, health: HealthSignal? = nil) {
        self.health = health
        self.requestRetention = Int64(requestRetentionDays) * 86400
        self.closedRetention = Int64(closedRetentionDays) * 86400
        self.spooler = spooler
        (writeWakeups, writeWakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.store = store
        self.clock = clock
        self.calendars = calendars
        self.policy = policy
        self.logger = logger
        // The wheel counts from 1970; a system clock set before it (a host with
        // no clock battery and no NTP) starts it at 1970 instead of trapping:
        // nothing is due before then, and the wheel catches up when the clock does.
        self.wheel = TimerWheel(now: max(0, Self.seconds(clock.now)))
        for c in calendars.values { calendarsByVersion[c.version] = c }
    }

    /// Whole seconds, rounded down: a timer due at second s fires once the clock has reached s.
    static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }

    var now: Int64 { Self.seconds(clock.now) }

    /// Loads every pending timer into the wheel and fires those that fell due
    /// while the daemon was down, once each, in due order.
    ///
    /// After a long outage that can be many (hundreds of thousands, minutes of
    /// work): after the first 64 and then about once a second, `progress` is
    /// told how many of the overdue ones have been handled, so the daemon can
    /// show it and ask systemd for more time.
    @discardableResult
    public func recover(progress: @escaping (_ done: Int, _ overdue: Int) -> Void = { _, _ in }) throws -> (timers: Int, fired: Int) {
        let pending = try store.pendingTimerInstants()
        wheel.reserveCapacity(pending.count + 1024)
        handles.reserveCapacity(pending.count + 1024)
        let target = now
        var overdue = 0
        for t in pending {
            handles[t.id] = wheel.schedule(at: t.dueAt, payload: UInt64(t.id))
            if t.dueAt <= target { overdue += 1 }
        }
        // A stop (the task cancelled) ends the catch-up after the group being committed.
        let fired = try fireDue(upTo: target, progress: { progress($0, overdue) }, shouldStop: { Task.isCancelled })
        lastRecovery = (pending.count, fired)
        return lastRecovery
    }

    /// A new configuration: new policy for disputes opened from now on, new calendars.
    func reconfigure(calendars: [String: BusinessCalendar], policy: DisputePolicy, requestRetentionDays: Int, closedRetentionDays: Int) {
        self.calendars = calendars
        self.policy = policy
        self.requestRetention = Int64(requestRetentionDays) * 86400
        self.closedRetention = Int64(closedRetentionDays) * 86400
        nextRemovalAt = .min
        for c in calendars.values { calendarsByVersion[c.version] = c }
        // What holds timers back (a market without a calendar) is what a reload
        // mends: they are tried at the next tick, not a retry delay later (on a
        // simulated clock that delay would only pass with a clock advance).
        if !deferredTimers.isEmpty { retryDeferredAt = .min }
    }

    /// One turn of the tick loop: fire what is due by now, at most
    /// ``timersPerTurn`` of them; the next turn goes on with the rest.
    public func tick() throws -> Int {
        ticks &+= 1
        if batchInFlight { return 0 }  // the next tick fires them, after the commit
        let fired = try fireDue(upTo: now, limit: timersPerTurn)
        if fired < timersPerTurn { removeExpiredClosed() }
        return fired
    }

    /// Closed disputes removed per transaction of retention at most: a store
    /// that just turned retention on is worked off a turn of the tick loop at
    /// a time, requests and timers in between.
    var removalsPerTurn = 512
    /// Seconds between two looks for closed disputes to remove, once none is left.
    static let removalInterval: Int64 = 3600

    /// Retention (`daemon.closed_retention_days`, decision: the design keeps
    /// everything): removes the disputes that closed longer ago than that, with
    /// their timeline, timers and notices, a batch per turn, once an hour when
    /// there is nothing left. Only between group commits, as timers fire: a
    /// closed dispute takes no write but `notice.resend`, and one whose notice
    /// is not spooled yet stays until it is. Returns how many it removed.
    @discardableResult
    func removeExpiredClosed() -> Int {
        guard closedRetention > 0, now >= nextRemovalAt, !batchInFlight else { return 0 }
        // Not on a system clock set forward since the start: a removal cannot be undone.
        let closedBefore = Self.seconds(clock.nowNotAheadOfElapsed) - closedRetention
        do {
            let removed = try store.purgeClosed(closedBefore: closedBefore, limit: removalsPerTurn, at: now)
            nextRemovalAt = removed == removalsPerTurn ? now : now + Self.removalInterval
            if removed > 0 {
                logger.notice("closed disputes removed by retention", metadata: [
                    "count": "\(removed)", "closedBefore": "\(ZonedTime.isoUTC(closedBefore))"])
            }
            return removed
        } catch {
            nextRemovalAt = now + 60
            logger.error("removing closed disputes failed; retried in a minute", metadata: ["error": "\(error)"])
            return 0
        }
    }

    /// Due timers handled per turn of the tick loop (and between two group
    /// commits) at most: a deadline storm (every dispute opened on one day
    /// lapses at the same midnight) or a host resumed after a day asleep is
    /// worked off over several turns, about 2 s each here, so the watchdog
    /// sees the loop turn and requests get in between. Tests lower it.
    var timersPerTurn = 4096

    /// Fires every timer due at or before `target` (or the first `limit` of
    /// them), in due order, each applied at its due instant so that a chain of
    /// deadlines unfolds as it would have in real time. Returns how many fired.
    ///
    /// Timers that fall due together (every dispute opened on one day has its
    /// deadline at the same local midnight; an outage leaves many overdue) are
    /// committed together, up to ``firingGroupLimit`` per transaction: each is
    /// applied on top of the ones before it in the group, as if they had been
    /// committed one by one. A group ends early when a timer schedules another
    /// that is due already, so that one fires in its turn.
    ///
    /// A timer that fails to fire stays pending (the transaction that would have
    /// marked it fired did not commit) and is kept, so that it fires once the
    /// cause is gone, without waiting for a restart:
    /// - the store failed (a full disk, a lock held by another process): it and
    ///   the rest of its group are due at once and the error is thrown; the next
    ///   tick tries them first;
    /// - its dispute cannot be worked on (no calendar for its market since a
    ///   reload, a row this version cannot read): it is logged and set aside with
    ///   the others of its kind, in due order, and tried again ``retryDelay``
    ///   seconds later (before anything the wheel hands out), while the other
    ///   due timers go on firing.
    ///
    /// `shouldStop` is asked after each group committed; true ends the call
    /// there (the daemon is stopping during a catch-up): the timers not reached
    /// stay pending, due at the next start.
    ///
    /// A store failure is remembered (``firingFailure``, what `status` and its
    /// `--check` show) and logged when it begins or changes and then once a
    /// minute, not at every retry; the pass that commits again says so.
    @discardableResult
    func fireDue(upTo target: Int64, limit: Int = .max, progress: ((_ handled: Int) -> Void)? = nil,
                 shouldStop: () -> Bool = { false }) throws -> Int {
        let fired: Int
        do {
            fired = try fireDueGroups(upTo: target, limit: limit, progress: progress, shouldStop: shouldStop)
        } catch {
            recordFiringFailure(error)
            throw error
        }
        if let failure = firingFailure {
            firingFailure = nil
            health?.changed()
            logger.notice("due timers fire again", metadata: [
                "failingSince": "\(ZonedTime.isoUTC(failure.since))", "retries": "\(failure.retries)"])
        }
        return fired
    }

    /// While due timers cannot be committed because the store fails (a full
    /// disk, a damaged file, a lock held by another process): since when (the
    /// daemon's clock), why (the last error) and how often it was tried since.
    var firingFailure: (since: Int64, error: String, retries: Int)?
    /// When the failure was last logged.
    private var firingFailureLoggedAt: ContinuousClock.Instant?

    private func recordFiringFailure(_ error: any Error) {
        let message = store.explain(error)
        let previous = firingFailure
        let failure = (since: previous?.since ?? now, error: message, retries: previous.map { $0.retries + 1 } ?? 0)
        firingFailure = failure
        if previous == nil { health?.changed() }
        // A new error is logged at once; the same one again once a minute.
        let at = ContinuousClock.now
        if previous?.error != message || firingFailureLoggedAt.map({ at - $0 >= .seconds(60) }) ?? true {
            firingFailureLoggedAt = at
            logger.error("firing due timers failed; they stay pending and are tried again every second", metadata: [
                "error": "\(message)", "failingSince": "\(ZonedTime.isoUTC(failure.since))", "retries": "\(failure.retries)"])
        }
    }

    private func fireDueGroups(upTo target: Int64, limit: Int, progress: ((_ handled: Int) -> Void)?,
                               shouldStop: () -> Bool) throws -> Int {
        var fired = 0
        var handled = 0
        let reportEvery = Throttle(interval: .seconds(1))
        var retry: ArraySlice<ExpiredTimer> = []
        if target >= retryDeferredAt {
            retry = deferredTimers[...]
            deferredTimers = []
            retryDeferredAt = .max
        }
        var deferred: [ExpiredTimer] = []
        var group = FiringGroup()
        // Disputes as the groups committed before in this call left them: nothing
        // else writes while this runs (no suspension point), so a dispute whose
        // next timer fires later in a catch-up is not read and decoded again.
        var committed: [String: Dispute] = [:]
        defer {
            // Retries a store failure kept from being tried go first at the next tick.
            setAside(Array(retry), retryAt: target)
            setAside(deferred, retryAt: target + Self.retryDelay)
        }
        /// Nothing of the group was stored: its timers go back where they came from.
        func putBack(_ timers: [(timer: ExpiredTimer, wasSetAside: Bool)]) {
            for (timer, wasSetAside) in timers.reversed() {
                if wasSetAside {
                    retry.insert(timer, at: retry.startIndex)
                } else {
                    handles[Int64(timer.payload)] = wheel.schedule(at: timer.deadline, payload: timer.payload)
                }
            }
        }
        func commitGroup() throws {
            let current = group
            group = FiringGroup()
            guard !current.batches.isEmpty else { return }
            let results: [CommitResult]
            do {
                results = try store.commit(batches: current.batches)
            } catch {
                putBack(current.timers)
                throw error
            }
            for (batch, result) in zip(current.batches, results) {
                for m in batch.merchants { merchantCache[m.id] = m }
                afterCommit(result)
            }
            if committed.count > Self.committedDisputesKept { committed.removeAll(keepingCapacity: true) }
            committed.merge(current.disputes) { _, new in new }
            fired += current.batches.count
            for (dispute, kind) in current.lapsed {
                logger.notice("deadline lapsed", metadata: ["dispute": "\(dispute.id)", "merchant": "\(dispute.merchantID)",
                                                            "kind": "\(kind.rawValue)", "state": "\(dispute.stage.rawValue)"])
            }
        }
        while handled < limit {
            let expired: ExpiredTimer
            let wasSetAside = !retry.isEmpty
            if let first = retry.popFirst() {
                expired = first
            } else if let popped = wheel.popExpired(notAfter: target) {
                expired = popped
                handles[Int64(popped.payload)] = nil
            } else {
                break
            }
            handled += 1
            // Reported once early (after 64: a catch-up has begun) and then about once a
            // second; the clock is read only every 64th timer.
            if let progress, handled % 64 == 0, reportEvery.due() { progress(handled) }
            do {
                try addFiring(timer: Int64(expired.payload), upTo: target, to: &group, committed: committed)
                group.timers.append((expired, wasSetAside))
            } catch let error as ControlError {
                setAsideFailed(expired, because: error.message, into: &deferred)
            } catch let error as UnreadableRow {
                setAsideFailed(expired, because: "\(error)", into: &deferred)
            } catch {
                putBack(group.timers + [(expired, wasSetAside)])
                throw error
            }
            if group.endsHere || group.batches.count >= Self.firingGroupLimit {
                try commitGroup()
                if shouldStop() { break }
            }
        }
        try commitGroup()
        return fired
    }

    /// Timers committed together at most.
    static let firingGroupLimit = 256

    /// Disputes remembered across the groups of one ``fireDue(upTo:limit:progress:shouldStop:)``
    /// call (about 2 KiB each), then forgotten and read again.
    static let committedDisputesKept = 65_536

    /// Due timers being fired together: their batches in due order, and what
    /// they changed, which the later timers of the group must see.
    struct FiringGroup {
        var timers: [(timer: ExpiredTimer, wasSetAside: Bool)] = []
        var batches: [CommitBatch] = []
        var disputes: [String: Dispute] = [:]
        var cancelledKinds: [String: Set<TimerKind>] = [:]
        var lapsed: [(Dispute, TimerKind)] = []
        /// A timer of the group scheduled one that is due already.
        var endsHere = false
    }

    /// Seconds before a timer whose dispute could not be worked on is tried again.
    static let retryDelay: Int64 = 60

    private func setAsideFailed(_ timer: ExpiredTimer, because reason: String, into deferred: inout [ExpiredTimer]) {
        logger.error("timer cannot fire yet; it stays pending and is tried again", metadata: [
            "timer": "\(timer.payload)", "error": "\(reason)", "retryInSeconds": "\(Self.retryDelay)"])
        lastHoldReason = reason
        deferred.append(timer)
    }

    /// Keeps timers that could not fire, in due order, to be tried from `retryAt` on.
    private func setAside(_ timers: [ExpiredTimer], retryAt: Int64) {
        guard !timers.isEmpty else { return }
        deferredTimers.append(contentsOf: timers)
        deferredTimers.sort { ($0.deadline, $0.payload) < ($1.deadline, $1.payload) }
        retryDeferredAt = min(retryDeferredAt, retryAt)
    }

    /// Adds what one timer popped from the wheel does to the group, on top of
    /// what the group did before it; nothing if it is no longer pending
    /// (fired, cancelled, or cancelled by an earlier timer of the group) or its
    /// dispute is gone.
    private func addFiring(timer id: Int64, upTo target: Int64, to group: inout FiringGroup,
                           committed: [String: Dispute]) throws {
        guard let (row, stored) = try store.timerWithDispute(id, known: { group.disputes[$0] != nil || committed[$0] != nil }),
              row.state == "pending", group.cancelledKinds[row.disputeID]?.contains(row.kind) != true else { return }
        guard var dispute = group.disputes[row.disputeID] ?? committed[row.disputeID] ?? stored,
              let merchant = try cachedMerchant(dispute.merchantID) else {
            logger.error("timer refers to a missing dispute", metadata: ["timer": "\(id)", "dispute": "\(row.disputeID)"])
            return
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
        Self.attribute(&batch, to: Self.daemonActor)
        try Self.encodeBodies(&batch)
        group.disputes[dispute.id] = dispute
        for (disputeID, kinds) in batch.cancelTimers { group.cancelledKinds[disputeID, default: []].formUnion(kinds) }
        if batch.newTimers.contains(where: { $0.request.instant <= target }) { group.endsHere = true }
        if row.kind == .responseDeadline || row.kind == .evidenceDeadline || row.kind == .statementDeadline {
            group.lapsed.append((dispute, row.kind))
        }
        group.batches.append(batch)
    }

    /// A merchant from the cache the engine keeps in line with its commits, or read.
    func cachedMerchant(_ id: String) throws -> Merchant? {
        if let known = merchantCache[id] { return known }
        let stored = try store.merchant(id)
        if let stored { merchantCache[id] = stored }
        return stored
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

    /// Who the timeline names for what the daemon did by itself (a deadline lapsed).
    static let daemonActor = "disputed"

    /// Names `actor` as the maker of every timeline line of the batch.
    static func attribute(_ batch: inout CommitBatch, to actor: String) {
        for index in batch.timeline.indices { batch.timeline[index].entry.by = actor }
    }

    /// Encodes a batch's stored JSON with the fast encoder before it reaches the
    /// store (every batch the engine commits goes through here, so the store's
    /// Foundation fallback is never the hot path).
    static func encodeBodies(_ batch: inout CommitBatch) throws {
        try batch.encodeBodies(dispute: { try JSONValueEncoder.jsonText($0) },
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
        do {
            return (target, try fireDue(upTo: target))
        } catch {
            // The clock has moved: advancing again would move it further, not retry.
            throw ControlError(.internal, "the clock is now \(ZonedTime.isoUTC(target)), but the timers due by then did not all fire: "
                + "\(store.explain(error)); they stay pending and are tried again every second (advancing again would move the clock further)")
        }
    }

    var pendingTimerCount: Int { wheel.count + deferredTimers.count }

    /// Due timers set aside because their dispute cannot be worked on yet, and
    /// why the last of them could not fire (what `status` shows ops).
    var heldTimers: (count: Int, reason: String?) {
        deferredTimers.isEmpty ? (0, nil) : (deferredTimers.count, lastHoldReason)
    }
}
