import TOMLKit

/// One problem found in a TOML file, printed as `file:line: message`.
public struct TOMLDiagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// Thrown when a file had one or more problems; each is a complete sentence with its line.
public struct TOMLDiagnostics: Error, Sendable, CustomStringConvertible {
    public let diagnostics: [TOMLDiagnostic]
    public init(_ diagnostics: [TOMLDiagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Reads a TOML document into typed values and collects every problem it finds.
///
/// Readers do not stop at the first problem: `--check-config` prints them all.
/// Every key a caller does not ask for is reported as unknown by
/// ``TOMLTableReader/finish()``, so a misspelt key never passes silently.
public final class TOMLReader {
    public let file: String
    public private(set) var diagnostics: [TOMLDiagnostic] = []
    let lineIndex: TOMLLineIndex
    private let rootNode: TOMLNode

    /// Parses `text`. A syntax error becomes the first diagnostic and leaves an empty root table.
    public init(file: String, text: String) {
        self.file = file
        self.lineIndex = TOMLLineIndex(text: text)
        do {
            rootNode = TOMLNode(table: try TOMLTable(string: text))
        } catch let error as TOMLParseError {
            rootNode = .table([])
            diagnostics.append(TOMLDiagnostic(
                file: file, line: error.source.begin.line,
                message: "syntax error: \(error.description)"))
        } catch {
            rootNode = .table([])
            diagnostics.append(TOMLDiagnostic(file: file, line: nil, message: "cannot parse: \(error)"))
        }
    }

    /// The top-level table; the same reader every time, so that keys used through it count.
    public private(set) lazy var root = TOMLTableReader(reader: self, path: [], node: rootNode)

    /// Records a problem at `path` (the line of the key, or of its table).
    public func report(_ message: String, at path: [String]) {
        diagnostics.append(TOMLDiagnostic(file: file, line: lineIndex.line(of: path), message: message))
    }

    /// Throws ``TOMLDiagnostics`` if anything was reported.
    public func check() throws {
        if !diagnostics.isEmpty { throw TOMLDiagnostics(diagnostics) }
    }
}

/// A view of one table of a ``TOMLReader``'s document.
public final class TOMLTableReader {
    public let reader: TOMLReader
    public let path: [String]
    private let entries: [(key: String, value: TOMLNode)]
    private var used: Set<String> = []

    init(reader: TOMLReader, path: [String], node: TOMLNode) {
        self.reader = reader
        self.path = path
        if case let .table(entries) = node { self.entries = entries } else { self.entries = [] }
    }

    /// The name of this table as written in the file (`[daemon]`, `holiday[2]`).
    public var displayName: String { path.isEmpty ? "the top level" : "[\(path.joined(separator: "."))]" }

    public var keys: [String] { entries.map(\.key) }

    public func contains(_ key: String) -> Bool { entries.contains { $0.key == key } }

    /// The raw node for `key`, marking it as used.
    public func node(_ key: String) -> TOMLNode? {
        used.insert(key)
        return entries.first { $0.key == key }?.value
    }

    public func report(_ message: String, key: String? = nil) {
        reader.report(message, at: key.map { path + [$0] } ?? path)
    }

    private func qualified(_ key: String) -> String { (path + [key]).joined(separator: ".") }

    private func typeError(_ key: String, expected: String, found: TOMLNode) {
        report("'\(qualified(key))' must be \(expected), found \(found.typeName)", key: key)
    }

    public func string(_ key: String) -> String? {
        guard let node = node(key) else { return nil }
        guard case let .string(value) = node else { typeError(key, expected: "a string", found: node); return nil }
        return value
    }

    public func string(_ key: String, default value: String) -> String { string(key) ?? value }

    /// A string that must be present; reports "missing" otherwise.
    public func requiredString(_ key: String) -> String? {
        if !contains(key) { report("missing required key '\(qualified(key))' in \(displayName)"); return nil }
        return string(key)
    }

    public func integer(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let node = node(key) else { return nil }
        guard case let .integer(value) = node else { typeError(key, expected: "an integer", found: node); return nil }
        guard range.contains(value) else {
            report("'\(qualified(key))' is \(value), must be between \(range.lowerBound) and \(range.upperBound)", key: key)
            return nil
        }
        return value
    }

    public func integer(_ key: String, in range: ClosedRange<Int>, default value: Int) -> Int {
        integer(key, in: range) ?? value
    }

    public func boolean(_ key: String) -> Bool? {
        guard let node = node(key) else { return nil }
        guard case let .boolean(value) = node else { typeError(key, expected: "true or false", found: node); return nil }
        return value
    }

    public func boolean(_ key: String, default value: Bool) -> Bool { boolean(key) ?? value }

    public func date(_ key: String) -> (year: Int, month: Int, day: Int)? {
        guard let node = node(key) else { return nil }
        guard case let .date(y, m, d) = node else { typeError(key, expected: "a date (YYYY-MM-DD)", found: node); return nil }
        return (y, m, d)
    }

    /// An array whose elements all have to be strings.
    public func stringArray(_ key: String) -> [String]? {
        guard let node = node(key) else { return nil }
        guard case let .array(items) = node else { typeError(key, expected: "an array of strings", found: node); return nil }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard case let .string(s) = item else {
                report("'\(qualified(key))[\(i)]' must be a string, found \(item.typeName)", key: key)
                return nil
            }
            out.append(s)
        }
        return out
    }

    public func integerArray(_ key: String, in range: ClosedRange<Int>) -> [Int]? {
        guard let node = node(key) else { return nil }
        guard case let .array(items) = node else { typeError(key, expected: "an array of integers", found: node); return nil }
        var out: [Int] = []
        for (i, item) in items.enumerated() {
            guard case let .integer(v) = item else {
                report("'\(qualified(key))[\(i)]' must be an integer, found \(item.typeName)", key: key)
                return nil
            }
            guard range.contains(v) else {
                report("'\(qualified(key))[\(i)]' is \(v), must be between \(range.lowerBound) and \(range.upperBound)", key: key)
                return nil
            }
            out.append(v)
        }
        return out
    }

    /// A sub-table, or nil when absent (reported if present with another type).
    public func table(_ key: String) -> TOMLTableReader? {
        guard let node = node(key) else { return nil }
        guard case .table = node else { typeError(key, expected: "a table", found: node); return nil }
        return TOMLTableReader(reader: reader, path: path + [key], node: node)
    }

    /// The elements of an array of tables (`[[key]]`).
    public func tableArray(_ key: String) -> [TOMLTableReader] {
        guard let node = node(key) else { return [] }
        guard case let .array(items) = node else { typeError(key, expected: "an array of tables", found: node); return [] }
        var out: [TOMLTableReader] = []
        for (i, item) in items.enumerated() {
            guard case .table = item else {
                report("'\(qualified(key))[\(i)]' must be a table, found \(item.typeName)", key: key)
                continue
            }
            out.append(TOMLTableReader(reader: reader, path: path + ["\(key)[\(i)]"], node: item))
        }
        return out
    }

    /// Reports every key of this table that no accessor asked for.
    public func finish() {
        for entry in entries where !used.contains(entry.key) {
            report("unknown key '\(qualified(entry.key))' in \(displayName)", key: entry.key)
        }
    }
}
