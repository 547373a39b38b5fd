/// The element lists of a wheel's slots and its overflow list: one table of
/// growable buffers of plain elements.
///
/// An array of arrays would do the same, but each append to one checks the
/// outer and the inner array for uniqueness and goes through two indirections;
/// here an append is a capacity check and a store. Owned by exactly one
/// ``TimerWheel`` (which is noncopyable), so nothing else ever shares it.
final class SlotLists {
    typealias Element = TimerWheel.Slotted

    /// One list: `count` elements at `base`, room for `capacity`.
    struct List {
        var base: UnsafeMutablePointer<Element>?
        var count: Int
        var capacity: Int
        static var empty: List { List(base: nil, count: 0, capacity: 0) }
    }

    let table: UnsafeMutablePointer<List>
    let listCount: Int
    /// An emptied buffer, exchanged for the list being emptied (see ``take(_:)``).
    var spare = List.empty

    init(listCount: Int) {
        self.listCount = listCount
        table = .allocate(capacity: listCount)
        table.initialize(repeating: .empty, count: listCount)
    }

    deinit {
        for i in 0..<listCount { table[i].base?.deallocate() }
        table.deallocate()
        spare.base?.deallocate()
    }

    @inline(__always)
    func count(_ list: Int) -> Int { table[list].count }

    /// Elements in every list.
    var totalCount: Int { (0..<listCount).reduce(0) { $0 + table[$1].count } }

    @inline(__always)
    func append(_ item: Element, to list: Int) {
        let header = table + list
        let count = header.pointee.count
        if count == header.pointee.capacity { grow(header) }
        (header.pointee.base.unsafelyUnwrapped + count).initialize(to: item)
        header.pointee.count = count + 1
    }

    /// Doubles a full list's buffer (at least 16 elements).
    @inline(never)
    func grow(_ header: UnsafeMutablePointer<List>) {
        let capacity = max(16, header.pointee.capacity * 2)
        let base = UnsafeMutablePointer<Element>.allocate(capacity: capacity)
        if let old = header.pointee.base {
            base.moveInitialize(from: old, count: header.pointee.count)
            old.deallocate()
        }
        header.pointee.base = base
        header.pointee.capacity = capacity
    }

    /// Empties a list and keeps its buffer.
    func removeAll(_ list: Int) { table[list].count = 0 }

    /// Keeps the elements of a list for which `keep` is true, in order.
    func filter(_ list: Int, keep: (Element) -> Bool) {
        let header = table + list
        guard let base = header.pointee.base else { return }
        var kept = 0
        for i in 0..<header.pointee.count where keep(base[i]) {
            base[kept] = base[i]
            kept += 1
        }
        header.pointee.count = kept
    }

    /// Takes a list's elements out, leaving the spare buffer in its place:
    /// emptying a slot walks the taken buffer while its elements are placed in
    /// other lists, then gives it back (``giveBack(_:)``) as the next spare.
    func take(_ list: Int) -> List {
        let taken = table[list]
        table[list] = spare
        spare = .empty
        return taken
    }

    /// Keeps a buffer from ``take(_:)`` as the spare, emptied.
    func giveBack(_ taken: List) {
        spare.base?.deallocate()
        spare = List(base: taken.base, count: 0, capacity: taken.capacity)
    }
}
