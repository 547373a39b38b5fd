/// Maps dotted key paths (`daemon.control_socket`, `holiday[3].name`) to the line
/// that defines them, so that a problem found after parsing can still be reported
/// as `file:line: message`.
///
/// TOMLKit does not expose source positions of keys, so this scans the text the
/// way a reader would: table headers, arrays of tables, and `key = value` lines.
/// It skips the bodies of multi-line strings. Keys it cannot place (inline tables
/// spread over odd layouts) fall back to the line of their table's header.
struct TOMLLineIndex: Sendable {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var tablePath: [String] = []
        var arrayCounters: [String: Int] = [:]
        var inMultiline: String? = nil
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if let delimiter = inMultiline {
                if line.contains(delimiter) { inMultiline = nil }
                continue
            }
            line = line.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.first == "#" { continue }
            if line.hasPrefix("[[") {
                let name = Self.keyPath(String(line.dropFirst(2).prefix(while: { $0 != "]" })))
                let joined = name.joined(separator: ".")
                let index = arrayCounters[joined, default: -1] + 1
                arrayCounters[joined] = index
                // Nested counters restart when their parent array gets a new element.
                for key in arrayCounters.keys where key.hasPrefix(joined + ".") {
                    arrayCounters[key] = nil
                }
                var path = name
                path[path.count - 1] += "[\(index)]"
                tablePath = Self.resolve(path, counters: arrayCounters)
                record(tablePath, lineNumber)
                continue
            }
            if line.hasPrefix("[") {
                let name = Self.keyPath(String(line.dropFirst().prefix(while: { $0 != "]" })))
                tablePath = Self.resolve(name, counters: arrayCounters)
                record(tablePath, lineNumber)
                continue
            }
            guard let eq = Self.assignmentIndex(line) else { continue }
            let key = Self.keyPath(String(line[line.startIndex..<eq]))
            record(tablePath + key, lineNumber)
            let rest = line[line.index(after: eq)...].drop(while: { $0 == " " })
            for delimiter in ["\"\"\"", "'''"] where rest.hasPrefix(delimiter) {
                if !rest.dropFirst(3).contains(delimiter) { inMultiline = delimiter }
            }
        }
    }

    private mutating func record(_ path: [String], _ line: Int) {
        let key = path.joined(separator: ".")
        if lines[key] == nil { lines[key] = line }
    }

    /// The line of `path`, or of the nearest enclosing table that has one.
    func line(of path: [String]) -> Int? {
        var path = path
        while !path.isEmpty {
            if let line = lines[path.joined(separator: ".")] { return line }
            path.removeLast()
        }
        return nil
    }

    /// Inside `[[a]]` element 2, a header `[a.b]` means `a[2].b`.
    private static func resolve(_ path: [String], counters: [String: Int]) -> [String] {
        var out: [String] = []
        var plain: [String] = []
        for part in path {
            plain.append(part)
            let joined = plain.joined(separator: ".")
            if !part.hasSuffix("]"), let index = counters[joined] {
                out.append("\(part)[\(index)]")
            } else {
                out.append(part)
            }
        }
        return out
    }

    private static func assignmentIndex(_ line: Substring) -> Substring.Index? {
        var quote: Character? = nil
        var i = line.startIndex
        while i < line.endIndex {
            let c = line[i]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "=" {
                return i
            }
            i = line.index(after: i)
        }
        return nil
    }

    static func keyPath(_ raw: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var quote: Character? = nil
        for c in raw {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "." {
                parts.append(current)
                current = ""
            } else if c != " " && c != "\t" {
                current.append(c)
            }
        }
        parts.append(current)
        return parts
    }
}
