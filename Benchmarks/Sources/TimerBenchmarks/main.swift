import BenchSupport
import Foundation
import TimerWheel

// The four timers.* figures of interfaces.md, each workload run on the wheel
// and on the Heap baseline in the same process, on the same inputs.

let start: Int64 = 1_790_000_000
let day: Int64 = 86400
let pending = 1_000_000
let scale = Int(CommandLine.arguments.dropFirst().first ?? "1") ?? 1  // make bench-quick passes 10
let pairs = 10_000_000 / scale

func deadlines(count: Int, span: Int64, seed: UInt64) -> [Int64] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in start + 1 + Int64.random(in: 0..<span, using: &rng) }
}

// MARK: 1. cancel-heavy

/// 1M pending over 60 days, then 10M rounds of: schedule one timer at a random
/// instant within 60 days and cancel a random one of the 1M handles held; every
/// 100 rounds the clock moves 52 s (60 days over the run). A timer then lives
/// about 1M rounds = 6 days before its cancel, so about 90 % of timers are
/// cancelled before they fire and 10 % fire, as the workload asks — and the
/// cancelled ones whose instant passes must be disposed of by each structure
/// (the heap pops them, the wheel drops them when their slot is emptied).
let secondsPerHundredPairs: Int64 = 52

/// Which held handle each round cancels. `.random` is the workload; `.inOrder`
/// cancels the handles round-robin, so every timer lives exactly the 1M rounds
/// a random victim lives on average, but the caller's own load of the handle
/// is sequential and in cache: the difference between the two is what the
/// caller's random handle load costs, whichever structure is behind it.
enum Victims { case random, inOrder }

func victim(_ i: Int, _ rng: inout SplitMix64, _ order: Victims) -> Int {
    order == .random ? Int(rng.next() % UInt64(pending)) : i % pending
}

func cancelHeavyWheel(_ order: Victims = .random) -> (ns: Double, allocsPerPair: Double, fired: Int) {
    var wheel = TimerWheel(now: start)
    wheel.reserveCapacity(pending + pending / 4)
    var handles: [TimerHandle] = []
    handles.reserveCapacity(pending)
    for d in deadlines(count: pending, span: 60 * day, seed: 1) { handles.append(wheel.schedule(at: d, payload: 0)) }
    var rng = SplitMix64(seed: 2)
    var clock = start
    var fired = 0
    // Warm-up: let the ready buffer reach its working size.
    clock += 5
    while wheel.popExpired(notAfter: clock) != nil { fired += 1 }
    let allocsBefore = allocationCount()
    let started = nanoseconds()
    for i in 0..<pairs {
        let d = clock + 1 + Int64(rng.next() % UInt64(60 * day))
        let v = victim(i, &rng, order)
        wheel.cancelBatched(handles[v])
        handles[v] = wheel.schedule(at: d, payload: UInt64(i))
        if i % 100 == 99 {
            clock += secondsPerHundredPairs
            while wheel.popExpired(notAfter: clock) != nil { fired += 1 }
        }
    }
    let ns = nanoseconds() - started
    let allocs = allocationCount().map { Double($0 - allocsBefore!) / Double(pairs) } ?? -1
    blackHole(wheel.count)
    return (Double(ns) / Double(pairs), allocs, fired)
}

func cancelHeavyHeap(_ order: Victims = .random) -> (ns: Double, fired: Int) {
    var heap = HeapTimers(now: start)
    heap.reserveCapacity(pending * 2)
    var ids: [HeapTimers.Handle] = []
    ids.reserveCapacity(pending)
    for d in deadlines(count: pending, span: 60 * day, seed: 1) { ids.append(heap.schedule(at: d)) }
    var rng = SplitMix64(seed: 2)
    var clock = start
    var fired = 0
    let started = nanoseconds()
    for i in 0..<pairs {
        let d = clock + 1 + Int64(rng.next() % UInt64(60 * day))
        let v = victim(i, &rng, order)
        heap.cancel(ids[v])
        ids[v] = heap.schedule(at: d)
        if i % 100 == 99 {
            clock += secondsPerHundredPairs
            heap.advance(to: clock) { _ in fired += 1 }
        }
    }
    let ns = nanoseconds() - started
    return (Double(ns) / Double(pairs), fired)
}

/// The memory floor of workload 1 on this machine: per pair, only what any
/// generation-checked cancel must do — load a random one of the 1M handles and
/// check-and-bump the generation of the slab entry it names — with no timer
/// structure at all. Both contestants pay at least this.
func cancelFloor() -> Double {
    struct Slot { var deadline: Int64; var payload: UInt64; var generation: UInt32; var stamp: UInt32 }
    var slab = [Slot](repeating: Slot(deadline: 0, payload: 0, generation: 1, stamp: 0), count: pending + pending / 4)
    // Handles of 8 bytes, index and generation, as the wheel's and the heap's.
    var handles = (0..<pending).map { UInt64($0) | 1 << 32 }
    var rng = SplitMix64(seed: 2)
    var hits = 0
    let started = nanoseconds()
    for i in 0..<pairs {
        let victim = Int(rng.next() % UInt64(handles.count))
        let handle = handles[victim]
        let index = Int(handle & 0xFFFF_FFFF)
        if slab[index].generation == UInt32(handle >> 32) {
            slab[index].generation &+= 2
            hits += 1
        }
        let reused = UInt32(truncatingIfNeeded: i) % UInt32(slab.count)
        handles[victim] = UInt64(reused) | UInt64(slab[Int(reused)].generation) << 32
    }
    let ns = nanoseconds() - started
    blackHole(hits)
    return Double(ns) / Double(pairs)
}

// MARK: 2. expire-heavy

func expireHeavyWheel() -> (ns: Double, allocs: Double) {
    var wheel = TimerWheel(now: start)
    wheel.reserveCapacity(pending)
    for d in deadlines(count: pending, span: 30 * day, seed: 3) { wheel.schedule(at: d, payload: 0) }
    var fired = 0
    let allocsBefore = allocationCount()
    let started = nanoseconds()
    var t = start
    while t < start + 30 * day + 1 {
        t += 1
        while wheel.popExpired(notAfter: t) != nil { fired += 1 }
    }
    let ns = nanoseconds() - started
    precondition(fired == pending)
    let allocs = allocationCount().map { Double($0 - allocsBefore!) / Double(pending) } ?? -1
    return (Double(ns) / Double(pending), allocs)
}

func expireHeavyHeap() -> Double {
    var heap = HeapTimers(now: start)
    heap.reserveCapacity(pending)
    for d in deadlines(count: pending, span: 30 * day, seed: 3) { _ = heap.schedule(at: d) }
    var fired = 0
    let started = nanoseconds()
    var t = start
    while t < start + 30 * day + 1 {
        t += 1
        heap.advance(to: t) { _ in fired += 1 }
    }
    let ns = nanoseconds() - started
    precondition(fired == pending)
    return Double(ns) / Double(pending)
}

// MARK: 3. year-jump

func yearJumpWheel() -> Double {
    var wheel = TimerWheel(now: start)
    wheel.reserveCapacity(pending)
    for d in deadlines(count: pending, span: 365 * day, seed: 4) { wheel.schedule(at: d, payload: 0) }
    var fired = 0
    let started = nanoseconds()
    while wheel.popExpired(notAfter: start + 365 * day) != nil { fired += 1 }
    let ns = nanoseconds() - started
    precondition(fired == pending)
    return Double(ns) / 1e6
}

func yearJumpHeap() -> Double {
    var heap = HeapTimers(now: start)
    heap.reserveCapacity(pending)
    for d in deadlines(count: pending, span: 365 * day, seed: 4) { _ = heap.schedule(at: d) }
    var fired = 0
    let started = nanoseconds()
    heap.advance(to: start + 365 * day) { _ in fired += 1 }
    let ns = nanoseconds() - started
    precondition(fired == pending)
    return Double(ns) / 1e6
}

// MARK: 4. bytes per pending timer

func bytesWheel() -> Double {
    let before = heapBytesInUse()
    var wheel = TimerWheel(now: start)
    for d in deadlines(count: pending, span: 60 * day, seed: 5) { wheel.schedule(at: d, payload: 0) }
    let after = heapBytesInUse()
    blackHole(wheel.count)
    return Double(after - before) / Double(pending)
}

func bytesHeap() -> Double {
    let before = heapBytesInUse()
    var heap = HeapTimers(now: start)
    for d in deadlines(count: pending, span: 60 * day, seed: 5) { _ = heap.schedule(at: d) }
    let after = heapBytesInUse()
    blackHole(heap)
    return Double(after - before) / Double(pending)
}

let heapName = "swift-collections Heap, lazy cancel"

// TIMER_BENCH_ONLY=wheel-cancel runs just that workload (for profiling).
if let only = ProcessInfo.processInfo.environment["TIMER_BENCH_ONLY"] {
    switch only {
    case "wheel-cancel": print(cancelHeavyWheel())
    case "floor": print(cancelFloor())
    case "heap-cancel": print(cancelHeavyHeap())
    case "wheel-cancel-in-order": print(cancelHeavyWheel(.inOrder))
    case "heap-cancel-in-order": print(cancelHeavyHeap(.inOrder))
    case "wheel-expire": print(expireHeavyWheel())
    case "heap-expire": print(expireHeavyHeap())
    default: print("unknown workload \(only)")
    }
    exit(0)
}

let wheelCancel = cancelHeavyWheel()
let heapCancelRun = cancelHeavyHeap()
let heapCancel = heapCancelRun.ns
let floor = cancelFloor()
let wheelInOrder = cancelHeavyWheel(.inOrder)
let heapInOrder = cancelHeavyHeap(.inOrder)
detail("timers.cancel-heavy: \(pairs) schedule+cancel pairs over 1M pending, clock moved 60 days; wheel \(String(format: "%.1f", wheelCancel.ns)) ns/pair, heap \(String(format: "%.1f", heapCancel)) ns/pair; wheel allocations per pair \(wheelCancel.allocsPerPair < 0 ? "n/a (counter not preloaded)" : String(format: "%.4f", wheelCancel.allocsPerPair)); fired: wheel \(wheelCancel.fired), heap \(heapCancelRun.fired) (\(String(format: "%.1f", 100 * Double(wheelCancel.fired) / Double(pending + pairs))) % of all timers); memory floor (random handle load + generation check, no structure) \(String(format: "%.1f", floor)) ns/pair; the same rounds cancelling the held handles in order (same lifetimes, the caller's handle load in cache): wheel \(String(format: "%.1f", wheelInOrder.ns)) ns/pair, heap \(String(format: "%.1f", heapInOrder.ns)) ns/pair (\(String(format: "%.2f", heapInOrder.ns / wheelInOrder.ns))x)")
emit(BenchRow(figure: "timers.cancel-heavy", value: wheelCancel.ns, unit: "ns/pair", baseline: heapName,
              baselineValue: heapCancel, lowerIsBetter: true,
              target: ">= 5x faster than the heap, <= 100 ns per pair, 0 allocations per pair",
              met: heapCancel / wheelCancel.ns >= 5 && wheelCancel.ns <= 100 && wheelCancel.allocsPerPair < 0.001))

let wheelExpire = expireHeavyWheel()
let heapExpire = expireHeavyHeap()
detail("timers.expire-heavy: 1M timers over 30 days advanced in 2,592,000 one-second steps; wheel allocations per timer \(wheelExpire.allocs < 0 ? "n/a" : String(format: "%.4f", wheelExpire.allocs))")
emit(BenchRow(figure: "timers.expire-heavy", value: wheelExpire.ns, unit: "ns/timer", baseline: heapName,
              baselineValue: heapExpire, lowerIsBetter: true, target: "no slower than the heap",
              met: wheelExpire.ns <= heapExpire))

let wheelJump = yearJumpWheel()
let heapJump = yearJumpHeap()
emit(BenchRow(figure: "timers.year-jump", value: wheelJump, unit: "ms", baseline: heapName,
              baselineValue: heapJump, lowerIsBetter: true, target: "no slower than the heap",
              met: wheelJump <= heapJump))

let wheelBytes = bytesWheel()
let heapBytes = bytesHeap()
detail("timers.bytes-per-timer: measured with mallinfo2 around building 1M pending timers (array growth included); slab entry \(TimerWheel.bytesPerTimer) bytes")
emit(BenchRow(figure: "timers.bytes-per-timer", value: wheelBytes, unit: "bytes", baseline: heapName,
              baselineValue: heapBytes, lowerIsBetter: true, target: "<= 64 bytes per pending timer",
              met: wheelBytes <= 64))
