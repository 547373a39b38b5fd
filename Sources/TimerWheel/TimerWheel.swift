import CPrefetch

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
/// **Cost.** `schedule`, `cancel` and `reschedule` are O(1) (cancel amortised,
/// see below). Advancing costs O(levels) per occupied slot visited plus O(1) per
/// timer that cascades to a finer level (at most `levels` times in its life) or
/// fires — also when time jumps by a year: empty slots are skipped with one bit
/// scan per level.
///
/// **Lazy cancellation.** A slot element carries the stamp its entry had when
/// it was placed; cancelling or rescheduling changes the entry's stamp, which
/// turns the old element stale without touching it. So a cancel writes one slab
/// entry and nothing else: no list surgery, no second entry to fix up. Stale
/// elements are dropped when their slot is emptied, or by a compaction pass
/// once they outnumber the pending timers; a compaction costs O(elements held)
/// and runs at most once per `count` cancellations, so cancel stays O(1)
/// amortised and the wheel never holds more than twice as many elements as
/// pending timers (or 65,536 stale elements, whichever is more).
///
/// **Batched cancellation.** A cancel's cost is one random slab access, a
/// cache miss once the slab outgrows the cache. ``cancel(_:)`` waits for it to
/// answer whether the timer was pending; ``cancelBatched(_:)`` does not answer
/// and queues the handle instead, and each 32 queued cancels are applied in one
/// pass whose slab loads are independent, so their misses overlap. Every pop
/// and every query applies the queue first, so a queued cancel is as final as
/// an immediate one.
///
/// **Batched placement.** ``schedule(at:payload:)`` hands out the handle at
/// once but queues the new timer's slot element; each 32 are placed together.
/// The caller's loop between two schedules is then short, so the processor
/// overlaps the caller's own cache misses (a random handle it loads to cancel)
/// instead of waiting for each; measured: cancel-heavy 15-20 % faster. A queued
/// timer is as scheduled as a placed one: every pop and query places the queue
/// first.
///
/// **Memory.** 32 bytes per pending timer (``bytesPerTimer``): a 24-byte slab
/// entry and an 8-byte slot element (index and stamp; the deadline is read
/// from the entry, whose line emptying a slot loads anyway to check the
/// stamp); at most 40 bytes while stale elements await compaction. Entries
/// freed by firing or cancelling are reused and slot arrays keep their
/// capacity, so once the wheel has grown to its peak no operation allocates.
///
/// Slots are arrays rather than linked lists: emptying a slot walks an array,
/// so the processor fetches many elements at once instead of chasing pointers
/// (``SlotLists``: one table of buffers).
///
/// Six levels of 64 slots span 2^36 seconds (about 2,177 years); a timer beyond
/// that waits in an overflow list and enters the wheel when time comes near it.
///
/// Noncopyable, so that no write ever has to ask whether another value shares
/// the wheel's storage (see ``Slab``); not thread-safe: owned by one actor.
public struct TimerWheel: ~Copyable {
    static let slotBits = 6
    static let slotsPerLevel = 64
    /// Six, the length of ``Occupancy``.
    static let levels = Occupancy.count
    /// One word of occupancy bits per level, held inline like the queues
    /// (setting a bit asks the runtime nothing).
    typealias Occupancy = InlineArray<6, UInt64>
    @usableFromInline static let none: UInt32 = .max
    /// The overflow list is the list after the last slot.
    static let overflowList = levels * slotsPerLevel

    @usableFromInline struct Entry {
        @usableFromInline var deadline: Int64
        /// The caller's payload; the next free entry while free.
        @usableFromInline var payload: UInt64
        /// Odd while pending; moves on when the timer fires or is cancelled, so
        /// handles of earlier timers in this entry never match again.
        @usableFromInline var generation: UInt32
        /// Moves on whenever the entry's slot element goes stale (fire, cancel,
        /// reschedule); an element is live only while its stamp equals this.
        @usableFromInline var stamp: UInt32
        @inlinable init(deadline: Int64, payload: UInt64, generation: UInt32, stamp: UInt32) {
            self.deadline = deadline
            self.payload = payload
            self.generation = generation
            self.stamp = stamp
        }
    }

    /// A slot element: the entry's index and the stamp that tells whether it
    /// is still live. The deadline is the entry's (a live element's entry has
    /// not been rescheduled since it was placed).
    @usableFromInline struct Slotted {
        @usableFromInline var index: UInt32
        @usableFromInline var stamp: UInt32
        @inlinable init(index: UInt32, stamp: UInt32) {
            self.index = index
            self.stamp = stamp
        }
    }

    /// A timer just scheduled and not yet placed: its element and deadline.
    @usableFromInline struct Queued {
        @usableFromInline var deadline: Int64
        @usableFromInline var item: Slotted
        @inlinable init(deadline: Int64, item: Slotted) {
            self.deadline = deadline
            self.item = item
        }
    }

    /// The cost of one pending timer (slab entry plus its slot element), in bytes.
    public static var bytesPerTimer: Int { MemoryLayout<Entry>.stride + MemoryLayout<Slotted>.stride }

    @usableFromInline var entries = Slab()
    @usableFromInline var freeHead: UInt32 = none
    /// The elements of each slot, level-major, then the overflow list.
    var lists = SlotLists(listCount: levels * slotsPerLevel + 1)
    /// One occupancy bit per slot, one word per level (an occupied slot may hold only stale elements).
    var occupied = Occupancy(repeating: 0)
    var overflowMinimum: Int64 = .max
    /// Elements that are due and wait to be popped, in due order from `readyCursor` on.
    var ready: [Slotted] = []
    var readyCursor = 0
    /// Stale elements still held in slots or the ready list.
    var stale = 0
    /// Stamp changes since the last compaction. Kept below 2^31 (by compacting),
    /// so a stale element's stamp can never come round to match its entry again.
    var stampChanges: UInt64 = 0
    /// Stale elements tolerated before a compaction, whatever the pending count
    /// (tests lower it, and ``stampChangeLimit``, to exercise compaction).
    var compactionFloor = 1 << 16
    var earliestSlotCache: (level: Int, slot: Int, start: Int64)? = nil
    var earliestSlotKnown = false
    var stampChangeLimit: UInt64 = 1 << 31

    /// The instant up to which every due timer has been handed out.
    public private(set) var now: Int64
    /// Timers scheduled and neither fired nor cancelled, counting queued cancels as not yet applied.
    @usableFromInline var appliedCount = 0
    /// How many of ``cancelQueue`` and ``placementQueue`` are in use.
    @usableFromInline var queuedCancels = 0
    @usableFromInline var queuedPlacements = 0

    // The two queues are held inline (no heap buffer, so queueing checks no
    // uniqueness and calls nothing: 12-20 % off the cancel-heavy workload
    // against arrays), last, so that the fields every operation reads share
    // the wheel's first cache lines.

    /// Handles given to ``cancelBatched(_:)`` and not applied yet: the first
    /// `queuedCancels` of this fixed-size buffer.
    @usableFromInline var cancelQueue = InlineArray<32, TimerHandle>(repeating: TimerHandle(index: none, generation: 0))
    /// How many batched cancels are applied together.
    @usableFromInline static var cancelBatchSize: Int { InlineArray<32, TimerHandle>.count }

    /// Elements of timers just scheduled, not yet put into their slots: the
    /// first `queuedPlacements` of this fixed-size buffer (see "Batched
    /// placement" above). Every pop, query, cancel and compaction places them first.
    @usableFromInline var placementQueue = InlineArray<32, Queued>(repeating: Queued(deadline: 0, item: Slotted(index: 0, stamp: 0)))
    @usableFromInline static var placementBatchSize: Int { InlineArray<32, Queued>.count }

    /// Timers scheduled and neither fired nor cancelled.
    public var count: Int {
        var queuedPending = 0
        for k in 0..<queuedCancels where isPendingInSlab(cancelQueue[k]) && !isQueuedForCancel(cancelQueue[k], before: k) {
            queuedPending += 1
        }
        return appliedCount - queuedPending
    }

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
    @discardableResult @inlinable
    public mutating func schedule(at deadline: Int64, payload: UInt64) -> TimerHandle {
        let index: UInt32
        var entry: Entry
        if freeHead != Self.none {
            index = freeHead
            entry = entries[Int(index)]
            freeHead = UInt32(truncatingIfNeeded: entry.payload)
            entry.deadline = deadline
            entry.payload = payload
            entry.generation &+= 1
            entries[Int(index)] = entry
        } else {
            index = UInt32(entries.count)
            entry = Entry(deadline: deadline, payload: payload, generation: 1, stamp: 0)
            entries.append(entry)
        }
        appliedCount += 1
        placementQueue[queuedPlacements] = Queued(deadline: deadline, item: Slotted(index: index, stamp: entry.stamp))
        queuedPlacements += 1
        if queuedPlacements == Self.placementBatchSize { applyQueuedPlacements() }
        return TimerHandle(index: index, generation: entry.generation)
    }

    /// Cancels a pending timer. Returns false if the handle's timer already fired,
    /// was cancelled, or the handle is stale.
    @discardableResult
    public mutating func cancel(_ handle: TimerHandle) -> Bool {
        applyQueuedChanges()
        guard isPendingInSlab(handle) else { return false }
        stale += 1  // before release, which may compact it away
        release(handle.index)
        compactIfStale()
        return true
    }

    /// Cancels a pending timer without answering whether it was pending: the
    /// handle is queued and applied with up to ``cancelBatchSize`` - 1 others in
    /// one pass that reads all their slab entries at once, so their cache misses
    /// overlap instead of each cancel waiting for its own. The promise is the
    /// same as ``cancel(_:)``'s: from this call on the timer never fires (every
    /// pop, query and other change applies the queue first), and a handle that
    /// is no longer pending is ignored.
    @inlinable
    public mutating func cancelBatched(_ handle: TimerHandle) {
        cancelQueue[queuedCancels] = handle
        queuedCancels += 1
        if queuedCancels == Self.cancelBatchSize { applyQueuedChanges() }
    }

    /// Puts the queued elements of newly scheduled timers into their slots.
    @usableFromInline
    mutating func applyQueuedPlacements() {
        let n = queuedPlacements
        queuedPlacements = 0
        for k in 0..<n { place(placementQueue[k].item, deadline: placementQueue[k].deadline) }
    }

    /// Applies every queued placement, then every queued cancel: first a pass
    /// that only loads the entries (independent loads, so the processor has
    /// them all in flight together), then a pass that releases the pending
    /// ones, now in cache.
    @usableFromInline
    mutating func applyQueuedChanges() {
        applyQueuedPlacements()
        let n = queuedCancels
        guard n > 0 else { return }
        queuedCancels = 0
        prefetchEntries(count: n) { cancelQueue[$0].index }
        var pendingMask: UInt64 = 0
        for k in 0..<n where isPendingInSlab(cancelQueue[k]) { pendingMask |= 1 << UInt64(k) }
        while pendingMask != 0 {
            let k = pendingMask.trailingZeroBitCount
            pendingMask &= pendingMask - 1
            let handle = cancelQueue[k]
            // Checked again: the same handle queued twice is applied once.
            guard isPendingInSlab(handle) else { continue }
            stale += 1
            release(handle.index)
        }
        compactIfStale()
    }

    /// Moves a pending timer to a new deadline, keeping its handle. Returns false
    /// (and schedules nothing) if the handle is not pending.
    @discardableResult
    public mutating func reschedule(_ handle: TimerHandle, to deadline: Int64) -> Bool {
        applyQueuedChanges()
        guard isPendingInSlab(handle) else { return false }
        let i = Int(handle.index)
        entries[i].stamp &+= 1
        entries[i].deadline = deadline
        stale += 1
        place(Slotted(index: handle.index, stamp: entries[i].stamp), deadline: deadline)
        // After placing: a compaction that rebuilds the slots from the slab
        // would otherwise place this timer once itself and once more here.
        noteStampChange()
        compactIfStale()
        return true
    }

    /// Starts loading the slab entries `index(0..<count)` names, all at once:
    /// the checks that follow then find them in cache, however their branches
    /// go (a mispredicted branch on one entry's stamp would otherwise cancel the
    /// loads the processor had started past it).
    @inline(__always)
    func prefetchEntries(count: Int, _ index: (Int) -> UInt32) {
        let base = entries.base
        let slabCount = entries.count
        for k in 0..<count {
            let i = Int(index(k))
            if i < slabCount { disputed_prefetch(base + i) }
        }
    }

    /// Whether `handle` names a timer that has neither fired nor been cancelled.
    public func isPending(_ handle: TimerHandle) -> Bool {
        isPendingInSlab(handle) && !isQueuedForCancel(handle, before: queuedCancels)
    }

    /// Whether `handle` is among the first `end` queued cancels.
    func isQueuedForCancel(_ handle: TimerHandle, before end: Int) -> Bool {
        for k in 0..<end where cancelQueue[k] == handle { return true }
        return false
    }

    /// Whether the slab says `handle` is pending (queued cancels not applied yet).
    @inline(__always)
    func isPendingInSlab(_ handle: TimerHandle) -> Bool {
        let i = Int(handle.index)
        return i < entries.count && entries[i].generation == handle.generation && handle.generation & 1 == 1
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
        applyQueuedChanges()
        while true {
            while readyCursor < ready.count {
                let item = ready[readyCursor]
                guard isLive(item) else {
                    readyCursor += 1
                    stale -= 1
                    continue
                }
                // Due for the wheel but not for this caller's target (a target
                // behind `now`): keep it for a later pop.
                let entry = entries[Int(item.index)]
                guard entry.deadline <= target else { return nil }
                readyCursor += 1
                release(item.index)
                return ExpiredTimer(handle: TimerHandle(index: item.index, generation: entry.generation),
                                    deadline: entry.deadline, payload: entry.payload)
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
        for i in readyCursor..<ready.count where isLive(ready[i]) {
            best = min(best, entries[Int(ready[i].index)].deadline)
        }
        for k in 0..<queuedPlacements where isLive(placementQueue[k].item) {
            best = min(best, placementQueue[k].deadline)
        }
        if let next = nextSlot() { best = min(best, next.start) }
        if lists.count(Self.overflowList) > 0 { best = min(best, overflowEntryTime) }
        return best == .max ? nil : best
    }

    // MARK: - Internals

    @inline(__always)
    func isLive(_ item: Slotted) -> Bool {
        entries[Int(item.index)].stamp == item.stamp
    }

    /// Returns an entry to the free list: its handles and its element go stale.
    @inline(__always)
    mutating func release(_ index: UInt32) {
        let i = Int(index)
        entries[i].generation &+= 1
        entries[i].stamp &+= 1
        entries[i].payload = UInt64(freeHead)
        freeHead = index
        appliedCount -= 1
        noteStampChange()
    }

    /// Compacts once stale elements outnumber the pending timers (and the floor).
    @inline(__always)
    mutating func compactIfStale() {
        if stale > max(appliedCount, compactionFloor) { compact() }
    }

    @inline(__always)
    mutating func noteStampChange() {
        stampChanges &+= 1
        if stampChanges >= stampChangeLimit { compact() }
    }

    /// Puts an element into the ready list, a slot, or the overflow list, by its deadline relative to `now`.
    mutating func place(_ item: Slotted, deadline: Int64) {
        if deadline <= now {
            insertReady(item)
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
            if occupied[level] & (1 << UInt64(slot)) == 0 {
                occupied[level] |= 1 << UInt64(slot)
                earliestSlotKnown = false
            }
        }
        lists.append(item, to: list)
    }

    func dueOrder(_ item: Slotted) -> (Int64, UInt64) {
        let entry = entries[Int(item.index)]
        return (entry.deadline, entry.payload)
    }

    /// A timer that is due already: into the ready list at its due-order position.
    mutating func insertReady(_ item: Slotted) {
        let key = dueOrder(item)
        var position = ready.count
        while position > readyCursor {
            let other = ready[position - 1]
            if isLive(other) && dueOrder(other) <= key { break }
            position -= 1
        }
        ready.insert(item, at: position)
    }

    /// How compactions ran (tests check that both ways are exercised).
    var compactions = (rebuilds: 0, filters: 0)

    /// Drops every stale element from every list and the ready list.
    ///
    /// Two ways, the cheaper for the wheel's shape: while the slab is at most
    /// twice as long as the elements held, the slots are rebuilt from a
    /// sequential pass over the slab (no random access at all); otherwise each
    /// slot is filtered, which reads one random entry per element but costs
    /// nothing for the free entries of a slab that once held many more timers.
    /// Either way a compaction costs O(elements held).
    mutating func compact() {
        applyQueuedPlacements()
        let entries = self.entries.buffer
        ready.removeSubrange(0..<readyCursor)
        readyCursor = 0
        ready.removeAll { entries[Int($0.index)].stamp != $0.stamp }
        if entries.count <= 2 * (appliedCount + stale) {
            rebuildSlots()
            compactions.rebuilds += 1
        } else {
            for list in 0..<lists.listCount where lists.count(list) > 0 {
                lists.filter(list) { entries[Int($0.index)].stamp == $0.stamp }
                if lists.count(list) == 0 && list != Self.overflowList {
                    occupied[list / Self.slotsPerLevel] &= ~(1 << UInt64(list % Self.slotsPerLevel))
                    earliestSlotKnown = false
                }
            }
            compactions.filters += 1
        }
        stale = 0
        stampChanges = 0
    }

    /// Empties every slot and places each pending timer again from its entry.
    /// A pending timer due by ``now`` has its element in the ready list (that
    /// list is kept); every other one has its element in a slot or the overflow
    /// list, so it is placed once more, with its current stamp.
    mutating func rebuildSlots() {
        for list in 0..<lists.listCount { lists.removeAll(list) }
        for level in occupied.indices { occupied[level] = 0 }
        earliestSlotKnown = false
        overflowMinimum = .max
        let entries = self.entries.buffer
        let now = self.now
        for i in entries.indices {
            let entry = entries[i]
            if entry.generation & 1 == 1 && entry.deadline > now {
                place(Slotted(index: UInt32(truncatingIfNeeded: i), stamp: entry.stamp), deadline: entry.deadline)
            }
        }
    }

    /// ``nextSlot()``, remembered until an occupancy bit changes: advancing one
    /// second at a time then costs O(1) per step instead of a scan of every
    /// level. The answer stays right while the clock moves towards it, since
    /// every occupied slot starts at or after it.
    mutating func earliestSlot() -> (level: Int, slot: Int, start: Int64)? {
        if !earliestSlotKnown {
            earliestSlotCache = Self.nextSlot(occupied: occupied, now: now)
            earliestSlotKnown = true
        }
        return earliestSlotCache
    }

    /// The earliest occupied slot across levels: its level, slot and start instant.
    func nextSlot() -> (level: Int, slot: Int, start: Int64)? { Self.nextSlot(occupied: occupied, now: now) }

    /// ``nextSlot()`` from its inputs alone: called from a mutating method, an
    /// instance method got a memcpy of the whole wheel (nearly a kilobyte with
    /// the inline queues) at every call.
    static func nextSlot(occupied: Occupancy, now: Int64) -> (level: Int, slot: Int, start: Int64)? {
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
            let slot = earliestSlot()
            let overflowAt = lists.count(Self.overflowList) == 0 ? Int64.max : max(overflowEntryTime, now)
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
            while let current = earliestSlot(), current.start == slot.start {
                occupied[current.level] &= ~(1 << UInt64(current.slot))
                earliestSlotKnown = false
                empty(list: current.level * Self.slotsPerLevel + current.slot)
            }
            sortReady(from: batchStart)
            if ready.count > readyCursor { return true }
        }
    }

    /// Empties one list: stale elements are dropped, due ones become ready, the
    /// rest move to finer levels.
    mutating func empty(list: Int) {
        let taken = lists.take(list)
        if let base = taken.base {
            for (k, item) in UnsafeBufferPointer(start: base, count: taken.count).enumerated() {
                // Each entry is a random slab read: ask for them 16 at a time,
                // one group ahead of the walk, so they arrive before they are read.
                if k & 15 == 0 {
                    if k == 0 { prefetchEntries(count: min(16, taken.count)) { base[$0].index } }
                    let next = k + 16
                    if next < taken.count { prefetchEntries(count: min(16, taken.count - next)) { base[next + $0].index } }
                }
                let entry = entries[Int(item.index)]
                if entry.stamp != item.stamp {
                    stale -= 1
                } else if entry.deadline <= now {
                    ready.append(item)
                } else {
                    place(item, deadline: entry.deadline)
                }
            }
        }
        lists.giveBack(taken)
    }

    /// Sorts `ready[from...]` by (deadline, payload) unless already in order.
    mutating func sortReady(from start: Int) {
        guard ready.count - start > 1 else { return }
        let entries = self.entries.buffer
        func key(_ s: Slotted) -> (Int64, UInt64) { let e = entries[Int(s.index)]; return (e.deadline, e.payload) }
        if ready.count - start <= 32 {
            // Insertion sort in place: the usual small batch allocates nothing
            // (sorting a slice copies it), and costs nothing when already in order.
            for i in (start + 1)..<ready.count {
                let item = ready[i]
                let itemKey = key(item)
                var j = i
                while j > start && key(ready[j - 1]) > itemKey {
                    ready[j] = ready[j - 1]
                    j -= 1
                }
                if j != i { ready[j] = item }
            }
            return
        }
        var sorted = true
        for i in (start + 1)..<ready.count where key(ready[i - 1]) > key(ready[i]) {
            sorted = false
            break
        }
        if !sorted { ready[start...].sort { key($0) < key($1) } }
    }
}
