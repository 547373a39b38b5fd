import ControlProtocol
import DisputeStore
import DisputeWorkflow
import ServiceLifecycle

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
        /// What the store held, read once for the whole group before its
        /// requests run (``Engine/prefetch(_:)``): stored answers of the group's
        /// request ids and which of its new dispute ids are taken. An id not
        /// among the looked-up ones was not asked about and is read on its own.
        var stored = Prefetched()
    }

    struct Prefetched {
        var lookedUpRequests: Set<String> = []
        var requests: [String: RequestRecord] = [:]
        var lookedUpDisputes: Set<String> = []
        var disputes: Set<String> = []
    }

    /// Reads, in one transaction, what the group's requests will ask the store:
    /// whether each request id was answered before, and whether each id a
    /// `dispute.open` names is taken. Nothing but the engine writes, and the
    /// group in flight is consulted before these answers (``unconfirmed``), so
    /// they stay right while the group is built. A barrier request starts a
    /// new group, which drops them.
    func prefetch(_ items: [QueuedWrite]) -> Prefetched {
        var requestIDs: [String] = []
        var disputeIDs: [String] = []
        for item in items where item.operation.isWrite && item.operation != .clockAdvance {
            requestIDs.append(item.request.id)
            if item.operation == .disputeOpen, case let .object(args) = item.request.args, case let .string(id)? = args["id"] {
                disputeIDs.append(id)
            }
        }
        guard !requestIDs.isEmpty, let found = try? store.lookUp(requestIDs: requestIDs, disputeIDs: disputeIDs) else { return Prefetched() }
        return Prefetched(lookedUpRequests: Set(requestIDs), requests: found.requests,
                          lookedUpDisputes: Set(disputeIDs), disputes: found.disputes)
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

    struct QueuedWrite {
        let request: ControlRequest
        let operation: ControlOperation
        let continuation: CheckedContinuation<ControlResponse, Never>
    }

    /// Queues a write request; answers once its group is committed.
    func submit(_ request: ControlRequest, _ operation: ControlOperation) async -> ControlResponse {
        await withCheckedContinuation { continuation in
            queuedWrites.append(QueuedWrite(request: request, operation: operation, continuation: continuation))
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

    /// Drains the queue in groups until it is empty, pipelined: while one
    /// group's transaction is being written and synced, the next group is built
    /// on top of it (its lookups see the group in flight through
    /// ``committing``), then committed once the first is durable. So the
    /// actor's work and the disk's overlap instead of taking turns.
    ///
    /// If a commit fails, the group built on top of it is refused too: its
    /// answers assumed changes that were not stored.
    func commitQueuedWrites() async {
        batchInFlight = true
        defer { batchInFlight = false }
        var inFlight: InFlight? = nil
        while !queuedWrites.isEmpty || inFlight != nil {
            // Let the submissions that queued up behind the group just built
            // (they need the actor to enqueue) in before deciding what to do next.
            await Task.yield()
            if queuedWrites.isEmpty {
                _ = await land(&inFlight)
                continue
            }
            if let due = wheel.nextExpirationBound(), due <= now {
                // Timers must not starve under a steady stream of writes: they
                // apply between groups, once nothing is in flight.
                _ = await land(&inFlight)
                do { try fireDue(upTo: now, limit: timersPerTurn) } catch {
                    logger.error("firing due timers failed; the tick loop retries", metadata: ["error": "\(error)"])
                }
            }
            let items = queuedWrites
            queuedWrites = []
            var answered: [(CheckedContinuation<ControlResponse, Never>, ControlResponse)] = []
            group = Group(stored: prefetch(items))
            for item in items {
                if Self.isBarrier(item.operation) {
                    // Runs alone: everything before it is durable first.
                    await commitBuiltGroup(answered, after: &inFlight)
                    answered = []
                    _ = await land(&inFlight)
                    item.continuation.resume(returning: handle(item.request, item.operation))
                    group = Group()
                } else {
                    answered.append((item.continuation, handle(item.request, item.operation)))
                }
            }
            await commitBuiltGroup(answered, after: &inFlight)
        }
    }

    /// Hands the group built so far to the store once the group in flight is
    /// durable; refuses it if that commit failed.
    func commitBuiltGroup(_ answered: [(CheckedContinuation<ControlResponse, Never>, ControlResponse)], after inFlight: inout InFlight?) async {
        let built = group ?? Group()
        group = nil
        if await land(&inFlight) {
            inFlight = start(built, answered)
        } else {
            Self.refuse(answered, becauseOf: "the commit before it failed")
        }
    }

    /// A group handed to the store and not yet durable.
    struct InFlight {
        let commit: Task<Result<[CommitResult], any Error>, Never>
    }

    /// Hands a built group to the store's writer without waiting for it. Its
    /// requests are answered the moment the commit is durable (by the commit
    /// task itself, not when the engine next looks), so their clients can send
    /// their next request while the engine is still building the next group.
    func start(_ built: Group, _ answered: [(CheckedContinuation<ControlResponse, Never>, ControlResponse)]) -> InFlight {
        committing = built
        let store = self.store
        let batches = built.batches
        let commit = Task<Result<[CommitResult], any Error>, Never> {
            let outcome: Result<[CommitResult], any Error>
            if batches.isEmpty {
                outcome = .success([])
            } else {
                do { outcome = .success(try await store.commit(group: batches)) } catch { outcome = .failure(error) }
            }
            switch outcome {
            case .success:
                for (continuation, response) in answered { continuation.resume(returning: response) }
            case let .failure(error):
                Self.refuse(answered, becauseOf: "the commit failed (\(error))")
            }
            return outcome
        }
        return InFlight(commit: commit)
    }

    /// Waits for the group in flight, if any, and brings the wheel and caches in
    /// line with it; true unless its commit failed (its requests were refused,
    /// nothing of them stored).
    func land(_ inFlight: inout InFlight?) async -> Bool {
        guard let current = inFlight else { return true }
        inFlight = nil
        let outcome = await current.commit.value
        let landed = committing
        committing = nil
        switch outcome {
        case let .success(results):
            for result in results { afterCommit(result) }
            if let landed { for m in landed.merchants.values { merchantCache[m.id] = m } }
            return true
        case let .failure(error):
            logger.error("group commit failed; its requests are refused and nothing of them is stored", metadata: ["error": "\(error)"])
            return false
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
                await engine.commitQueuedWrites()
            }
        } onGracefulShutdown: {
            // Requests already queued are committed and answered before the stream ends.
            engine.writeWakeup.finish()
        }
    }
}
