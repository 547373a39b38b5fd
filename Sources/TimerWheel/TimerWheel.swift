/// A hierarchical timing wheel (Varghese & Lauck, cascading as in tokio and
/// Kafka) indexing pending deadlines at a base resolution of one second.
///
/// **Promise.** A timer never fires before its instant, fires at most once, and
/// fires at the first ``popExpired(notAfter:)`` / ``advance(to:)`` whose target
/// reaches its instant. Timers due at the same second come out in the order they
/// were scheduled. Instants are whole seconds (the daemon rounds up, so never early).
///
/// **Cost.** `schedule`, `cancel` and `reschedule` are O(1). Advancing costs
/// O(levels) per occupied slot visited plus O(1) per timer that cascades to a
/// finer level (at most `levels` times in its life) or fires — also when time
/// jumps by a year: empty slots are skipped with one bit scan per level.
///
/// **Memory.** One 40-byte slab entry per pending timer (``bytesPerTimer``) plus
/// a fixed 6 × 64 slot table (1.6 KiB); slots freed by firing or cancelling are reused, so
/// once the slab has grown to the peak number of pending timers no operation
/// allocates.
///
/// Six levels of 64 slots span 2^36 seconds (about 2,177 years); a timer beyond
/// that waits in an overflow list and enters the wheel when time comes near it.
///
/// Not thread-safe: a value type owned by one actor.
public struct TimerWheel {
    @usableFromInline static let slotBits = 6
    @usableFromInline static let slotsPerLevel = 64
    @usableFromInline static let levels = 6
    @usableFromInline static let none: UInt32 = .max
    /// Location markers for entries that are not in a wheel slot.
    @usableFromInline static let locationFree: UInt16 = .max
    @usableFromInline static let locationOverflow: UInt16 = .max - 1
    @usableFromInline static let locationReady: UInt16 = .max - 2

    @usableFromInline struct Entry {
        @usableFromInline var deadline: Int64
        @usableFromInline var payload: UInt64
        @usableFromInline var sequence: UInt64
        @usableFromInline var next: UInt32
        @usableFromInline var previous: UInt32
        @usableFromInline var generation: UInt32
        /// level * 64 + slot, or one of the location markers.
        @usableFromInline var location: UInt16
    }

    /// The cost of one pending timer in the slab, in bytes.
    public static var bytesPerTimer: Int { MemoryLayout<Entry>.stride }

    @usableFromInline var entries: [Entry] = []
    @usableFromInline var freeHead: UInt32 = none
    /// Head of each slot's doubly linked list, level-major, then the overflow list's.
    @usableFromInline var heads: [UInt32] = Array(repeating: none, count: levels * slotsPerLevel + 1)
    @usableFromInline static let overflowList = levels * slotsPerLevel
    /// One occupancy bit per slot, one word per level.
    @usableFromInline var occupied: [UInt64] = Array(repeating: 0, count: levels)
    @usableFromInline var overflowHead: UInt32 { heads[Self.overflowList] }
    @usableFromInline var overflowMinimum: Int64 = .max
    /// Timers that are due and wait to be popped, in due order from `readyCursor` on.
    @usableFromInline var ready: [TimerHandle] = []
    @usableFromInline var readyCursor = 0
    @usableFromInline var nextSequence: UInt64 = 0

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
            freeHead = entries[Int(index)].next
        } else {
            index = UInt32(entries.count)
            entries.append(Entry(deadline: 0, payload: 0, sequence: 0, next: Self.none, previous: Self.none,
                                 generation: 0, location: Self.locationFree))
        }
        entries[Int(index)].deadline = deadline
        entries[Int(index)].payload = payload
        entries[Int(index)].sequence = nextSequence
        nextSequence &+= 1
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
        entries[Int(handle.index)].sequence = nextSequence
        nextSequence &+= 1
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
                readyCursor += 1
                guard isPending(handle) else { continue }
                let entry = entries[Int(handle.index)]
                guard entry.deadline <= target else {
                    // Due relative to the wheel but not to this caller's target (a
                    // target behind `now`): keep it for a later pop.
                    readyCursor -= 1
                    return nil
                }
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
        if overflowHead != Self.none { best = min(best, overflowEntryTime) }
        return best == .max ? nil : best
    }

    // MARK: - Internals

    /// Puts an entry into the ready list, a slot, or the overflow list, by its deadline relative to `now`.
    @usableFromInline mutating func place(_ index: UInt32) {
        let deadline = entries[Int(index)].deadline
        if deadline <= now {
            entries[Int(index)].location = Self.locationReady
            insertReady(index)
            return
        }
        let significant = 63 - ((UInt64(deadline) ^ UInt64(now)) | 63).leadingZeroBitCount
        let level = significant / Self.slotBits
        if level >= Self.levels {
            entries[Int(index)].location = Self.locationOverflow
            push(index, onto: Self.overflowList)
            overflowMinimum = min(overflowMinimum, deadline)
            return
        }
        let slot = Int((UInt64(deadline) >> UInt64(level * Self.slotBits)) & 63)
        let position = level * Self.slotsPerLevel + slot
        entries[Int(index)].location = UInt16(position)
        push(index, onto: position)
        occupied[level] |= 1 << UInt64(slot)
    }

    /// A timer that is due already: into the ready list at its due-order position.
    mutating func insertReady(_ index: UInt32) {
        let handle = TimerHandle(index: index, generation: entries[Int(index)].generation)
        let key = (entries[Int(index)].deadline, entries[Int(index)].sequence)
        var position = ready.count
        while position > readyCursor {
            let other = entries[Int(ready[position - 1].index)]
            if isPending(ready[position - 1]) && (other.deadline, other.sequence) <= key { break }
            position -= 1
        }
        ready.insert(handle, at: position)
    }

    @usableFromInline mutating func push(_ index: UInt32, onto list: Int) {
        let head = heads[list]
        entries[Int(index)].previous = Self.none
        entries[Int(index)].next = head
        if head != Self.none { entries[Int(head)].previous = index }
        heads[list] = index
    }

    /// Takes a pending entry out of whatever list holds it.
    mutating func unlink(_ index: UInt32) {
        let entry = entries[Int(index)]
        switch entry.location {
        case Self.locationReady:
            // Stays in `ready`; its generation changes on release or it is re-placed,
            // so the stale handle there is skipped.
            if let at = ready[readyCursor...].firstIndex(of: TimerHandle(index: index, generation: entry.generation)) {
                ready.remove(at: at)
            }
        case Self.locationOverflow:
            unlinkFromList(index, list: Self.overflowList)
        default:
            let position = Int(entry.location)
            unlinkFromList(index, list: position)
            if heads[position] == Self.none {
                occupied[position / Self.slotsPerLevel] &= ~(1 << UInt64(position % Self.slotsPerLevel))
            }
        }
    }

    private mutating func unlinkFromList(_ index: UInt32, list: Int) {
        let entry = entries[Int(index)]
        if entry.previous != Self.none { entries[Int(entry.previous)].next = entry.next } else { heads[list] = entry.next }
        if entry.next != Self.none { entries[Int(entry.next)].previous = entry.previous }
    }

    /// Returns an entry to the free list and invalidates its handles.
    mutating func release(_ index: UInt32) {
        entries[Int(index)].generation &+= 1
        entries[Int(index)].location = Self.locationFree
        entries[Int(index)].next = freeHead
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
            let overflowAt = overflowHead == Self.none ? Int64.max : max(overflowEntryTime, now)
            if overflowAt <= target, slot == nil || overflowAt < slot!.start {
                now = max(now, overflowAt)
                drainOverflow()
                if ready.count > readyCursor { return true }
                continue
            }
            guard let slot, slot.start <= target else { return false }
            now = max(now, slot.start)
            // Every slot that starts at this same instant is emptied before any
            // timer is handed out, so ties come out in scheduling order.
            let batchStart = ready.count
            repeat {
                let current = nextSlot()!
                guard current.start == slot.start else { break }
                cascade(level: current.level, slot: current.slot)
            } while nextSlot()?.start == slot.start
            if ready.count > batchStart {
                sortReady(from: batchStart)
                return true
            }
        }
    }

    /// Empties one slot: due timers become ready, the rest move to finer levels.
    mutating func cascade(level: Int, slot: Int) {
        let position = level * Self.slotsPerLevel + slot
        var index = heads[position]
        heads[position] = Self.none
        occupied[level] &= ~(1 << UInt64(slot))
        while index != Self.none {
            let next = entries[Int(index)].next
            if entries[Int(index)].deadline <= now {
                entries[Int(index)].location = Self.locationReady
                ready.append(TimerHandle(index: index, generation: entries[Int(index)].generation))
            } else {
                place(index)
            }
            index = next
        }
    }

    mutating func drainOverflow() {
        var index = overflowHead
        heads[Self.overflowList] = Self.none
        overflowMinimum = .max
        let batchStart = ready.count
        while index != Self.none {
            let next = entries[Int(index)].next
            place(index)
            index = next
        }
        sortReady(from: batchStart)
    }

    /// Sorts `ready[from...]` by (deadline, sequence) unless already in order.
    mutating func sortReady(from start: Int) {
        guard ready.count - start > 1 else { return }
        let entries = self.entries
        func key(_ h: TimerHandle) -> (Int64, UInt64) { (entries[Int(h.index)].deadline, entries[Int(h.index)].sequence) }
        var sorted = true
        for i in (start + 1)..<ready.count where key(ready[i - 1]) > key(ready[i]) {
            sorted = false
            break
        }
        if !sorted { ready[start...].sort { key($0) < key($1) } }
    }
}
