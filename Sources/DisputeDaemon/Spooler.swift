import DisputeStore
import DisputeWorkflow
import Foundation
import Logging
import NoticeSpool
import ServiceLifecycle
import Synchronization

/// Writes committed e-mail notices into the spool, apart from the engine, so
/// that acknowledging a command waits for its commit only, never for mail files.
///
/// Woken after every commit that created e-mail notices; it works through the
/// outbox oldest first. A failed write (full disk, read-only spool) leaves the
/// row pending and is retried with back-off, 1 s doubling to 5 min.
public actor Spooler: Service {
    let store: DisputeStore
    let logger: Logger
    var dispatcher: NoticeDispatcher
    /// One daemon per spool: held before the spool is first written.
    nonisolated let lock = SpoolLock()
    /// The last failure, for `status`; nil once a write succeeds again.
    public private(set) var lastError: String?
    var backoff: Duration = .seconds(1)
    /// File writes and fsyncs block; they run on these threads, not on the
    /// cooperative pool that the engine and the control connections share:
    /// the passes before READY on `queue`, the passes while requests are
    /// served on `background`, at a lower CPU priority.
    private let queue = DispatchQueue(label: "disputed.spool")
    nonisolated let background = BackgroundThread(name: "disputed-spool")
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation

    /// Told when the spool starts failing and when it works again.
    nonisolated let health: HealthSignal?

    init(store: DisputeStore, dispatcher: NoticeDispatcher, logger: Logger, health: HealthSignal? = nil) {
        self.health = health
        self.store = store
        self.dispatcher = dispatcher
        self.logger = logger
        (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks for a pass over the outbox; calls coalesce.
    nonisolated func wake() { wakeup.yield() }

    /// Set by a reload while the spool fails: the next retry does not wait out its back-off.
    var retryRequested = false

    /// A new configuration. `systemctl reload` is also what ops run after
    /// mending a failing spool (remounted, space freed, moved elsewhere): the
    /// spool is then tried again within a second, its back-off started over,
    /// instead of after up to five minutes.
    func reconfigure(_ dispatcher: NoticeDispatcher) {
        self.dispatcher = dispatcher
        if lastError != nil {
            retryRequested = true
            backoff = .seconds(1)
        }
    }

    /// At start, before anything is written: takes the spool's lock, makes its
    /// directories and empties `tmp/`. False (the failure recorded) when the
    /// spool cannot be used yet (not mounted, full): the service's retries take
    /// it from there once the daemon runs. Throws only when another daemon
    /// holds the spool, which stops the start.
    func prepare() throws -> Bool {
        do {
            try lock.hold(dispatcher.writer.directory)
            let stale = try dispatcher.writer.prepare()
            if stale > 0 { logger.notice("removed stale spool files from tmp/", metadata: ["count": "\(stale)"]) }
            return true
        } catch {
            if case .spoolInUse? = error as? DaemonError { throw error }
            record("\(error)")
            return false
        }
    }

    /// At start, while the engine fires the timers that fell due during an
    /// outage: writes the notices the catch-up commits as they come, on the
    /// spool's own thread, so that what is left for the pass before READY is
    /// what the last moments added, not the whole catch-up's notices (after
    /// 31,000 overdue timers here: READY at 25 s one after the other).
    ///
    /// Begins once `begun` is set (the catch-up's first progress report), so a
    /// start with nothing overdue leaves any backlog to the pass before READY
    /// and its status; looks every 100 ms until `finished` is set. Stops after
    /// a failure: the spool's retries take over once the daemon runs.
    func writeAlongside(begun: Flag, finished: Flag) async {
        while !finished.isSet && lastError == nil {
            // A pass ends at its next batch once the catch-up is done: the pass
            // before READY takes over the rest, with its progress shown.
            if begun.isSet { await drain(until: finished, concurrency: Self.concurrentWrites) }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// At start, the last pass before READY: writes the backlog, unless the
    /// spool already failed at this start (then the retries take over).
    ///
    /// `progress` is told, after every batch made durable, how many notices this
    /// pass has written so far (from the spool's thread): a backlog of hundreds
    /// of thousands of notices (an outage with the spool unwritable, a long
    /// catch-up) takes minutes, and the daemon keeps systemd informed meanwhile.
    func recover(progress: @escaping @Sendable (_ written: Int) -> Void = { _ in }) async {
        guard lastError == nil else { return }
        await drain(concurrency: Self.concurrentWrites, progress: progress)
    }

    public func run() async throws {
        // A spool that failed before READY (not mounted, full) is retried from the
        // start, not only once a new notice happens to wake the spooler.
        if lastError != nil { wake() }
        try? await cancelWhenGracefulShutdown {
            for await _ in self.wakeups {
                await self.drain(inBackground: true)
                // After a failure, retry after the back-off even if nothing new arrives.
                while await self.lastError != nil, !Task.isCancelled {
                    try await self.waitBeforeRetry()
                    await self.drain(inBackground: true)
                }
            }
        }
    }

    /// Waits out the back-off a second at a time, so that a reload can cut it short.
    func waitBeforeRetry() async throws {
        var waited = Duration.zero
        while waited < backoff && !retryRequested {
            let step = min(.seconds(1), backoff - waited)
            try await Task.sleep(for: step)
            waited += step
        }
        retryRequested = false
    }

    /// Writes every pending e-mail notice; stops at the first failure.
    ///
    /// A retry after a failure first makes the spool's directories again (as
    /// at start): a `new/` or `tmp/` removed by hand, or a spool directory
    /// recreated empty, then heals by itself instead of failing until a restart.
    ///
    /// Cancelled (the daemon is stopping), it stops at the next batch boundary:
    /// what is written is recorded, the rest stays in the outbox for the drain
    /// before the next READY, so a large backlog does not hold up a stop.
    ///
    /// `until`, once set, ends the pass at its next batch boundary too.
    ///
    /// `concurrency` files are written at a time (see ``concurrentWrites``).
    /// `inBackground`, the pass runs on the spooler's thread of lower CPU
    /// priority (``BackgroundThread``): for the passes while requests are served.
    func drain(until: Flag? = nil, concurrency: Int = 1, inBackground: Bool = false,
               progress: @escaping @Sendable (_ written: Int) -> Void = { _ in }) async {
        let (store, dispatcher, logger, lock) = (self.store, self.dispatcher, self.logger, self.lock)
        let retrying = lastError != nil
        let stop = Flag()
        let failure: String? = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let pass: @Sendable () -> Void = {
                    if retrying {
                        do {
                            // A spool that could not be made at start is locked before its first file.
                            try lock.hold(dispatcher.writer.directory)
                            try dispatcher.writer.prepare()
                        } catch {
                            continuation.resume(returning: "\(error)")
                            return
                        }
                    }
                    continuation.resume(returning: Self.writePending(store: store, dispatcher: dispatcher, logger: logger, concurrency: concurrency,
                                                                     shouldStop: { stop.isSet || until?.isSet == true }, progress: progress))
                }
                if inBackground { background.async(pass) } else { queue.async(execute: pass) }
            }
        } onCancel: {
            stop.set()
        }
        if let failure {
            record(failure)
        } else if lastError != nil {
            logger.notice("spool writable again")
            lastError = nil
            health?.changed()
            backoff = .seconds(1)
        }
    }

    /// Notices written between two directory fsyncs and outbox updates.
    static let batchSize = 64

    /// Files of a batch rendered and written at once, each on its own thread,
    /// by the passes before READY: the backlog an outage left and the notices
    /// of its catch-up, which hold up the daemon's start. Each file still gets
    /// its own fsync before its rename; on a journaling file system (ext4, XFS:
    /// what a server's /var is) fsyncs that overlap share the journal's
    /// commits, so eight at once write several times faster than one after the
    /// other (measured on ext4 with a journal: 1,000–1,700 files/s one at a
    /// time, 5,400–5,600 eight at a time; the start after 20,000 overdue timers
    /// took half the time). Once the daemon serves requests the spooler writes
    /// one file at a time: eight at once took CPU from the requests, and
    /// `ingest.dispute-open` fell by a fifth on two cores.
    static let concurrentWrites = ConcurrentWrites.maximumThreads

    /// What writing one notice came to: written (true), found already spooled
    /// (false), or the error.
    typealias WriteOutcome = Result<Bool, any Error>

    /// A notice without a merchant to send it to.
    struct NoMerchant: Error, CustomStringConvertible {
        let noticeID: String
        var description: String { "notice \(noticeID) belongs to no dispute with a merchant" }
    }

    /// Whether `error` is the notice's own: its merchant's address cannot head
    /// a message, its id cannot name a file, it has no merchant. Writing it
    /// again fails the same way however the spool fares, so it is named and
    /// passed over, and the notices behind it go out; anything else (a full or
    /// read-only disk, a missing directory) ends the pass, to be retried.
    nonisolated static func isTheNoticesOwn(_ error: any Error) -> Bool {
        error is MailError || error is NoMerchant || (error as? SpoolError)?.isUnsafeID == true
    }

    /// Renders and writes `notices` into the spool (tmp/, fsync, rename into
    /// new/; new/ itself not synced), `concurrency` at once (on this thread
    /// when 1), and waits for all of them: one outcome per notice, in their
    /// order. A notice whose dispute has no merchant in `merchants` fails, naming it.
    nonisolated static func writeFiles(_ notices: [StoredNotice], merchants: [String: Merchant],
                                       dispatcher: NoticeDispatcher, concurrency: Int) -> [WriteOutcome] {
        ConcurrentWrites.map(count: notices.count, threads: concurrency) { i in
            let notice = notices[i]
            return WriteOutcome {
                guard let merchant = merchants[notice.disputeID] else { throw NoMerchant(noticeID: notice.id) }
                let bytes = try dispatcher.message(notice, merchant: merchant)
                return try dispatcher.writer.write(noticeID: notice.id, bytes: bytes, syncDirectory: false)
            }
        }
    }

    /// The blocking part: returns the first failure, or nil when the outbox is empty.
    ///
    /// A backlog goes out in batches: each file is written, fsynced and renamed
    /// into `new/` (`concurrency` files at a time), then one fsync of `new/`
    /// makes the batch durable and one transaction marks its rows spooled. A
    /// row is never marked before its file is durable; a crash in between
    /// leaves rows pending whose files may be in `new/` already, and the
    /// rename-without-replace finds them on the next pass (exactly one file per
    /// notice). Fewer transactions also leave the store's writer to the
    /// engine's group commits.
    ///
    /// `shouldStop` is asked after every batch made durable; true ends the pass
    /// there, with no failure (the rest stays pending). `progress` is told the
    /// number of notices written and recorded so far, after every such batch.
    nonisolated static func writePending(store: DisputeStore, dispatcher: NoticeDispatcher, logger: Logger,
                                         concurrency: Int = 1, pageSize: Int = 1024, shouldStop: () -> Bool = { false },
                                         progress: (_ written: Int) -> Void = { _ in }) -> String? {
        var batch: [StoredNotice] = []
        var written = 0
        var failure: String? = nil
        var unreadable: [UnreadableRow] = []
        /// Notices passed over for a fault of their own (``isTheNoticesOwn(_:)``).
        var unwritable: [String] = []

        /// Makes the batch durable and records it; false (and `failure` set) if that fails.
        func settle() -> Bool {
            guard !batch.isEmpty else { return true }
            do {
                try dispatcher.writer.syncDirectory()
                try store.markSpooled(batch, at: Int64(Date().timeIntervalSince1970))
            } catch {
                failure = failure ?? "\(batch[0].id) and \(batch.count - 1) more: \(store.explain(error))"
                return false
            }
            for notice in batch {
                logger.info("notice spooled", metadata: ["dispute": "\(notice.disputeID)", "notice": "\(notice.id)", "kind": "\(notice.kind.rawValue)"])
            }
            written += batch.count
            batch.removeAll(keepingCapacity: true)
            progress(written)
            return true
        }

        // A page of the outbox at a time, oldest first; notices committed during
        // the pass come in later pages.
        var cursor: Int64? = 0
        while let after = cursor {
            let page: (notices: [StoredNotice], unreadable: [UnreadableRow], next: Int64?)
            do {
                page = try store.pendingNotices(after: after, limit: pageSize)
            } catch {
                _ = settle()
                return failure ?? "reading the outbox: \(store.explain(error))"
            }
            unreadable += page.unreadable
            cursor = page.next
            // The merchants of the page's disputes, read in one transaction.
            let merchants: [String: Merchant]
            do {
                merchants = try store.merchants(ofDisputes: page.notices.lazy.filter { $0.channel == .email }.map(\.disputeID))
            } catch {
                _ = settle()
                return failure ?? "reading the merchants of \(page.notices.count) pending notices: \(store.explain(error))"
            }
            let email = page.notices.filter { $0.channel == .email }
            for start in stride(from: 0, to: email.count, by: batchSize) {
                let chunk = Array(email[start..<min(start + batchSize, email.count)])
                var firstError: String? = nil
                for (notice, outcome) in zip(chunk, writeFiles(chunk, merchants: merchants, dispatcher: dispatcher, concurrency: concurrency)) {
                    switch outcome {
                    case .success(let fresh):
                        if !fresh {
                            logger.info("notice already in the spool; outbox row repaired", metadata: ["dispute": "\(notice.disputeID)", "notice": "\(notice.id)"])
                        }
                        batch.append(notice)
                    case .failure(let error) where isTheNoticesOwn(error):
                        unwritable.append("\(notice.id) cannot be written: \(error)")
                    case .failure(let error):
                        firstError = firstError ?? "\(notice.id): \(error)"
                    }
                }
                if let firstError {
                    // Whatever was written is still made durable and recorded; the
                    // first failure in outbox order is the one named.
                    _ = settle()
                    return failure ?? firstError
                }
                guard settle() else { return failure }
                if shouldStop() { return nil }
            }
        }
        // Every other notice went out (each batch is settled as it ends); the
        // unreadable and unwritable ones stay pending, named (the first of them,
        // and how many more).
        let held = unreadable.map { "\($0)" } + unwritable
        if let first = held.first {
            return first + (held.count > 1 ? " (and \(held.count - 1) more outbox rows)" : "")
        }
        return nil
    }

    func record(_ message: String) {
        if lastError != nil { backoff = min(backoff * 2, .seconds(300)) }
        logger.error("spool write failed; the notice stays in the outbox and is retried", metadata: [
            "error": "\(message)", "retryInSeconds": "\(backoff.components.seconds)"])
        if lastError == nil { health?.changed() }
        lastError = message
    }
}

/// A flag set once and read from any thread: a spool pass that should end
/// early, a catch-up that has begun or finished.
final class Flag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}
