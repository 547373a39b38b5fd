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
        migrator.registerMigration("0003-dispute-sequence") { db in
            // The rows of a dispute (timeline, timers, outbox) were indexed by its
            // text id, which lands each new dispute's rows on a random leaf of three
            // indexes: three 4 KiB pages of WAL per open for a few bytes each.
            // Indexed by a sequence number given to each dispute when first stored,
            // a new dispute's rows go to the right-hand end of those indexes, where
            // the pages are shared by every open of a group commit. An explicit
            // column, not the rowid, so that a VACUUM cannot renumber it.
            try db.execute(sql: """
                ALTER TABLE disputes ADD COLUMN seq INTEGER;
                UPDATE disputes SET seq = rowid;
                CREATE UNIQUE INDEX disputes_seq ON disputes(seq);
                ALTER TABLE timeline ADD COLUMN dispute_seq INTEGER;
                UPDATE timeline SET dispute_seq = (SELECT seq FROM disputes WHERE disputes.id = timeline.dispute_id);
                DROP INDEX timeline_dispute;
                CREATE INDEX timeline_dispute ON timeline(dispute_seq, id);
                ALTER TABLE timers ADD COLUMN dispute_seq INTEGER;
                UPDATE timers SET dispute_seq = (SELECT seq FROM disputes WHERE disputes.id = timers.dispute_id);
                DROP INDEX timers_dispute;
                CREATE INDEX timers_dispute ON timers(dispute_seq, state);
                ALTER TABLE outbox ADD COLUMN dispute_seq INTEGER;
                UPDATE outbox SET dispute_seq = (SELECT seq FROM disputes WHERE disputes.id = outbox.dispute_id);
                DROP INDEX outbox_dispute;
                CREATE INDEX outbox_dispute ON outbox(dispute_seq);
                """)
        }
        migrator.registerMigration("0004-next-deadline") { db in
            // deadlines.upcoming and list --due-before ask for the disputes whose next
            // deadline falls before an instant, soonest first. Without an index that
            // was a scan and a sort of every dispute: 2.0 s for the first 1,000 of a
            // million; with it, 12 ms. Building it on such a store takes about 4 s.
            try db.execute(sql: "CREATE INDEX disputes_next_deadline ON disputes(next_deadline)")
        }
        migrator.registerMigration("0005-outbox-by-dispute") { db in
            // The outbox's text primary key (a notice id begins with its dispute's
            // id, which clients choose) put each new notice on a random leaf of its
            // index: a 4 KiB page of WAL per open for a few bytes, one open in seven
            // of all pages written. A notice id is unique among its dispute's
            // notices, and a dispute has one sequence number, so the unique index
            // (dispute_seq, id) keeps ids unique, serves every lookup by dispute,
            // and takes a new dispute's notices at its right-hand end. The rows
            // keep their rowids (the spooler works the outbox in rowid order).
            try db.execute(sql: """
                CREATE TABLE outbox_new (
                    id TEXT NOT NULL,
                    dispute_id TEXT NOT NULL REFERENCES disputes(id),
                    kind TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'spooled', 'portal')),
                    context TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    done_at INTEGER,
                    dispute_seq INTEGER
                );
                INSERT INTO outbox_new (rowid, id, dispute_id, kind, channel, state, context, created_at, done_at, dispute_seq)
                    SELECT rowid, id, dispute_id, kind, channel, state, context, created_at, done_at, dispute_seq FROM outbox ORDER BY rowid;
                DROP TABLE outbox;
                ALTER TABLE outbox_new RENAME TO outbox;
                CREATE UNIQUE INDEX outbox_dispute ON outbox(dispute_seq, id);
                CREATE INDEX outbox_pending ON outbox(state);
                """)
        }
        migrator.registerMigration("0006-timeline-actor") { db in
            // Who made each timeline line: the user of the control request, or
            // the daemon itself. Lines stored before have none (NULL); adding a
            // nullable column rewrites no row.
            try db.execute(sql: "ALTER TABLE timeline ADD COLUMN actor TEXT")
        }
        migrator.registerMigration("0007-closed-retention") { db in
            // daemon.closed_retention_days removes disputes some time after they
            // closed, oldest first: a partial index holds the closed ones by when
            // they closed (a closed dispute's row is never written again), so an
            // open costs nothing more. A removed dispute's id stays taken: a new
            // dispute under it would send notices with the Message-IDs of the
            // old one's, which mail clients take for duplicates.
            try db.execute(sql: """
                CREATE INDEX disputes_closed ON disputes(updated_at) WHERE stage = 'closed';
                CREATE TABLE purged_disputes (id TEXT PRIMARY KEY, purged_at INTEGER NOT NULL) WITHOUT ROWID;
                """)
        }
        return migrator
    }
}
