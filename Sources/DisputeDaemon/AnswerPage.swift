import ControlProtocol

/// The rows of one listing answer (`dispute.list`, `deadlines.upcoming`,
/// `merchant.list`, the disputes in `merchant.show`): at most the number asked
/// for, and only as many as keep the answer's line within the protocol's
/// 64 KiB (`maximumLineLength`). When more match, ``next`` is the cursor of the
/// last row taken: the client asks again with it as `after` (disputectl does,
/// until it has what `--limit` asked for).
///
/// The protocol promises every line at most 64 KiB, answers included, so a
/// listing comes in pages (about 75 disputes, 240 deadlines a page) rather
/// than as one line of up to 80 MB. Decided here; interfaces.md gives the line
/// limit and no paging.
struct AnswerPage<Cursor> {
    /// Bytes the rows may take: the line less room for the envelope (a request
    /// id of up to 200 characters, each escaped to at most 6 bytes) and the
    /// answer's other fields (`now`, `more`, `next`, a merchant's own fields).
    static var rowBudget: Int { maximumLineLength - 4096 }

    private(set) var rows: [JSONValue] = []
    /// Where the next page starts; nil when this page ends the listing.
    private(set) var next: Cursor?
    var more: Bool { next != nil }

    /// Takes rows from `candidates` (the matches from where the page starts, in
    /// order) while fewer than `limit` are taken and their JSON fits `budget`.
    /// `view` gives a row's JSON, or nil for a row the answer leaves out. The
    /// first row is always taken, so that paging moves on whatever its size.
    init<Row>(_ candidates: [Row], limit: Int, budget: Int = rowBudget,
              cursor: (Row) -> Cursor, view: (Row) throws -> JSONValue?) rethrows {
        var bytes = 0
        var scratch: [UInt8] = []
        var last: Row? = nil
        for candidate in candidates {
            guard rows.count < limit else { next = last.map(cursor); return }
            guard let json = try view(candidate) else { last = candidate; continue }
            scratch.removeAll(keepingCapacity: true)
            json.writeJSON(into: &scratch)
            bytes += scratch.count + 1  // and its comma
            if bytes > budget, !rows.isEmpty { next = last.map(cursor); return }
            rows.append(json)
            last = candidate
        }
    }
}
