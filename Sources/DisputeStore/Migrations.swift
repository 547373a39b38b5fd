import Foundation
import GRDB

extension DisputeStore {
    /// Every schema change since the first release, in order. Never edit a
    /// migration that has shipped; add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("0001-meta") { db in
            try db.create(table: "meta") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
            let now = ISO8601DateFormatter().string(from: Date())
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('createdAt', ?)", arguments: [now])
        }
        return migrator
    }
}
