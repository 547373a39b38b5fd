import HeapModule

/// The baseline: swift-collections' `Heap` of (deadline, id) with lazy
/// cancellation — a cancelled id is flagged and skipped when it reaches the top.
/// This is what a daemon would write without a wheel.
struct HeapTimers {
    struct Item: Comparable {
        var deadline: Int64
        var id: UInt32
        static func < (a: Item, b: Item) -> Bool { (a.deadline, a.id) < (b.deadline, b.id) }
    }

    /// An id plus the generation it had when scheduled, so that cancelling a
    /// timer that already fired cannot cancel the timer that reused its id.
    struct Handle {
        var id: UInt32
        var generation: UInt32
    }

    var heap = Heap<Item>()
    var cancelled: [Bool] = []
    var generations: [UInt32] = []
    var free: [UInt32] = []
    var now: Int64

    init(now: Int64) { self.now = now }

    mutating func reserveCapacity(_ n: Int) {
        heap.reserveCapacity(n)
        cancelled.reserveCapacity(n)
        generations.reserveCapacity(n)
    }

    mutating func schedule(at deadline: Int64) -> Handle {
        let id: UInt32
        if let reused = free.popLast() {
            id = reused
            cancelled[Int(id)] = false
            generations[Int(id)] &+= 1
        } else {
            id = UInt32(cancelled.count)
            cancelled.append(false)
            generations.append(0)
        }
        heap.insert(Item(deadline: deadline, id: id))
        return Handle(id: id, generation: generations[Int(id)])
    }

    /// Lazy cancel: O(1), the entry stays in the heap until it surfaces.
    /// (Its id cannot be reused before then, or the flag would be lost.)
    mutating func cancel(_ handle: Handle) {
        if generations[Int(handle.id)] == handle.generation { cancelled[Int(handle.id)] = true }
    }

    mutating func advance(to target: Int64, _ fired: (Item) -> Void) {
        while let top = heap.min, top.deadline <= target {
            let item = heap.removeMin()
            if cancelled[Int(item.id)] {
                free.append(item.id)
            } else {
                cancelled[Int(item.id)] = true
                free.append(item.id)
                fired(item)
            }
        }
        now = target
    }
}
