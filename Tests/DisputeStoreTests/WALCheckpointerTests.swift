import Foundation
import GRDB
import Testing
@testable import DisputeStore
@testable import DisputeWorkflow

/// Committed WAL frames are copied into the database file by the store's own
/// checkpointer connection, not inside the writer's commits.
@Suite struct WALCheckpointerTests {
    typealias Seq = DisputeSequenceTests

    @Test func committedGroupsReachTheDatabaseFileWithoutTheWriterCheckpointing() async throws {
        let path = DisputeStoreTests.temporaryPath()
        let store = try DisputeStore(path: path)
        for i in 0..<5 {
            _ = try await store.commit(group: [Seq.batch(try Seq.opened("D-\(i)"), now: 100, event: "opened", withMerchant: i == 0)])
        }
        let state = store.checkpointer.settle()
        #expect(state.passes >= 1)
        #expect(state.lastFailure == nil)
        // The writer checkpoints by itself only past 10,000 WAL pages: five small
        // groups are in the database file (read here without its WAL) only if
        // the checkpointer copied them.
        let copy = URL(fileURLWithPath: DisputeStoreTests.temporaryPath())
        try FileManager.default.copyItem(at: URL(fileURLWithPath: path), to: copy)
        let alone = try DatabaseQueue(path: copy.path)
        let inFile = try await alone.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM disputes") }
        #expect(inFile == 5)
    }

    @Test func theWALStartsOverUnderBackToBackCommits() async throws {
        let path = DisputeStoreTests.temporaryPath()
        let store = try DisputeStore(path: path, willMigrate: nil, checkpointFailed: nil, checkpointWriterFrames: 64,
                                     checkpointGather: .zero)
        // Back-to-back commits: a passive checkpoint never finds the writer idle
        // long enough to copy every frame, so without the writer copying the last frames the WAL would
        // only grow (400 groups write several MiB of frames).
        for i in 0..<400 {
            _ = try await store.commit(group: [Seq.batch(try Seq.opened("D-\(i)"), now: 100, event: "opened", withMerchant: i == 0)])
        }
        let state = store.checkpointer.settle()
        #expect(state.lastFailure == nil)
        let walBytes = (try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)?.int64Value ?? 0
        let pageSize = try await store.pool.read { db in try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096 }
        // The WAL file never shrinks, so its size is the most it ever held:
        // the 64-frame bound plus what the writer added while a pass waited.
        #expect(walBytes / pageSize < 1000, "WAL reached \(walBytes / pageSize) frames; \(state)")
        let stored = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM disputes") }
        #expect(stored == 400)
    }

    @Test func commitsCloseTogetherShareOneCheckpointPass() async throws {
        let path = DisputeStoreTests.temporaryPath()
        let store = try DisputeStore(path: path, willMigrate: nil, checkpointFailed: nil,
                                     checkpointWriterFrames: WALCheckpointer.defaultWriterFrames, checkpointGather: .milliseconds(100))
        let started = ContinuousClock.now
        for i in 0..<20 {
            _ = try await store.commit(group: [Seq.batch(try Seq.opened("D-\(i)"), now: 100, event: "opened", withMerchant: i == 0)])
        }
        let elapsed = ContinuousClock.now - started
        let state = store.checkpointer.settle()
        // A pass per 100 ms of commits (plus the one waiting at the end), not one per commit.
        let bound = Int(elapsed / .milliseconds(100)) + 2
        #expect(state.passes >= 1 && state.passes <= bound, "\(state.passes) passes for 20 commits in \(elapsed)")
        #expect(state.lastFailure == nil)
        let copy = URL(fileURLWithPath: DisputeStoreTests.temporaryPath())
        try FileManager.default.copyItem(at: URL(fileURLWithPath: path), to: copy)
        let alone = try DatabaseQueue(path: copy.path)
        #expect(try await alone.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM disputes") } == 20)
    }
}
