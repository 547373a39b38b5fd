import CMallocInfo
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One row of `make bench` (interfaces.md, "Benchmarks").
public struct BenchRow: Codable, Sendable {
    public var figure: String
    public var value: Double
    public var unit: String
    public var baseline: String
    public var baselineValue: Double?
    /// Times better than the baseline (above 1 is better, for times and rates alike).
    public var ratio: Double?
    public var target: String
    public var met: Bool

    public init(figure: String, value: Double, unit: String, baseline: String, baselineValue: Double?,
                lowerIsBetter: Bool, target: String, met: Bool) {
        self.figure = figure
        self.value = value
        self.unit = unit
        self.baseline = baseline
        self.baselineValue = baselineValue
        if let b = baselineValue, b > 0, value > 0 {
            ratio = lowerIsBetter ? b / value : value / b
        } else {
            ratio = nil
        }
        self.target = target
        self.met = met
    }
}

/// Prints a row as one `BENCH-ROW {json}` line, which the driver collects.
public func emit(_ row: BenchRow) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let data = try! encoder.encode(row)
    print("BENCH-ROW " + String(decoding: data, as: UTF8.self))
    fflush(nil)
}

/// A detail line shown under the table (allocations, sizes, parameters).
public func detail(_ text: String) {
    print("BENCH-DETAIL " + text)
    fflush(nil)
}

/// Monotonic nanoseconds.
public func nanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Runs `body` and returns its duration in nanoseconds.
@inline(never)
public func measure(_ body: () -> Void) -> UInt64 {
    let start = nanoseconds()
    body()
    return nanoseconds() - start
}

/// Heap allocations so far, when the malloc counter is preloaded (make bench does that).
public func allocationCount() -> UInt64? {
    typealias Counter = @convention(c) () -> UInt
    guard let program = dlopen(nil, RTLD_NOW), let symbol = dlsym(program, "disputed_malloc_count") else { return nil }
    return UInt64(unsafeBitCast(symbol, to: Counter.self)())
}

/// Bytes currently allocated from the heap (glibc's mallinfo2).
public func heapBytesInUse() -> Int {
    Int(disputed_heap_bytes_in_use())
}

/// Keeps the optimizer from discarding a result.
@inline(never)
public func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

/// A small, fast generator so every run measures the same inputs.
public struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
