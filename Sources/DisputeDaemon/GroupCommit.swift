import ControlProtocol
import DisputeStore
import DisputeWorkflow
import Logging
import ServiceLifecycle
import Synchronization

/// Group commit: write requests that arrive while a commit is in flight are
/// applied one after the other, in arrival order, into one transaction, and
/// answered together once it is durable. One fsync then acknowledges many
/// requests.
extension Engine {
    /// The requests of the group being built and what they changed so far, so
    /// that a later request in the same group sees an earlier one's effect.
    struct Group {
        var batches: [CommitBatch] = []
        var disputes: [String: Dispute] = [:]
        var merchants: [String: Merchant] = [:]
        var requests: [String: RequestRecord] = [:]
        /// The disputes opened in this group, by order (``Engine/openDisputes(on:)``).
        var opened: [OrderKey: [String]] = [:]
        /// The journal lines of its writes, logged once it is stored.
        var journal: [(Logger.Message, Logger.Metadata)] = []
        /// What the store held, read in one transaction for each batch of
        /// requests before they are handled into the group
        /// (``Engine/prefetch(_:)``): stored answers of their request ids,
        /// which of their new dispute ids are taken and the open disputes of
        /// the orders they open disputes on. An id or order not among the
        /// looked-up ones was not asked about and is read on its own.
        var stored = Prefetched()
    }

    struct Prefetched {
        var lookedUpRequests: Set<String> = []
        var requests: [String: RequestRecord] = [:]
        var lookedUpDisputes: Set<String> = []
        var disputes: Set<String> = []
        /// Every order looked up has an entry (empty when none is open).
        var orders: [OrderKey: [Dispute]] = [:]

        /// Adds what a later read found (for requests handled into the same group).
        mutating func merge(_ other: Prefetched) {
            lookedUpRequests.formUnion(other.lookedUpRequests)
            requests.merge(other.requests) { _, new in new }
            lookedUpDisputes.formUnion(other.lookedUpDisputes)
            disputes.formUnion(other.disputes)
            orders.merge(other.orders) { _, new in new }
        }
    }

    /// Reads, in one transaction, what the group's requests will ask the store:
    /// whether each request id was answered before, whether each id a
    /// `dispute.open` names is taken, and which disputes are open on the order
    /// it names. Nothing but the engine writes, and the groups in flight are
    /// consulted before these answers (``unconfirmed``, ``openDisputes(on:)``),
    /// so they stay right while the group is built; a group that lands takes
    /// its changes out of that view once they are in the store, so a later
    /// batch's read finds them there. A barrier request starts a new group,
    /// which drops them.
    func prefetch(_ items: [QueuedWrite]) -> Prefetched {
        var requestIDs: [String] = []
        var disputeIDs: [String] = []
        var orders: [OrderKey] = []
        for item in items where item.operation.isWrite && item.operation != .clockAdvance {
            requestIDs.append(item.request.id)
            guard item.operation == .disputeOpen, case let .object(args) = item.request.args else { continue }
            if case let .string(id)? = args["id"] { disputeIDs.append(id) }
            if case let .string(merchant)? = args["merchant"], case let .string(order)? = args["order"] {
                orders.append(OrderKey(merchantID: merchant, order: order))
            }
        }
        guard !requestIDs.isEmpty, let found = try? store.lookUp(requestIDs: requestIDs, disputeIDs: disputeIDs, orders: orders)
        else { return Prefetched() }
        return Prefetched(lookedUpRequests: Set(requestIDs), requests: found.requests,
                          lookedUpDisputes: Set(disputeIDs), disputes: found.disputes, orders: found.orders)
    }

    /// The stored answer of a request id, from the group's prefetch when it was asked about.
    func storedRequest(_ id: String) throws -> RequestRecord? {
        if let stored = group?.stored, stored.lookedUpRequests.contains(id) { return stored.requests[id] }
        return try store.request(id)
    }

    /// Whether a dispute id is stored, from the group's prefetch when it was asked about.
    func storedDisputeExists(_ id: String) throws -> Bool {
        if let stored = group?.stored, stored.lookedUpDisputes.contains(id) { return stored.disputes.contains(id) }
        return try store.disputeExists(id)
    }

    /// The disputes of a merchant's order that are not closed, oldest first:
    /// the stored ones (from the group's prefetch when it was asked about) as
    /// the groups in flight and the group being built left them, and those
    /// these groups opened.
    func openDisputes(on key: OrderKey) throws -> [Dispute] {
        let stored = try group?.stored.orders[key] ?? store.openDisputes(on: key)
        guard let group else { return stored }
        let opened = inFlight.filter { $0.epoch == commitEpoch }.flatMap { $0.group.opened[key] ?? [] } + (group.opened[key] ?? [])
        var seen = Set<String>()
        var disputes: [Dispute] = []
        for d in stored where seen.insert(d.id).inserted { disputes.append(unconfirmed(\.disputes, d.id) ?? d) }
        for id in opened where seen.insert(id).inserted {
            if let d = unconfirmed(\.disputes, id) { disputes.append(d) }
        }
        return disputes.filter { $0.stage != .closed }.sorted { ($0.openedAt, $0.id) < ($1.openedAt, $1.id) }
    }

    struct QueuedWrite {
        let request: ControlRequest
        let operation: ControlOperation
        /// Who asked (``Engine/handle(_:_:by:)``).
        let actor: String
        let continuation: CheckedContinuation<ControlResponse, Never>
    }

    /// Queues a write request by `actor`; answers once its group is committed.
    func submit(_ request: ControlRequest, _ operation: ControlOperation, by actor: String) async -> ControlResponse {
        await withCheckedContinuation { continuation in
            queuedWrites.append(QueuedWrite(request: request, operation: operation, actor: actor, continuation: continuation))
            if case .terminated = writeWakeup.yield() {
                // Shutting down: the committer is gone, so refuse rather than wait forever.
                queuedWrites.removeLast()
                continuation.resume(returning: .failure(id: request.id, ControlError(.unavailable, "disputed is shutting down; retry with the same request id")))
            }
        }
    }

    /// Operations that read or change state outside a single request's batch
    /// (the clock, every dispute of an order) run alone, between groups.
    static func isBarrier(_ op: ControlOperation) -> Bool {
        op == .clockAdvance || op == .orderRefunded || op == .orderCancelled
    }

    /// A group being built while the ones before it are written: what it
    /// changed so far and the answers it owes, sent once it is durable.
    struct OpenGroup {
        var group: Group
        var answered: [(CheckedContinuation<ControlResponse, Never>, ControlResponse)] = []
    }

    /// Groups handed to the store at once: one being written, one waiting
    /// behind it, so the store's writer goes from one group to the next
    /// without waiting for the actor (which, when a group lands, is busy with
    /// its requests' answers and the next requests).
    static let groupsInFlight = 2

    /// One turn of the committer, run on every wakeup: a write queued, a commit
    /// landed. Pipelined: while groups are being written and synced, the open
    /// group takes in every write that arrives, so the actor's work and the
    /// store's overlap instead of taking turns; the open group goes to the
    /// store as soon as fewer than ``groupsInFlight`` are under way.
    ///
    /// If a commit fails, the groups built on top of it are refused too: their
    /// answers assumed changes that were not stored.
    func advanceWrites() async {
        // Let the submissions that queued up behind this wakeup in first.
        await Task.yield()
        landFinished()
        if inFlight.isEmpty && openGroup == nil, let due = wheel.nextExpirationBound(), due <= now {
            // Timers must not starve under a steady stream of writes: they apply
            // between groups, once nothing is in flight or being built.
            // A store failure is logged and shown by fireDue; the tick loop retries.
            _ = try? fireDue(upTo: now, limit: timersPerTurn)
        }
        // Due timers wait for the pipeline to empty: no new group is opened
        // meanwhile (one already open still takes writes and goes out).
        let timersWaiting = wheel.nextExpirationBound().map { $0 <= now } ?? false
        if !(timersWaiting && openGroup == nil && !inFlight.isEmpty) { await buildQueuedWrites() }
        handOffOpenGroup()
    }

    /// Applies every queued write to the open group (opening one if needed). A
    /// barrier operation first lets everything before it become durable, then
    /// runs alone.
    func buildQueuedWrites() async {
        while !queuedWrites.isEmpty {
            let items = queuedWrites
            queuedWrites = []
            var index = items.startIndex
            while index < items.endIndex {
                let barrier = items[index...].firstIndex { Self.isBarrier($0.operation) } ?? items.endIndex
                if index < barrier { build(items[index..<barrier]) }
                guard barrier < items.endIndex else { break }
                // Runs alone: everything before it is durable first.
                await drainPipeline()
                let item = items[barrier]
                item.continuation.resume(returning: handle(item.request, item.operation, by: item.actor))
                index = barrier + 1
            }
        }
    }

    /// Handles `items` into the open group, reading what they ask of the store
    /// in one transaction first.
    func build(_ items: ArraySlice<QueuedWrite>) {
        var open = openGroup ?? OpenGroup(group: Group())
        // Read now, after the groups landed so far: fresher than what earlier
        // requests of this group were told, and those groups' changes are in
        // the store by now.
        open.group.stored.merge(prefetch(Array(items)))
        // `group` is set only while requests are handled into it: a read handled
        // in between (the actor is free while commits are awaited) sees
        // committed state only.
        group = open.group
        for item in items {
            open.answered.append((item.continuation, handle(item.request, item.operation, by: item.actor)))
        }
        open.group = group ?? open.group
        group = nil
        openGroup = open
    }

    /// Hands the open group, if any, to the store unless enough are under way.
    func handOffOpenGroup() {
        guard inFlight.count < Self.groupsInFlight, let open = openGroup else { return }
        openGroup = nil
        inFlight.append(start(open.group, open.answered))
    }

    /// At shutdown: commits and answers every write queued or under way.
    func finishWrites() async {
        while !queuedWrites.isEmpty || !inFlight.isEmpty || openGroup != nil {
            await buildQueuedWrites()
            await drainPipeline()
        }
    }

    /// Waits until nothing is in flight and no group is open: the open group
    /// is committed too.
    func drainPipeline() async {
        while true {
            handOffOpenGroup()
            guard let first = inFlight.first else { return }
            await first.outcome.wait()
            landFinished()
        }
    }

    /// A group handed to the store and not yet landed.
    struct InFlight {
        /// What it changes, which groups built after it read through ``unconfirmed(_:_:)``.
        let group: Group
        let outcome: CommitOutcome
        /// The ``commitEpoch`` it was built in: once a commit of that epoch has
        /// failed, the store refuses it and nothing built later may read it.
        let epoch: Int
    }

    /// A commit's outcome, told by the store's writer thread, awaited by the actor.
    final class CommitOutcome: Sendable {
        private struct State {
            var result: Result<[CommitResult], any Error>?
            var waiters: [CheckedContinuation<Void, Never>] = []
        }
        private let state = Mutex(State())

        var result: Result<[CommitResult], any Error>? { state.withLock { $0.result } }

        func set(_ result: Result<[CommitResult], any Error>) {
            let waiters = state.withLock { state in
                state.result = result
                defer { state.waiters = [] }
                return state.waiters
            }
            for w in waiters { w.resume() }
        }

        func wait() async {
            await withCheckedContinuation { continuation in
                let known = state.withLock { state in
                    if state.result == nil { state.waiters.append(continuation) }
                    return state.result != nil
                }
                if known { continuation.resume() }
            }
        }
    }

    /// The epoch of the group commit that failed last, set on the store's
    /// writer thread and read there before each group.
    final class FailedEpoch: Sendable {
        private let epoch = Atomic<Int>(-1)
        var value: Int { epoch.load(ordering: .sequentiallyConsistent) }
        func set(_ value: Int) { epoch.store(value, ordering: .sequentiallyConsistent) }
    }

    /// A group not written because one enqueued before it failed.
    struct BuiltOnFailedCommit: Error, CustomStringConvertible {
        var description: String { "the commit before it failed" }
    }

    /// Hands a built group to the store's writer without waiting for it. Its
    /// requests are answered the moment the commit is durable (on the writer's
    /// thread, not when the engine next looks), so their clients can send
    /// their next request while the engine is still building the next group;
    /// then the committer is woken to land it.
    func start(_ built: Group, _ answered: [(CheckedContinuation<ControlResponse, Never>, ControlResponse)]) -> InFlight {
        let outcome = CommitOutcome()
        let wakeup = writeWakeup
        let epoch = commitEpoch
        let failedEpoch = self.failedEpoch
        let store = self.store
        let batches = built.batches
        let finish: @Sendable (Result<[CommitResult], any Error>) -> Void = { result in
            switch result {
            case .success:
                for (continuation, response) in answered { continuation.resume(returning: response) }
            case let .failure(error):
                // Groups enqueued behind this one were built on it: the writer refuses them.
                if !(error is BuiltOnFailedCommit) { failedEpoch.set(epoch) }
                Self.refuse(answered, becauseOf: error is BuiltOnFailedCommit ? "\(error)" : "the commit failed (\(store.explain(error)))")
            }
            outcome.set(result)
            wakeup.yield()
        }
        if batches.isEmpty {
            finish(.success([]))
        } else {
            store.enqueueCommit(group: batches, refusal: {
                failedEpoch.value == epoch ? BuiltOnFailedCommit() : nil
            }, completion: finish)
        }
        return InFlight(group: built, outcome: outcome, epoch: epoch)
    }

    /// Lands the groups whose commits are done, oldest first, and brings the
    /// wheel and caches in line with them. After a failed one (its requests
    /// were refused, nothing of them stored) the open group, built on top of
    /// it, is refused too, and groups built from then on are written again.
    func landFinished() {
        while let first = inFlight.first, let result = first.outcome.result {
            inFlight.removeFirst()
            switch result {
            case let .success(results):
                for result in results { afterCommit(result) }
                for m in first.group.merchants.values { merchantCache[m.id] = m }
                logJournal(first.group.journal)
            case .failure(is BuiltOnFailedCommit):
                // Refused by the writer behind a failed commit, which landed
                // before it and moved the epoch on already.
                continue
            case let .failure(error):
                logger.error("group commit failed; its requests are refused and nothing of them is stored",
                             metadata: ["error": "\(store.explain(error))"])
                commitEpoch += 1
                if let open = openGroup {
                    openGroup = nil
                    Self.refuse(open.answered, becauseOf: "the commit before it failed")
                }
            }
        }
    }

    /// Answers a group's successful responses with `unavailable` (retry with the same id).
    nonisolated static func refuse(_ answered: [(CheckedContinuation<ControlResponse, Never>, ControlResponse)], becauseOf reason: String) {
        for (continuation, response) in answered {
            continuation.resume(returning: response.ok
                ? .failure(id: response.id, ControlError(.unavailable, "not stored, \(reason); retry with the same request id"))
                : response)
        }
    }
}

/// Runs the engine's group commits.
struct WriteCommitter: Service {
    let engine: Engine

    func run() async throws {
        await withGracefulShutdownHandler {
            for await _ in engine.writeWakeups {
                await engine.advanceWrites()
            }
            // Requests already queued and the groups under way are committed and
            // answered before the service ends.
            await engine.finishWrites()
        } onGracefulShutdown: {
            // Requests already queued are committed and answered before the stream ends.
            engine.writeWakeup.finish()
        }
    }
}

