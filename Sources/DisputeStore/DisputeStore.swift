import Foundation
import GRDB

/// A problem opening or using the store, with the path and what went wrong.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "store \(path): \(message)" }
}

/// A stored row this version cannot read (a value it does not know, written by
/// hand or by a bug): named, and never read as something else.
public struct UnreadableRow: Error, Sendable, CustomStringConvertible {
    public let table: String
    public let id: String
    public let problem: String
    public var description: String { "\(table) row '\(id)' cannot be read: \(problem)" }
}

/// The store was migrated by a newer disputed than this one: its schema has
/// migrations this version does not know, so neither reading nor writing it can
/// be trusted. Nothing is changed; the daemon refuses to start (exit 78) until
/// the newer version runs again or a backup from before the upgrade is restored.
public struct StoreTooNew: Error, Sendable, CustomStringConvertible {
    public let path: String
    /// The applied migrations this version does not know, sorted.
    public let unknownMigrations: [String]
    public var description: String {
        "store \(path) was migrated by a newer disputed (unknown schema migrations: \(unknownMigrations.joined(separator: ", "))); "
            + "run that version or a later one, or restore a backup taken before the upgrade. The store was not changed."
    }
}

/// The store's file is not a database, or SQLite finds it damaged, when it is
/// opened. Restarting cannot help: the daemon refuses to start (exit 78) until
/// a backup is restored or the file is repaired by hand.
public struct StoreDamaged: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let message: String
    public var description: String {
        "store \(path) cannot be used: \(message); restore a backup (README: Backup and restore) "
            + "or move the file away to start with an empty store"
    }
}

/// The durable store: one SQLite database in WAL mode with `synchronous=FULL`.
///
/// The database is the truth; every in-memory structure of the daemon is an index
/// rebuilt from it at start. Thread-safe: reads run concurrently, writes are
/// serialized by SQLite.
public final class DisputeStore: Sendable {
    public let path: String
    let pool: DatabasePool
    let checkpointer: WALCheckpointer

    /// WAL pages after which the writer checkpoints by itself (40 MiB of 4 KiB
    /// pages): the bound on the WAL should the background checkpointer fail.
    /// SQLite's default is 1,000.
    static let writerCheckpointPages = 10_000

    /// Opens (or creates) the database at `path` and runs pending migrations.
    ///
    /// - Throws: ``StoreError`` naming the path when the file cannot be opened,
    ///   is not a database of this program, or a migration fails. A failed
    ///   migration changes nothing (each runs in its own transaction).
    ///   ``StoreTooNew`` when a newer version has migrated the store further
    ///   than this one knows (nothing is changed then either).
    ///
    /// `willMigrate` is called with the identifiers of the migrations about to
    /// run when an existing store is upgraded (not when a new one is created):
    /// on a large store a migration can take minutes, and the daemon tells
    /// systemd so before it starts.
    ///
    /// `checkpointFailed` is told why a background checkpoint failed (once per
    /// distinct reason); the writer's own checkpoint then keeps the WAL bounded.
    public convenience init(path: String, willMigrate: ((_ pending: [String]) -> Void)? = nil,
                            checkpointFailed: (@Sendable (String) -> Void)? = nil) throws {
        try self.init(path: path, willMigrate: willMigrate, checkpointFailed: checkpointFailed,
                      checkpointWriterFrames: WALCheckpointer.defaultWriterFrames)
    }

    /// As above, with the WAL size (in frames) past which the background
    /// checkpointer hands the last frames to the writer, and how long a pass
    /// waits for more commits to share it (tests change them).
    init(path: String, willMigrate: ((_ pending: [String]) -> Void)?, checkpointFailed: (@Sendable (String) -> Void)?,
         checkpointWriterFrames: Int, checkpointGather: Duration = WALCheckpointer.defaultGather) throws {
        self.path = path
        // SQLite opens a file it may only read read-only, without a word, when
        // the WAL's files are there to read: every write would then fail. Here
        // the start fails instead, naming it.
        if let note = Self.unwritableFileNote(path) {
            throw StoreError(path: path, message: "cannot be opened for writing (\(note))")
        }
        let configuration = Self.connectionConfiguration
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // GRDB puts the writer's connection into WAL mode after
            // `prepareDatabase` ran and sets `synchronous = NORMAL` as it does:
            // commits would then be synced only at checkpoints, and an
            // acknowledged request could be lost with the power. FULL again,
            // on the connection whose commits acknowledge requests.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            let version = try pool.read { db in try String.fetchOne(db, sql: "SELECT sqlite_version()") } ?? "unknown"
            guard Self.supports(sqliteVersion: version) else {
                throw StoreError(path: path, message: "SQLite \(version) is too old: disputed needs \(Self.minimumSQLite) or newer (UPSERT ... RETURNING)")
            }
            let applied = try pool.read { db in try Self.migrator.appliedIdentifiers(db) }
            let unknown = applied.subtracting(Self.migrator.migrations)
            if !unknown.isEmpty { throw StoreTooNew(path: path, unknownMigrations: unknown.sorted()) }
            if let willMigrate {
                let pending = Self.migrator.migrations.filter { !applied.contains($0) }
                if !applied.isEmpty && !pending.isEmpty { willMigrate(pending) }
            }
            try Self.migrator.migrate(pool)
            checkpointer = try WALCheckpointer(writer: pool, configuration: configuration, writerFrames: checkpointWriterFrames, gather: checkpointGather,
                                               failed: checkpointFailed)
        } catch let error as DatabaseError where Self.isDamage(error) {
            throw StoreDamaged(path: path, message: error.message ?? "\(error)")
        } catch let error as DatabaseError {
            throw StoreError(path: path, message: (error.message ?? "\(error)") + Self.fileNote(error, path: path))
        } catch let error as StoreTooNew {
            throw error
        } catch {
            throw StoreError(path: path, message: "\(error)")
        }
    }

    /// What a failed operation on this store means to ops, in words for the
    /// journal, `status` and refused requests. A damaged file says so and how it
    /// is mended (no retry and no restart mends it); otherwise SQLite's own
    /// message ("database or disk is full", "database is locked"), with the room
    /// left on the store's file system when an I/O error comes with almost none.
    public func explain(_ error: any Error) -> String {
        guard let error = error as? DatabaseError else { return "\(error)" }
        if Self.isDamage(error) { return "the store is damaged (\(error)); restore a backup (README: Backup and restore)" }
        return "\(error)" + Self.fileNote(error, path: path)
    }

    static func isDamage(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB
    }

    /// What SQLite's message leaves out, from the file system itself: for an
    /// I/O error or a full disk, the room left (when it is almost none: SQLite
    /// says "disk I/O error" when it cannot make the WAL's files on a full disk);
    /// for "readonly" and "unable to open", whether the file system is mounted
    /// read-only, or which of the file and its directory (where SQLite makes
    /// the `-wal` and `-shm` files) this process cannot write.
    static func fileNote(_ error: DatabaseError, path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        let directory = parent.isEmpty ? "." : parent
        var fs = statvfs()
        guard statvfs(directory, &fs) == 0 else { return "" }
        switch error.resultCode.primaryResultCode {
        case .SQLITE_IOERR, .SQLITE_FULL:
            let free = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
            if fs.f_favail == 0 { return " (its file system has no free inodes left)" }
            return free < 1 << 20 ? " (its file system has \(free / 1024) KiB free)" : ""
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM:
            if fs.f_flag & UInt(ST_RDONLY) != 0 { return " (its file system is mounted read-only)" }
            if access(directory, W_OK | X_OK) != 0 {
                return " (uid \(geteuid()) cannot write its directory \(directory), where SQLite makes the -wal and -shm files)"
            }
            return Self.unwritableFileNote(path).map { " (\($0))" } ?? ""
        default:
            return ""
        }
    }

    /// "uid N cannot read and write the file" when the store's file exists and
    /// this process may not both read and write it; nil otherwise.
    static func unwritableFileNote(_ path: String) -> String? {
        access(path, F_OK) == 0 && access(path, R_OK | W_OK) != 0 ? "uid \(geteuid()) cannot read and write the file" : nil
    }

    /// The oldest SQLite whose SQL the store uses: an upsert that returns the
    /// row's sequence number (RETURNING came with 3.35; Debian 12 has 3.40).
    static let minimumSQLite = "3.35.0"

    static func supports(sqliteVersion version: String) -> Bool {
        let have = version.split(separator: ".").map { Int($0) ?? 0 }
        let need = minimumSQLite.split(separator: ".").map { Int($0) ?? 0 }
        return !have.isEmpty && have.lexicographicallyPrecedes(need) == false
    }

    /// How every connection to the store is set up (the writer, the readers, the checkpointer).
    static var connectionConfiguration: Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // FULL: a transaction the daemon acknowledged survives power loss, not only a crash.
            // The checkpointer's connection needs it too: its checkpoints sync the WAL
            // before copying and the database before the WAL may be reused.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.writerCheckpointPages)")
        }
        return configuration
    }

    /// The identifier of the newest applied migration.
    public func schemaVersion() throws -> String {
        try pool.read { db in try Self.migrator.appliedIdentifiers(db).sorted().last ?? "none" }
    }

    /// Bytes on disk: the database, its WAL and its shared-memory index.
    public func sizeInBytes() -> Int64 {
        [path, path + "-wal", path + "-shm"].reduce(Int64(0)) { total, file in
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0
            return total + size
        }
    }

    /// A value the store keeps about itself (`createdAt`, ...).
    public func meta(_ key: String) throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }
}
