import Foundation
import DisputeWorkflow
import GRDB
import GRDBSQLite
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
        // The writer's connection is the one whose commits must be synced: GRDB
        // turns it to NORMAL when it enters WAL mode, after our own setup ran.
        let writerSync = try store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(writerSync == 2, "the writer commits with synchronous=\(writerSync.map(String.init) ?? "?"), not FULL")
        let checkpointerSync = try store.checkpointer.synchronousLevel()
        #expect(checkpointerSync == 2)
        #expect(try store.schemaVersion() != "none")
        #expect(try store.meta("createdAt") != nil)
    }

    /// The store's upsert returns the row (RETURNING, SQLite 3.35); an older
    /// library is refused at open, by name, not at the first commit.
    @Test func sqliteOlderThanTheStoreNeedsIsRecognised() {
        for old in ["3.34.1", "3.31.0", "2.8.17"] { #expect(!DisputeStore.supports(sqliteVersion: old), "\(old)") }
        for new in ["3.35.0", "3.35.5", "3.40.1", "3.46", "4.0.0"] { #expect(DisputeStore.supports(sqliteVersion: new), "\(new)") }
        #expect(!DisputeStore.supports(sqliteVersion: ""))
    }

    @Test func reopeningKeepsDataAndDoesNotRemigrate() throws {
        let path = Self.temporaryPath()
        let created = try DisputeStore(path: path).meta("createdAt")
        let again = try DisputeStore(path: path)
        #expect(try again.meta("createdAt") == created)
    }

    @Test func aStoreMigratedByANewerVersionIsRefusedAndLeftUnchanged() throws {
        let path = Self.temporaryPath()
        do {
            let store = try DisputeStore(path: path)
            try store.pool.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999-from-a-newer-version')")
            }
        }
        func contents() throws -> [String] {
            var readOnly = Configuration()
            readOnly.readonly = true
            return try DatabaseQueue(path: path, configuration: readOnly).read { db in
                try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
                    + String.fetchAll(db, sql: "SELECT type || ' ' || name || ' ' || IFNULL(sql, '') FROM sqlite_master ORDER BY name")
                    + String.fetchAll(db, sql: "SELECT key || '=' || value FROM meta ORDER BY key")
            }
        }
        let before = try contents()
        #expect {
            _ = try DisputeStore(path: path)
        } throws: { error in
            guard let tooNew = error as? StoreTooNew else { return false }
            return tooNew.path == path && tooNew.unknownMigrations == ["9999-from-a-newer-version"]
                && "\(tooNew)".contains("newer disputed") && "\(tooNew)".contains("9999-from-a-newer-version")
        }
        #expect(try contents() == before)
    }

    @Test func aFileThatIsNotADatabaseIsRefusedAsDamagedWithItsPath() throws {
        let path = Self.temporaryPath()
        try Data("this is not sqlite, just text that is long enough to have a header".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try DisputeStore(path: path)
        } throws: { error in
            guard let damaged = error as? StoreDamaged else { return false }
            return damaged.path == path && damaged.message == "file is not a database"
        }
    }

    @Test func requestRecordsOlderThanTheRetentionAreForgottenTwoAtATime() async throws {
        let store = try DisputeStore(path: Self.temporaryPath())
        func save(_ id: String, at now: Int64, expireBefore: Int64?) async throws {
            var batch = CommitBatch()
            batch.now = now
            batch.request = (id, "merchant.upsert", "fp-\(id)", "{}")
            batch.requestsExpireBefore = expireBefore
            _ = try await store.commit(group: [batch])
        }
        func kept() throws -> [String] {
            try store.pool.read { db in try String.fetchAll(db, sql: "SELECT id FROM requests ORDER BY rowid") }
        }
        for (i, at) in [100, 200, 300].enumerated() { try await save("R\(i)", at: Int64(at), expireBefore: nil) }
        // Each request stored removes at most the two oldest, and only those past the retention.
        try await save("R3", at: 1000, expireBefore: 250)
        #expect(try kept() == ["R2", "R3"])
        try await save("R4", at: 1100, expireBefore: 250)
        #expect(try kept() == ["R2", "R3", "R4"])
        try await save("R5", at: 1200, expireBefore: 1050)
        #expect(try kept() == ["R4", "R5"])
        #expect(try store.request("R0") == nil && store.request("R4") != nil)
    }

    @Test func listingsReadTheirIndexInsteadOfSortingEveryMatch() throws {
        let store = try DisputeStore(path: Self.temporaryPath())
        let filters: [(DisputeStage?, String?, String?, Bool)] = [
            (nil, nil, nil, false), (.awaitingMerchant, nil, nil, false), (nil, "M-1", nil, false), (nil, nil, "O-1", false),
            (.closed, "M-1", nil, false), (nil, nil, nil, true)]
        for (stage, merchant, order, byDeadline) in filters {
            // By deadline: what deadlines.upcoming asks, every dispute due before an instant, soonest first.
            // The first page, and one after a cursor: the later pages start where the one before ended.
            for after in [nil, ListingCursor(nextDeadline: byDeadline ? 1_800_000_000 : nil, rowid: 500)] {
                let (sql, arguments) = DisputeStore.listing(stage: stage, merchantID: merchant, dueBefore: byDeadline ? 1_900_000_000 : nil,
                                                            orderReference: order, byDeadline: byDeadline, after: after, limit: 1000)
                let plan = try store.pool.read { db in
                    try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
                }
                #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(sql): \(plan)")
            }
        }
    }
}

@Suite struct ListingCursorTests {
    /// SQLite's count of virtual-machine steps for running `sql` to its end:
    /// a page read from where its cursor points takes steps for its own rows,
    /// a scan from the start of an index one or more for every entry before.
    static func steps(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws -> Int32 {
        let statement = try db.makeStatement(sql: sql)
        _ = try Row.fetchAll(statement, arguments: arguments)
        return sqlite3_stmt_status(statement.sqliteStatement, SQLITE_STMTSTATUS_VM_STEP, 0)
    }

    @Test func aPageAfterACursorReadsItsOwnRowsNotEveryRowBefore() throws {
        let store = try DisputeStore(path: DisputeStoreTests.temporaryPath())
        try store.pool.write { db in
            try db.execute(sql: "INSERT INTO merchants (id, body, updated_at) VALUES ('M-1', '{}', 0)")
            for n in 1...3000 {
                // A thousand disputes share each deadline: a page that begins inside an instant
                // must not step over the disputes of that instant before its cursor.
                try db.execute(sql: """
                    INSERT INTO disputes (id, merchant_id, order_reference, stage, next_deadline, body, opened_at, updated_at, seq)
                    VALUES (?, 'M-1', ?, 'awaitingMerchant', ?, '{}', 0, 0, ?)
                    """, arguments: ["D-\(n)", "O-\(n % 7)", 1_800_000_000 + n / 1000, n])
            }
        }
        let filters: [(DisputeStage?, String?, String?, Bool)] = [
            (nil, nil, nil, false), (.awaitingMerchant, nil, nil, false), (nil, "M-1", nil, false), (nil, nil, "O-1", false), (nil, nil, nil, true)]
        for (stage, merchant, order, byDeadline) in filters {
            let near = ListingCursor(nextDeadline: byDeadline ? 1_800_000_000 + 2990 / 1000 : nil, rowid: 2990)
            let (sql, arguments) = DisputeStore.listing(stage: stage, merchantID: merchant, dueBefore: byDeadline ? 1_900_000_000 : nil,
                                                        orderReference: order, byDeadline: byDeadline, after: near, limit: 100)
            let (rows, steps) = try store.pool.read { db in
                (try Row.fetchAll(db, sql: sql, arguments: arguments).map { $0["id"] as String }, try Self.steps(db, sql, arguments))
            }
            #expect(rows.first == (order == nil ? "D-2991" : "D-2997") && rows.last == (order == nil ? "D-3000" : "D-2997"), "\(sql): \(rows)")
            #expect(steps < 1000, "\(sql): \(steps) steps for \(rows.count) rows")
        }
    }

    @Test func aCursorReadsBackFromItsTextInItsOwnOrderOnly() {
        let byOpen = ListingCursor(nextDeadline: nil, rowid: 42)
        let byDeadline = ListingCursor(nextDeadline: 1_801_263_600, rowid: 42)
        #expect(ListingCursor(text: byOpen.text, byDeadline: false) == byOpen)
        #expect(ListingCursor(text: byDeadline.text, byDeadline: true) == byDeadline)
        #expect(ListingCursor(text: byOpen.text, byDeadline: true) == nil)
        #expect(ListingCursor(text: byDeadline.text, byDeadline: false) == nil)
        for bad in ["", "x", "-1", "1:", ":1", "1:2:3", " 1", "1e3", "99999999999999999999"] {
            #expect(ListingCursor(text: bad, byDeadline: false) == nil && ListingCursor(text: bad, byDeadline: true) == nil, "\(bad)")
        }
    }
}
