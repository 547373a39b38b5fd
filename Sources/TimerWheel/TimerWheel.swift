/// A hierarchical timing wheel (Varghese & Lauck, cascading as in tokio and
/// Kafka) indexing pending deadlines at a base resolution of one second.
///
/// **Promise.** A timer never fires before its instant, fires at most once, and
/// fires at the first ``popExpired(notAfter:)`` / ``advance(to:)`` whose target
/// reaches its instant. Timers due at the same second come out in ascending
/// payload order (the daemon's payloads are timer row ids, so that is the order
/// in which they were created). Instants are whole seconds (the daemon rounds
/// up, so never early).
///
/// **Cost.** `schedule`, `cancel` and `reschedule` are O(1). Advancing costs
/// O(levels) per occupied slot visited plus O(1) per timer that cascades to a
/// finer level (at most `levels` times in its life) or fires — also when time
/// jumps by a year: empty slots are skipped with one bit scan per level.
///
/// **Memory.** 48 bytes per pending timer (``bytesPerTimer``): a 32-byte slab
/// entry and a 16-byte element of its slot's array; slots freed by firing or cancelling
/// are reused and slot arrays keep their capacity, so once the wheel has grown to
/// its peak number of pending timers no operation allocates.
///
/// Slots are arrays of slab indices rather than linked lists: emptying a slot
/// then walks an array, so the processor fetches many entries at once instead
/// of chasing one pointer after another.
///
/// Six levels of 64 slots span 2^36 seconds (about 2,177 years); a timer beyond
/// that waits in an overflow list and enters the wheel when time comes near it.
///
/// Not thread-safe: a value type owned by one actor.
public struct TimerWheel {
    static let slotBits = 6
    static let slotsPerLevel = 64
    static let levels = 6
    static let none: UInt32 = .max
    /// The overflow list is the list after the last slot.
    static let overflowList = levels * slotsPerLevel
    /// Location markers for entries that are not in a list.
    static let locationFree: UInt16 = .max
    static let locationReady: UInt16 = .max - 1

    struct Entry {
        var deadline: Int64
        var payload: UInt64
        /// Index in its list's array; the next free entry while free.
        var position: UInt32
        var generation: UInt32
        /// The list (level * 64 + slot, or the overflow list), or a location marker.
        var location: UInt16
    }

    /// A list element carries the deadline next to the index, so emptying a slot
    /// reads deadlines sequentially and touches entries only to write them.
    struct Slotted {
        var deadline: Int64
        var index: UInt32
    }

    /// The cost of one pending timer (slab entry plus its list element), in bytes.
    public static var bytesPerTimer: Int { MemoryLayout<Entry>.stride + MemoryLayout<Slotted>.stride }

    var entries: [Entry] = []
    var freeHead: UInt32 = none
    /// The entries of each slot, level-major, then the overflow list.
    var lists: [[Slotted]] = Array(repeating: [], count: levels * slotsPerLevel + 1)
    /// One occupancy bit per slot, one word per level.
    var occupied: [UInt64] = Array(repeating: 0, count: levels)
    var overflowMinimum: Int64 = .max
    /// Timers that are due and wait to be popped, in due order from `readyCursor` on.
    var ready: [TimerHandle] = []
    var readyCursor = 0
    /// Reused buffer for the slot being emptied.
    var scratch: [Slotted] = []

    /// The instant up to which every due timer has been handed out.
    public private(set) var now: Int64
    /// Timers scheduled and neither fired nor cancelled.
    public private(set) var count = 0

    /// A wheel whose clock starts at `now` (seconds; must not be negative).
    public init(now: Int64) {
        precondition(now >= 0, "the wheel's clock starts at a non-negative instant")
        self.now = now
    }

    /// Grows the slab to hold `capacity` timers without allocating later.
    public mutating func reserveCapacity(_ capacity: Int) {
        entries.reserveCapacity(capacity)
    }

    // MARK: - Scheduling

    /// Schedules a timer for `deadline`. A deadline at or before ``now`` is due at
    /// once: the next pop hands it out.
    @discardableResult
    public mutating func schedule(at deadline: Int64, payload: UInt64) -> TimerHandle {
        let index: UInt32
        if freeHead != Self.none {
            index = freeHead
            freeHead = entries[Int(index)].position
            entries[Int(index)].deadline = deadline
            entries[Int(index)].payload = payload
        } else {
            index = UInt32(entries.count)
            entries.append(Entry(deadline: deadline, payload: payload, position: 0, generation: 0,
                                 location: Self.locationFree))
        }
        count += 1
        place(index)
        return TimerHandle(index: index, generation: entries[Int(index)].generation)
    }

    /// Cancels a pending timer. Returns false if the handle's timer already fired,
    /// was cancelled, or the handle is stale.
    @discardableResult
    public mutating func cancel(_ handle: TimerHandle) -> Bool {
        guard isPending(handle) else { return false }
        unlink(handle.index)
        release(handle.index)
        return true
    }

    /// Moves a pending timer to a new deadline, keeping its handle. Returns false
    /// (and schedules nothing) if the handle is not pending.
    @discardableResult
    public mutating func reschedule(_ handle: TimerHandle, to deadline: Int64) -> Bool {
        guard isPending(handle) else { return false }
        unlink(handle.index)
        entries[Int(handle.index)].deadline = deadline
        place(handle.index)
        return true
    }

    /// Whether `handle` names a timer that has neither fired nor been cancelled.
    public func isPending(_ handle: TimerHandle) -> Bool {
        let i = Int(handle.index)
        return i < entries.count && entries[i].generation == handle.generation
            && entries[i].location != Self.locationFree
    }

    /// The deadline of a pending timer.
    public func deadline(of handle: TimerHandle) -> Int64? {
        isPending(handle) ? entries[Int(handle.index)].deadline : nil
    }

    // MARK: - Time

    /// Hands out the next timer due at or before `target`, in due order, or nil
    /// when none is left; the wheel's clock then stands at `target` (it never
    /// moves backwards). Cancelling a timer between two pops keeps it from firing.
    public mutating func popExpired(notAfter target: Int64) -> ExpiredTimer? {
        while true {
            while readyCursor < ready.count {
                let handle = ready[readyCursor]
                guard isPending(handle) else {
                    readyCursor += 1
                    continue
                }
                let entry = entries[Int(handle.index)]
                // Due for the wheel but not for this caller's target (a target
                // behind `now`): keep it for a later pop.
                guard entry.deadline <= target else { return nil }
                readyCursor += 1
                release(handle.index)
                return ExpiredTimer(handle: handle, deadline: entry.deadline, payload: entry.payload)
            }
            ready.removeAll(keepingCapacity: true)
            readyCursor = 0
            if !collectNextBatch(notAfter: target) {
                if target > now { now = target }
                return nil
            }
        }
    }

    /// Pops every timer due at or before `target`, in due order.
    public mutating func advance(to target: Int64) -> [ExpiredTimer] {
        var out: [ExpiredTimer] = []
        while let timer = popExpired(notAfter: target) { out.append(timer) }
        return out
    }

    /// No pending timer is due before this instant (exact for the next due
    /// second, a lower bound when the next timer still sits in a coarse slot).
    /// Nil when nothing is pending.
    public func nextExpirationBound() -> Int64? {
        if count == 0 { return nil }
        var best: Int64 = .max
        for i in readyCursor..<ready.count where isPending(ready[i]) {
            best = min(best, entries[Int(ready[i].index)].deadline)
        }
        if let next = nextSlot() { best = min(best, next.start) }
        if !lists[Self.overflowList].isEmpty { best = min(best, overflowEntryTime) }
        return best == .max ? nil : best
    }

    // MARK: - Internals

    /// Puts an entry into the ready list, a slot, or the overflow list, by its deadline relative to `now`.
    mutating func place(_ index: UInt32) {
        place(index, deadline: entries[Int(index)].deadline)
    }

    mutating func place(_ index: UInt32, deadline: Int64) {
        if deadline <= now {
            entries[Int(index)].location = Self.locationReady
            insertReady(index)
            return
        }
        let significant = 63 - ((UInt64(deadline) ^ UInt64(now)) | 63).leadingZeroBitCount
        let level = significant / Self.slotBits
        let list: Int
        if level >= Self.levels {
            list = Self.overflowList
            overflowMinimum = min(overflowMinimum, deadline)
        } else {
            let slot = Int((UInt64(deadline) >> UInt64(level * Self.slotBits)) & 63)
            list = level * Self.slotsPerLevel + slot
            occupied[level] |= 1 << UInt64(slot)
        }
        entries[Int(index)].location = UInt16(list)
        entries[Int(index)].position = UInt32(lists[list].count)
        lists[list].append(Slotted(deadline: deadline, index: index))
    }

    /// A timer that is due already: into the ready list at its due-order position.
    mutating func insertReady(_ index: UInt32) {
        let handle = TimerHandle(index: index, generation: entries[Int(index)].generation)
        let key = (entries[Int(index)].deadline, entries[Int(index)].payload)
        var position = ready.count
        while position > readyCursor {
            let other = entries[Int(ready[position - 1].index)]
            if isPending(ready[position - 1]) && (other.deadline, other.payload) <= key { break }
            position -= 1
        }
        ready.insert(handle, at: position)
    }

    /// Takes a pending entry out of whatever list holds it.
    mutating func unlink(_ index: UInt32) {
        let entry = entries[Int(index)]
        if entry.location == Self.locationReady {
            if let at = ready[readyCursor...].firstIndex(of: TimerHandle(index: index, generation: entry.generation)) {
                ready.remove(at: at)
            }
            return
        }
        let list = Int(entry.location)
        let position = Int(entry.position)
        let last = lists[list].removeLast()
        if last.index != index {
            lists[list][position] = last
            entries[Int(last.index)].position = UInt32(position)
        }
        if lists[list].isEmpty && list != Self.overflowList {
            occupied[list / Self.slotsPerLevel] &= ~(1 << UInt64(list % Self.slotsPerLevel))
        }
    }

    /// Returns an entry to the free list and invalidates its handles.
    mutating func release(_ index: UInt32) {
        entries[Int(index)].generation &+= 1
        entries[Int(index)].location = Self.locationFree
        entries[Int(index)].position = freeHead
        freeHead = index
        count -= 1
    }

    /// The earliest occupied slot across levels: its level, slot and start instant.
    func nextSlot() -> (level: Int, slot: Int, start: Int64)? {
        var best: (level: Int, slot: Int, start: Int64)? = nil
        let current = UInt64(now)
        for level in 0..<Self.levels where occupied[level] != 0 {
            let shift = UInt64(level * Self.slotBits)
            let nowSlot = Int((current >> shift) & 63)
            let bits = occupied[level]
            let rotated = nowSlot == 0 ? bits : (bits >> UInt64(nowSlot)) | (bits << UInt64(64 - nowSlot))
            let slot = (nowSlot + rotated.trailingZeroBitCount) & 63
            let levelRange = UInt64(1) << (shift + 6)
            var start = (current & ~(levelRange - 1)) + (UInt64(slot) << shift)
            if slot < nowSlot { start += levelRange }
            let instant = Int64(start)
            if best == nil || instant < best!.start { best = (level, slot, instant) }
        }
        return best
    }

    /// When the overflow list must be re-examined: the start of the 2^36-second
    /// block that holds its earliest deadline. From then on that deadline and the
    /// clock differ only in the bits the wheel's levels cover.
    var overflowEntryTime: Int64 {
        overflowMinimum & ~((Int64(1) << Int64(Self.levels * Self.slotBits)) - 1)
    }

    /// Processes the earliest slots up to `target` until at least one timer is
    /// ready; returns false when nothing more is due by `target`.
    mutating func collectNextBatch(notAfter target: Int64) -> Bool {
        while true {
            let slot = nextSlot()
            let overflowAt = lists[Self.overflowList].isEmpty ? Int64.max : max(overflowEntryTime, now)
            if overflowAt <= target, slot == nil || overflowAt < slot!.start {
                now = max(now, overflowAt)
                overflowMinimum = .max
                let batchStart = ready.count
                empty(list: Self.overflowList)
                sortReady(from: batchStart)
                if ready.count > readyCursor { return true }
                continue
            }
            guard let slot, slot.start <= target else { return false }
            now = max(now, slot.start)
            // Every slot that starts at this same instant is emptied before any
            // timer is handed out, so ties come out in payload order.
            let batchStart = ready.count
            while let current = nextSlot(), current.start == slot.start {
                occupied[current.level] &= ~(1 << UInt64(current.slot))
                empty(list: current.level * Self.slotsPerLevel + current.slot)
            }
            sortReady(from: batchStart)
            if ready.count > readyCursor { return true }
        }
    }

    /// Empties one list: due timers become ready, the rest move to finer levels.
    mutating func empty(list: Int) {
        swap(&scratch, &lists[list])
        for item in scratch {
            if item.deadline <= now {
                entries[Int(item.index)].location = Self.locationReady
                ready.append(TimerHandle(index: item.index, generation: entries[Int(item.index)].generation))
            } else {
                place(item.index, deadline: item.deadline)
            }
        }
        scratch.removeAll(keepingCapacity: true)
    }

    /// Sorts `ready[from...]` by (deadline, payload) unless already in order.
    mutating func sortReady(from start: Int) {
        guard ready.count - start > 1 else { return }
        let entries = self.entries
        func key(_ h: TimerHandle) -> (Int64, UInt64) { (entries[Int(h.index)].deadline, entries[Int(h.index)].payload) }
        var sorted = true
        for i in (start + 1)..<ready.count where key(ready[i - 1]) > key(ready[i]) {
            sorted = false
            break
        }
        if !sorted { ready[start...].sort { key($0) < key($1) } }
    }
}
