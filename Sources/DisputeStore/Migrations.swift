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
        migrator.registerMigration("0002-disputes") { db in
            // Merchants and disputes keep their full value as JSON (the domain
            // types are Codable); the columns beside it are what queries filter on.
            try db.execute(sql: """
                CREATE TABLE merchants (
                    id TEXT PRIMARY KEY,
                    body TEXT NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE TABLE disputes (
                    id TEXT PRIMARY KEY,
                    merchant_id TEXT NOT NULL REFERENCES merchants(id),
                    order_reference TEXT NOT NULL,
                    stage TEXT NOT NULL,
                    next_deadline INTEGER,
                    body TEXT NOT NULL,
                    opened_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX disputes_stage ON disputes(stage);
                CREATE INDEX disputes_merchant ON disputes(merchant_id);
                CREATE INDEX disputes_order ON disputes(order_reference);
                CREATE TABLE timeline (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    dispute_id TEXT NOT NULL REFERENCES disputes(id),
                    at INTEGER NOT NULL,
                    event TEXT NOT NULL,
                    detail TEXT NOT NULL
                );
                CREATE INDEX timeline_dispute ON timeline(dispute_id, id);
                CREATE TABLE timers (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    dispute_id TEXT NOT NULL REFERENCES disputes(id),
                    kind TEXT NOT NULL,
                    due_at INTEGER NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'fired', 'cancelled')),
                    fired_at INTEGER
                );
                CREATE INDEX timers_pending ON timers(state, due_at);
                CREATE INDEX timers_dispute ON timers(dispute_id, state);
                CREATE TABLE outbox (
                    id TEXT PRIMARY KEY,
                    dispute_id TEXT NOT NULL REFERENCES disputes(id),
                    kind TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'spooled', 'portal')),
                    context TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    done_at INTEGER
                );
                CREATE INDEX outbox_pending ON outbox(state);
                CREATE INDEX outbox_dispute ON outbox(dispute_id);
                CREATE TABLE requests (
                    id TEXT PRIMARY KEY,
                    op TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    response TEXT NOT NULL,
                    at INTEGER NOT NULL
                );
                """)
        }
        return migrator
    }
}
