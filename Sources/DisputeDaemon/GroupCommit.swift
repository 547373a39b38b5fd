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

    /// Drains the queue in groups until it is empty.
    func commitQueuedWrites() async {
        while !queuedWrites.isEmpty {
            let items = queuedWrites
            queuedWrites = []
            batchInFlight = true
            var answered: [(CheckedContinuation<ControlResponse, Never>, ControlResponse)] = []
            group = Group()
            for item in items {
                if Self.isBarrier(item.operation) {
                    await flushGroup(&answered)
                    group = nil
                    item.continuation.resume(returning: handle(item.request, item.operation))
                    group = Group()
                } else {
                    answered.append((item.continuation, handle(item.request, item.operation)))
                }
            }
            await flushGroup(&answered)
            group = nil
            batchInFlight = false
        }
    }

    /// Commits the group built so far and answers its requests.
    func flushGroup(_ answered: inout [(CheckedContinuation<ControlResponse, Never>, ControlResponse)]) async {
        let batches = group?.batches ?? []
        group = Group()
        if !batches.isEmpty {
            do {
                let started = ContinuousClock.now
                let results = try await store.commit(group: batches)
                logger.trace("group committed", metadata: ["requests": "\(batches.count)", "duration": "\(ContinuousClock.now - started)"])
                for result in results { afterCommit(result) }
            } catch {
                logger.error("group commit failed; its requests are refused and nothing of them is stored", metadata: ["error": "\(error)"])
                answered = answered.map { continuation, response in
                    response.ok ? (continuation, .failure(id: response.id, ControlError(.unavailable, "not stored, the commit failed (\(error)); retry with the same request id"))) : (continuation, response)
                }
            }
        }
        for (continuation, response) in answered { continuation.resume(returning: response) }
        answered = []
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
