/// The wheel's slab: its entries in one buffer that grows by doubling.
///
/// An array would do the same, but every write to an array first asks the
/// runtime whether its buffer is shared (an opaque call per `schedule` and per
/// cancel). The wheel is noncopyable, so its slab is never shared and a write
/// is a store.
@usableFromInline struct Slab: ~Copyable {
    @usableFromInline typealias Entry = TimerWheel.Entry

    @usableFromInline var base: UnsafeMutablePointer<Entry>
    @usableFromInline var count = 0
    @usableFromInline var capacity: Int

    @inlinable init() {
        capacity = 16
        base = .allocate(capacity: capacity)
    }

    @inlinable deinit {
        // Entries are plain values: nothing to deinitialize.
        base.deallocate()
    }

    /// Entry `i`, read and written in place; `i` must be below ``count``.
    @inlinable subscript(i: Int) -> Entry {
        unsafeAddress {
            precondition(i >= 0 && i < count, "slab index out of range")
            return UnsafePointer(base + i)
        }
        nonmutating unsafeMutableAddress {
            precondition(i >= 0 && i < count, "slab index out of range")
            return base + i
        }
    }

    /// The entries in use, for passes that read them all.
    var buffer: UnsafeBufferPointer<Entry> { UnsafeBufferPointer(start: base, count: count) }

    @inlinable mutating func append(_ entry: Entry) {
        if count == capacity { grow(to: capacity * 2) }
        (base + count).initialize(to: entry)
        count += 1
    }

    /// Room for `capacity` entries without growing again.
    mutating func reserveCapacity(_ capacity: Int) {
        if capacity > self.capacity { grow(to: capacity) }
    }

    @usableFromInline @inline(never)
    mutating func grow(to newCapacity: Int) {
        let grown = UnsafeMutablePointer<Entry>.allocate(capacity: newCapacity)
        grown.moveInitialize(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }
}
