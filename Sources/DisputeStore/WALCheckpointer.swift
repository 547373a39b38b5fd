import Dispatch
import Foundation
import GRDB
import Synchronization

/// Copies committed WAL frames into the database file on a connection and a
/// thread of its own, so that the writer does not.
///
/// SQLite's own auto-checkpoint runs inside the commit that crosses its
/// threshold: that commit (and every request waiting on it) pays for copying
/// about a thousand pages and two fsyncs. Here each commit only schedules a
/// passive checkpoint on this connection; a passive checkpoint takes no lock the
/// writer needs, so commits go on while it copies. Commits that land while a
/// pass is waiting to run share that pass.
///
/// Copying alone does not shrink the WAL: it is only reused from its start
/// once every frame is copied, which a pass from here never sees while commits
/// keep coming. Past ``writerFrames`` the pass hands the last frames to the
/// writer's connection, between two commits. The writer also keeps an
/// auto-checkpoint of its own (``DisputeStore/writerCheckpointPages``) should
/// this checkpointer fail.
///
/// A pass waits ``defaultGather`` after the commit that asked for it, so that
/// the commits of that interval share it: under load a group commit lands
/// every few milliseconds, and a pass after each one copied the same hot
/// pages (the right-hand ends of the indexes) into the database file again
/// and again, with two fsyncs each time. Measured with the ingest benchmark:
/// 57 KiB written to disk per opened dispute with a pass per commit, 38 KiB
/// with passes gathered over 100 ms; the WAL holds at most a few more MiB.
///
/// The checkpoint runs with the store's `synchronous=FULL`: the WAL is synced
/// before frames are copied and the database after, before the WAL may be
/// reused, exactly as when the writer checkpoints.
final class WALCheckpointer: Sendable {
    /// WAL frames (4 KiB pages) past which the writer copies the last frames
    /// itself so the WAL starts over: under load the WAL stays near 8 MiB.
    static let defaultWriterFrames = 2000
    let writerFrames: Int
    /// How long a pass waits for more commits to share it.
    static let defaultGather = Duration.milliseconds(100)
    let gather: Duration

    private let connection: DatabaseQueue
    private let writer: DatabasePool
    private let queue = DispatchQueue(label: "disputed.store.checkpoint")
    private let state = Mutex(State())
    private let failed: (@Sendable (String) -> Void)?

    struct State {
        var scheduled = false
        var passes = 0
        var lastFailure: String?
    }

    init(writer: DatabasePool, configuration: Configuration, writerFrames: Int = defaultWriterFrames,
         gather: Duration = defaultGather, failed: (@Sendable (String) -> Void)?) throws {
        connection = try DatabaseQueue(path: writer.path, configuration: configuration)
        self.writer = writer
        self.writerFrames = writerFrames
        self.gather = gather
        self.failed = failed
    }

    /// Called after a commit: schedules a pass unless one is already waiting to run.
    func committed() {
        let schedule = state.withLock { state in
            if state.scheduled { return false }
            state.scheduled = true
            return true
        }
        guard schedule else { return }
        // Waits on the checkpointer's own queue, so `settle` waits for it too.
        let gather = self.gather
        queue.async {
            if gather > .zero { Thread.sleep(forTimeInterval: gather / .seconds(1)) }
            self.pass()
        }
    }

    /// `PRAGMA synchronous` of the checkpointer's connection (2 is FULL).
    func synchronousLevel() throws -> Int? {
        try connection.inDatabase { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
    }

    private func pass() {
        state.withLock { $0.scheduled = false }
        do {
            let frames = try connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            // Under a steady stream of commits a pass from here never catches up
            // with the writer, and the WAL is only reused from its start once
            // every frame is copied. Past the bound, the writer copies what is
            // left between two of its commits (little: nearly everything is
            // copied already), so its next commit can start the WAL over. Also
            // passive: it waits for no reader, so it cannot hold commits up.
            if frames.walFrameCount >= writerFrames {
                try writer.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
            }
            state.withLock {
                $0.passes += 1
                $0.lastFailure = nil
            }
        } catch {
            // The writer's own auto-checkpoint still bounds the WAL; say why this one failed.
            let message = "\(error)"
            let first = state.withLock { state in
                defer { state.lastFailure = message }
                return state.lastFailure != message
            }
            if first { failed?(message) }
        }
    }

    /// What the checkpointer has done so far (waits for a pass already scheduled).
    func settle() -> State {
        queue.sync {}
        return state.withLock { $0 }
    }
}
