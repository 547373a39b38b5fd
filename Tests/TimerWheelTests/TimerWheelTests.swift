import Testing
@testable import TimerWheel

/// A small, fast, seedable generator so property runs are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The reference model: a plain array, fired by sorting.
struct ReferenceTimers {
    struct Timer { var deadline: Int64; var sequence: Int; var payload: UInt64 }
    var pending: [TimerHandle: Timer] = [:]
    var sequence = 0

    mutating func schedule(_ handle: TimerHandle, at deadline: Int64, payload: UInt64) {
        pending[handle] = Timer(deadline: deadline, sequence: sequence, payload: payload)
        sequence += 1
    }

    mutating func reschedule(_ handle: TimerHandle, to deadline: Int64) {
        pending[handle]!.deadline = deadline
    }

    mutating func advance(to target: Int64) -> [ExpiredTimer] {
        let due = pending.filter { $0.value.deadline <= target }
            .sorted { ($0.value.deadline, $0.value.payload) < ($1.value.deadline, $1.value.payload) }
        for (handle, _) in due { pending[handle] = nil }
        return due.map { ExpiredTimer(handle: $0.key, deadline: $0.value.deadline, payload: $0.value.payload) }
    }
}

extension TimerWheel {
    /// Elements held in slots, the overflow list and the unpopped ready list.
    var elementCount: Int { lists.totalCount + ready.count - readyCursor + queuedPlacements }
}

@Suite struct TimerWheelTests {
    let start: Int64 = 1_790_000_000  // 2026-09-21

    @Test(arguments: 0..<64)
    func randomOperationsMatchTheReferenceModel(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed) &* 7919 &+ 1)
        var wheel = TimerWheel(now: start)
        if seed % 2 == 1 {
            // Compact as eagerly as possible, and also on the stamp-change limit.
            wheel.compactionFloor = 0
            wheel.stampChangeLimit = 7
        }
        var model = ReferenceTimers()
        var handles: [TimerHandle] = []
        var clock = start
        var payload: UInt64 = 0

        func randomDeadline() -> Int64 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: return clock - Int64.random(in: 0...5000, using: &rng)            // already due
            case 1: return clock + Int64.random(in: 0...3, using: &rng)               // same or next second
            case 2: return clock + (Int64(1) << 36) + Int64.random(in: 0...1_000_000, using: &rng)  // beyond the span
            case 3: return clock + Int64.random(in: 0...(400 * 86400), using: &rng)    // up to a year and more
            default: return clock + Int64.random(in: 0...(30 * 86400), using: &rng)
            }
        }

        for _ in 0..<600 {
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<45:
                payload += 1
                let deadline = randomDeadline()
                let handle = wheel.schedule(at: deadline, payload: payload)
                model.schedule(handle, at: deadline, payload: payload)
                handles.append(handle)
            case 45..<65:
                guard let handle = handles.randomElement(using: &rng) else { continue }
                let expected = model.pending[handle] != nil
                var applied = false
                if Bool.random(using: &rng) {
                    applied = wheel.cancel(handle)
                    #expect(applied == expected)
                } else {
                    wheel.cancelBatched(handle)
                    let stillPending = wheel.isPending(handle)
                    #expect(!stillPending, "seed \(seed): a queued cancel still reads as pending")
                }
                model.pending[handle] = nil
                #expect(wheel.count == model.pending.count, "seed \(seed): count after a cancel")
                // Firing only removes elements; cancelling is what must compact.
                #expect(!applied || wheel.stale <= max(wheel.appliedCount, wheel.compactionFloor), "seed \(seed): stale elements beyond the bound")
            case 65..<75:
                guard let handle = handles.randomElement(using: &rng) else { continue }
                let deadline = randomDeadline()
                let expected = model.pending[handle] != nil
                let r2 = wheel.reschedule(handle, to: deadline)
                #expect(r2 == expected)
                if expected { model.reschedule(handle, to: deadline) }
                #expect(!r2 || wheel.stale <= max(wheel.appliedCount, wheel.compactionFloor), "seed \(seed): stale elements beyond the bound")
            default:
                let step: Int64
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: step = 365 * 86400 + Int64.random(in: 0...86400, using: &rng)
                case 1: step = -Int64.random(in: 0...3600, using: &rng)   // a target behind the wheel
                case 2: step = 0
                case 3: step = (Int64(1) << 36) + 5
                case 4, 5: step = Int64.random(in: 1...90, using: &rng)  // second-by-second, as the tick loop moves
                default: step = Int64.random(in: 1...(3 * 86400), using: &rng)
                }
                let target = clock + step
                let fired = wheel.advance(to: target)
                let expected = model.advance(to: target)
                #expect(fired == expected, "seed \(seed): advance to \(target)")
                if fired != expected { return }
                clock = max(clock, target)
                #expect(wheel.count == model.pending.count)
            }
            // Cancels still queued hold their elements as live until applied.
            #expect(wheel.elementCount == wheel.appliedCount + wheel.stale, "seed \(seed): stale elements miscounted")
        }
        // Drain everything: nothing lost, nothing doubled.
        let end = clock + (Int64(1) << 38)
        #expect(wheel.advance(to: end) == model.advance(to: end))
        #expect(wheel.count == 0)
    }

    @Test func timerNeverFiresBeforeItsInstant() {
        var wheel = TimerWheel(now: start)
        wheel.schedule(at: start + 86400, payload: 1)
        #expect(wheel.advance(to: start + 86399).isEmpty)
        #expect(wheel.advance(to: start + 86400).map(\.payload) == [1])
        #expect(wheel.advance(to: start + 999_999).isEmpty)
    }

    @Test func timersDueAtTheSameSecondFireInPayloadOrder() {
        var wheel = TimerWheel(now: start)
        // Scheduled from different distances, so they sit on different levels at first.
        wheel.schedule(at: start + 5000, payload: 2)
        _ = wheel.advance(to: start + 4990)
        wheel.schedule(at: start + 5000, payload: 1)
        wheel.schedule(at: start + 4999, payload: 3)
        #expect(wheel.advance(to: start + 6000).map(\.payload) == [3, 1, 2])
    }

    @Test func cancellingBetweenPopsKeepsATimerFromFiring() {
        var wheel = TimerWheel(now: start)
        wheel.schedule(at: start + 10, payload: 1)
        let reminder = wheel.schedule(at: start + 10, payload: 2)
        let first = wheel.popExpired(notAfter: start + 10)
        #expect(first?.payload == 1)
        let r3 = wheel.cancel(reminder)
        #expect(r3)
        #expect(wheel.popExpired(notAfter: start + 10) == nil)
        #expect(wheel.count == 0)
    }

    @Test func staleHandleCannotCancelTheTimerThatReusedItsSlot() {
        var wheel = TimerWheel(now: start)
        let old = wheel.schedule(at: start + 10, payload: 1)
        let r4 = wheel.cancel(old)
        #expect(r4)
        let new = wheel.schedule(at: start + 20, payload: 2)
        #expect(new.index == old.index)  // the slab slot is reused
        let r5 = wheel.cancel(old)
        #expect(!r5)
        let r6 = wheel.reschedule(old, to: start + 1)
        #expect(!r6)
        #expect(wheel.advance(to: start + 20).map(\.payload) == [2])
    }

    @Test func firedHandleIsNoLongerPending() {
        var wheel = TimerWheel(now: start)
        let h = wheel.schedule(at: start + 1, payload: 1)
        _ = wheel.advance(to: start + 1)
        let pendingAfterFiring = wheel.isPending(h)
        #expect(!pendingAfterFiring)
        let r7 = wheel.cancel(h)
        #expect(!r7)
    }

    @Test func deadlineInThePastFiresOnTheNextAdvance() {
        var wheel = TimerWheel(now: start)
        wheel.schedule(at: start - 3600, payload: 7)
        #expect(wheel.advance(to: start).map(\.payload) == [7])
    }

    @Test func timerBeyondTheWheelsSpanWaitsAndFiresOnTime() {
        var wheel = TimerWheel(now: start)
        let far = start + (Int64(1) << 40)
        wheel.schedule(at: far, payload: 9)
        #expect(wheel.advance(to: far - 1).isEmpty)
        #expect(wheel.advance(to: far).map(\.deadline) == [far])
    }

    @Test func oneYearJumpFiresEverythingDueInOrder() {
        var wheel = TimerWheel(now: start)
        var rng = SplitMix64(seed: 42)
        var deadlines: [Int64] = []
        for i in 0..<20_000 {
            let d = start + Int64.random(in: 1...(400 * 86400), using: &rng)
            deadlines.append(d)
            wheel.schedule(at: d, payload: UInt64(i))
        }
        let target = start + 365 * 86400
        let fired = wheel.advance(to: target)
        #expect(fired.count == deadlines.filter { $0 <= target }.count)
        #expect(zip(fired, fired.dropFirst()).allSatisfy { $0.deadline <= $1.deadline })
        #expect(fired.allSatisfy { $0.deadline <= target })
        #expect(wheel.count == deadlines.count - fired.count)
    }

    @Test func rescheduleKeepsTheHandleAndMovesTheDeadline() {
        var wheel = TimerWheel(now: start)
        let h = wheel.schedule(at: start + 100, payload: 1)
        let r8 = wheel.reschedule(h, to: start + 50)
        #expect(r8)
        #expect(wheel.deadline(of: h) == start + 50)
        #expect(wheel.advance(to: start + 50).map(\.handle) == [h])
    }

    @Test func nextExpirationBoundIsNeverAfterTheNextDeadline() {
        var wheel = TimerWheel(now: start)
        #expect(wheel.nextExpirationBound() == nil)
        var rng = SplitMix64(seed: 7)
        var deadlines: [Int64] = []
        for i in 0..<500 {
            let d = start + Int64.random(in: 1...(90 * 86400), using: &rng)
            deadlines.append(d)
            wheel.schedule(at: d, payload: UInt64(i))
        }
        while let bound = wheel.nextExpirationBound() {
            let next = deadlines.min()!
            #expect(bound <= next)
            #expect(wheel.advance(to: bound - 1).isEmpty)
            for t in wheel.advance(to: bound) { deadlines.removeAll { $0 == t.deadline } }
        }
        #expect(deadlines.isEmpty)
    }

    @Test func secondBySecondAdvancesWhileSchedulingMatchTheModel() {
        var rng = SplitMix64(seed: 77)
        var wheel = TimerWheel(now: start)
        var model = ReferenceTimers()
        var handles: [TimerHandle] = []
        var clock = start
        for second in 0..<20_000 {
            if second % 3 == 0 {
                let deadline = clock + Int64(rng.next() % 7200)
                let handle = wheel.schedule(at: deadline, payload: UInt64(second))
                model.schedule(handle, at: deadline, payload: UInt64(second))
                handles.append(handle)
            }
            if second % 7 == 0, let victim = handles.randomElement(using: &rng) {
                #expect(wheel.cancel(victim) == (model.pending[victim] != nil))
                model.pending[victim] = nil
            }
            clock += 1
            let fired = wheel.advance(to: clock)
            let expected = model.advance(to: clock)
            #expect(fired == expected, "second \(second)")
            if fired != expected { return }
        }
    }

    @Test func cancelledElementsAreCompactedSoMemoryStaysBounded() {
        var wheel = TimerWheel(now: start)
        wheel.compactionFloor = 100
        var handles = (0..<1000).map { wheel.schedule(at: start + 86400 * Int64(1 + $0 % 300), payload: UInt64($0)) }
        var rng = SplitMix64(seed: 9)
        for i in 0..<100_000 {
            let victim = Int(rng.next() % 1000)
            if i % 3 == 0 {
                wheel.reschedule(handles[victim], to: start + 86400 * Int64(1 + rng.next() % 300))
            } else {
                wheel.cancel(handles[victim])
                handles[victim] = wheel.schedule(at: start + 86400 * Int64(1 + rng.next() % 300), payload: UInt64(i))
            }
            #expect(wheel.elementCount <= 2 * wheel.count + wheel.compactionFloor + 1)
        }
        #expect(wheel.count == 1000)
        // Exactly the live timers fire, each once.
        let fired = wheel.advance(to: start + 400 * 86400)
        #expect(fired.count == 1000)
        #expect(Set(fired.map(\.handle)) == Set(handles))
    }

    @Test func batchedCancelsTakeEffectAtOnceAndIgnoreRepeatedOrStaleHandles() {
        var wheel = TimerWheel(now: start)
        let a = wheel.schedule(at: start + 10, payload: 1)
        let b = wheel.schedule(at: start + 10, payload: 2)
        wheel.schedule(at: start + 20, payload: 3)
        #expect(wheel.popExpired(notAfter: start + 10)?.payload == 1)
        wheel.cancelBatched(a)  // already fired: ignored
        wheel.cancelBatched(b)  // queued, not applied yet
        wheel.cancelBatched(b)  // the same handle twice
        #expect(wheel.queuedCancels == 3)
        let bPending = wheel.isPending(b)
        #expect(!bPending)
        #expect(wheel.count == 1)
        #expect(wheel.deadline(of: b) == nil)
        // The next pop applies the queue before handing anything out.
        #expect(wheel.popExpired(notAfter: start + 10) == nil)
        #expect(wheel.queuedCancels == 0)
        #expect(wheel.count == 1 && wheel.appliedCount == 1)
        // A reused entry is safe from the stale handle's queued cancel.
        let d = wheel.schedule(at: start + 30, payload: 4)
        #expect(d.index == b.index || d.index == a.index)
        wheel.cancelBatched(b)
        wheel.cancelBatched(a)
        let dPending = wheel.isPending(d)
        #expect(dPending)
        #expect(wheel.advance(to: start + 40).map(\.payload) == [3, 4])
    }

    @Test func aFullBatchOfCancelsIsAppliedWithoutAPop() {
        var wheel = TimerWheel(now: start)
        let handles = (0..<TimerWheel.cancelBatchSize).map { wheel.schedule(at: start + 100 + Int64($0), payload: UInt64($0)) }
        for h in handles.dropLast() { wheel.cancelBatched(h) }
        #expect(wheel.queuedCancels == TimerWheel.cancelBatchSize - 1)
        #expect(wheel.appliedCount == TimerWheel.cancelBatchSize)
        wheel.cancelBatched(handles.last!)
        #expect(wheel.queuedCancels == 0)
        #expect(wheel.appliedCount == 0 && wheel.count == 0)
        #expect(wheel.stale == TimerWheel.cancelBatchSize)
        #expect(wheel.advance(to: start + 1000).isEmpty)
        #expect(wheel.stale == 0)
    }

    /// Newly scheduled timers wait in the placement queue until 32 have come:
    /// queries, pops, cancels and compactions must see them all the same.
    @Test func queuedPlacementsAreScheduledForEveryQueryPopAndCompaction() {
        var wheel = TimerWheel(now: start)
        let late = wheel.schedule(at: start + 50, payload: 1)
        let due = wheel.schedule(at: start - 5, payload: 2)     // already due when scheduled
        let soon = wheel.schedule(at: start + 10, payload: 3)
        let moved = wheel.schedule(at: start + 30, payload: 4)
        #expect(wheel.queuedPlacements == 4)
        #expect(wheel.count == 4 && wheel.isPending(late) && wheel.deadline(of: soon) == start + 10)
        #expect(wheel.nextExpirationBound() == start - 5)
        let first = wheel.popExpired(notAfter: start)
        #expect(first?.handle == due)
        #expect(wheel.queuedPlacements == 0)
        let again = wheel.schedule(at: start + 20, payload: 5)
        let rescheduled = wheel.reschedule(moved, to: start + 40)   // places the queue first
        #expect(rescheduled)
        wheel.cancelBatched(again)
        let last = wheel.schedule(at: start + 45, payload: 6)
        #expect(wheel.queuedPlacements == 1)
        wheel.compact()                                     // with a timer still queued
        #expect(wheel.queuedPlacements == 0 && wheel.elementCount == wheel.appliedCount + wheel.stale)
        #expect(wheel.advance(to: start + 100).map(\.payload) == [3, 4, 6, 1])
        #expect(!wheel.isPending(last) && wheel.count == 0)
    }

    /// The wheel is a value: a copy changes on its own (its slot lists are
    /// shared storage until one side changes them).
    @Test func aFullBatchOfPlacementsIsPlacedWithoutAPop() {
        var wheel = TimerWheel(now: start)
        for k in 0..<TimerWheel.placementBatchSize - 1 { wheel.schedule(at: start + 100 + Int64(k), payload: UInt64(k)) }
        #expect(wheel.queuedPlacements == TimerWheel.placementBatchSize - 1)
        wheel.schedule(at: start + 99, payload: 99)
        #expect(wheel.queuedPlacements == 0 && wheel.elementCount == TimerWheel.placementBatchSize)
        let fired = wheel.advance(to: start + 1000)
        #expect(fired.first?.payload == 99)
    }

    /// Compaction rebuilds the slots from the slab while the slab is short, and
    /// filters each slot when the slab is long with free entries (after most
    /// timers fired); both must keep exactly the pending timers.
    @Test(arguments: [false, true])
    func bothCompactionWaysKeepExactlyThePendingTimers(slabMostlyFree: Bool) {
        var rng = SplitMix64(seed: slabMostlyFree ? 5 : 6)
        var wheel = TimerWheel(now: start)
        wheel.compactionFloor = 50
        var model = ReferenceTimers()
        var clock = start
        if slabMostlyFree {
            for i in 0..<20_000 {
                let d = start + 1 + Int64(i % 500)
                model.schedule(wheel.schedule(at: d, payload: UInt64(i)), at: d, payload: UInt64(i))
            }
            clock = start + 500
            #expect(wheel.advance(to: clock) == model.advance(to: clock))
        }
        var handles: [TimerHandle] = []
        for i in 0..<300 {
            let d = clock + 1 + Int64(rng.next() % (40 * 86400))
            let h = wheel.schedule(at: d, payload: 100_000 + UInt64(i))
            model.schedule(h, at: d, payload: 100_000 + UInt64(i))
            handles.append(h)
        }
        for i in 0..<20_000 {
            let victim = Int(rng.next() % UInt64(handles.count))
            if i % 2 == 0 { wheel.cancel(handles[victim]) } else { wheel.cancelBatched(handles[victim]) }
            model.pending[handles[victim]] = nil
            let d = clock + 1 + Int64(rng.next() % (40 * 86400))
            handles[victim] = wheel.schedule(at: d, payload: 200_000 + UInt64(i))
            model.schedule(handles[victim], at: d, payload: 200_000 + UInt64(i))
            if i % 100 == 99 {
                clock += 600
                #expect(wheel.advance(to: clock) == model.advance(to: clock))
            }
        }
        if slabMostlyFree {
            #expect(wheel.compactions.filters > 0 && wheel.compactions.rebuilds == 0)
        } else {
            #expect(wheel.compactions.rebuilds > 0 && wheel.compactions.filters == 0)
        }
        let end = clock + 100 * 86400
        #expect(wheel.advance(to: end) == model.advance(to: end))
        #expect(wheel.count == 0)
    }

    @Test func pendingTimerCostsAtMost64Bytes() {
        #expect(TimerWheel.bytesPerTimer <= 64)
        // The documented figure: a 24-byte entry and an 8-byte slot element.
        #expect(TimerWheel.bytesPerTimer == 32)
    }
}
