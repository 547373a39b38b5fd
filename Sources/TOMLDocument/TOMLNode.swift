import TOMLKit

/// A TOML value copied out of the parser into plain, `Sendable` Swift values.
///
/// TOMLKit's tables are reference types over a C++ tree; configuration and
/// calendar files are converted once, right after parsing, so nothing outside
/// this module ever touches the parser's objects.
public indirect enum TOMLNode: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    case date(year: Int, month: Int, day: Int)
    case time(hour: Int, minute: Int, second: Int)
    case dateTime(String)
    case array([TOMLNode])
    case table([(key: String, value: TOMLNode)])

    public static func == (lhs: TOMLNode, rhs: TOMLNode) -> Bool {
        switch (lhs, rhs) {
        case let (.string(a), .string(b)): return a == b
        case let (.integer(a), .integer(b)): return a == b
        case let (.float(a), .float(b)): return a == b
        case let (.boolean(a), .boolean(b)): return a == b
        case let (.date(a, b, c), .date(d, e, f)): return a == d && b == e && c == f
        case let (.time(a, b, c), .time(d, e, f)): return a == d && b == e && c == f
        case let (.dateTime(a), .dateTime(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.table(a), .table(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// The TOML type name, as used in error messages ("expected an integer, found a string").
    public var typeName: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a float"
        case .boolean: return "a boolean"
        case .date: return "a date"
        case .time: return "a time"
        case .dateTime: return "a date-time"
        case .array: return "an array"
        case .table: return "a table"
        }
    }

    init(_ value: TOMLValueConvertible) {
        switch value.type {
        case .string: self = .string(value.string ?? "")
        case .int: self = .integer(value.int ?? 0)
        case .double: self = .float(value.double ?? 0)
        case .bool: self = .boolean(value.bool ?? false)
        case .date:
            let d = value.date!
            self = .date(year: d.year, month: d.month, day: d.day)
        case .time:
            let t = value.time!
            self = .time(hour: t.hour, minute: t.minute, second: t.second)
        case .dateTime:
            self = .dateTime(value.dateTime.map { String(describing: $0) } ?? "")
        case .array:
            self = .array(value.array.map { $0.map(TOMLNode.init) } ?? [])
        case .table:
            self = TOMLNode(table: value.table!)
        @unknown default:
            self = .string(String(describing: value))
        }
    }

    init(table: TOMLTable) {
        var entries: [(key: String, value: TOMLNode)] = []
        for (key, value) in table {
            entries.append((key, TOMLNode(value)))
        }
        // toml++ does not promise source order; keys sorted make output stable.
        entries.sort { $0.key < $1.key }
        self = .table(entries)
    }
}
