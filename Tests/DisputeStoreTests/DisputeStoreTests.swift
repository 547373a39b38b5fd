import Foundation
import GRDB
import Testing
@testable import DisputeStore

@Suite struct DisputeStoreTests {
    static func temporaryPath() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("disputed.sqlite").path
    }

    @Test func opensInWALModeWithFullSynchronousAndMigrates() throws {
        let store = try DisputeStore(path: Self.temporaryPath())
        let (mode, sync) = try store.pool.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
        #expect(mode == "wal")
        #expect(sync == 2) // FULL
        #expect(try store.schemaVersion() != "none")
        #expect(try store.meta("createdAt") != nil)
    }

    @Test func reopeningKeepsDataAndDoesNotRemigrate() throws {
        let path = Self.temporaryPath()
        let created = try DisputeStore(path: path).meta("createdAt")
        let again = try DisputeStore(path: path)
        #expect(try again.meta("createdAt") == created)
    }

    @Test func aFileThatIsNotADatabaseIsRefusedWithItsPath() throws {
        let path = Self.temporaryPath()
        try Data("this is not sqlite, just text that is long enough to have a header".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try DisputeStore(path: path)
        } throws: { error in
            (error as? StoreError)?.path == path
        }
    }
}
