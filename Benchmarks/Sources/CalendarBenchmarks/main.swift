import BenchSupport
import BusinessCalendar
import Foundation

// calendar.add-business-days and calendar.count-business-days: 1M random dates
// on the shipped SE calendar. Writes the dates and holidays for the numpy
// baseline (Benchmarks/numpy_calendar.py), which the driver runs right after.

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
let path = root.appendingPathComponent("config/calendars/SE.toml").path
let calendar = BusinessCalendar(try CalendarLoader.parse(text: try String(contentsOfFile: path, encoding: .utf8), file: path))

let count = 1_000_000
var rng = SplitMix64(seed: 11)
let base = CivilDate("2000-01-01")!
let starts = (0..<count).map { _ in base.adding(days: Int(rng.next() % UInt64(50 * 365))) }
let ends = starts.map { $0.adding(days: Int(rng.next() % 400)) }

// Inputs for numpy, in the same run.
let workdir = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "/tmp"
try starts.map { String($0.dayNumber) }.joined(separator: "\n").write(toFile: workdir + "/cal-starts.txt", atomically: true, encoding: .utf8)
try ends.map { String($0.dayNumber) }.joined(separator: "\n").write(toFile: workdir + "/cal-ends.txt", atomically: true, encoding: .utf8)
var closed: [String] = []
for year in 2000...2052 { for h in try calendar.holidays(in: year) { closed.append(h.date.description) } }
try closed.joined(separator: "\n").write(toFile: workdir + "/cal-holidays.txt", atomically: true, encoding: .utf8)

@inline(never)
func run(_ calendar: BusinessCalendar, _ starts: [CivilDate], _ ends: [CivilDate]) -> (add: UInt64, count: UInt64, allocs: UInt64) {
    var sink = 0
    var addNs = UInt64.max, countNs = UInt64.max
    var addAllocs: UInt64 = 0
    for _ in 0..<3 {
        let a0 = allocationCount()
        addNs = min(addNs, measure {
            for d in starts {
                do { sink &+= Int(try calendar.addBusinessDays(14, to: d).dayNumber) } catch { sink &+= 1 }
            }
        })
        if let a0, let a1 = allocationCount() { addAllocs = a1 - a0 }
        countNs = min(countNs, measure {
            for i in starts.indices {
                do { sink &+= try calendar.countBusinessDays(from: starts[i], to: ends[i]) } catch { sink &+= 1 }
            }
        })
    }
    blackHole(sink)
    return (addNs, countNs, addAllocs)
}

let (addNs, countNs, addAllocs) = run(calendar, starts, ends)
print("BENCH-SWIFT add \(Double(addNs) / Double(count)) count \(Double(countNs) / Double(count)) allocs \(Double(addAllocs) / Double(count))")
