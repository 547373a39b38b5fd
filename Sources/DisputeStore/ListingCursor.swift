/// Where a listing of disputes stopped: the position of the last dispute an
/// answer carried, in the listing's order, so that the next page starts just
/// after it. In open order that is the row's rowid; in deadline order also
/// its next deadline (seconds since the epoch).
///
/// Clients see it as text, the `next` of one answer and the `after` of the
/// next request: `"<rowid>"`, or `"<deadline>:<rowid>"` in deadline order.
/// A dispute opened between two pages is listed on a later page in open order
/// (it has a larger rowid); one whose deadline moves between pages may be
/// listed twice or not at all in deadline order, as in any paged listing of a
/// changing set.
public struct ListingCursor: Hashable, Sendable {
    public var nextDeadline: Int64?
    public var rowid: Int64

    public init(nextDeadline: Int64?, rowid: Int64) {
        self.nextDeadline = nextDeadline
        self.rowid = rowid
    }

    /// The cursor of `text`, or nil when it is not one of the form the listing
    /// in this order gives (`byDeadline` says which order).
    public init?(text: String, byDeadline: Bool) {
        let parts = text.utf8.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard parts.count == (byDeadline ? 2 : 1),
              parts.allSatisfy({ !$0.isEmpty && $0.count <= 18 && $0.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } }),
              let rowid = Int64(String(decoding: parts[parts.count - 1], as: UTF8.self))
        else { return nil }
        self.rowid = rowid
        self.nextDeadline = byDeadline ? Int64(String(decoding: parts[0], as: UTF8.self)) : nil
    }

    public var text: String { nextDeadline.map { "\($0):\(rowid)" } ?? "\(rowid)" }
}
