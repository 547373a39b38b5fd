import Foundation

/// Encodes an `Encodable` value as the JSON text `JSONCoding.encoder` writes
/// for it (keys sorted, `nil` optionals left out), as ``JSONValue`` writes its
/// scalars.
///
/// It exists for speed: the daemon stores every dispute as JSON, and
/// Foundation's encoder was the largest single cost of a `dispute.open`. The
/// values are collected in one flat array (no object per value, no dictionary
/// per object) and written straight to text: a dispute body of 1.5 KB takes
/// about 20 us here, against 44 us through a tree of objects and Foundation's
/// 52 (what is left is Codable's own dispatch). Foundation special-cases `Data`, `Decimal` and `URL`; this
/// encoder refuses them rather than write them differently (no stored type
/// contains one).
public enum JSONValueEncoder {
    /// The value as compact JSON text with sorted keys.
    public static func jsonText<T: Encodable>(_ value: T) throws -> String {
        let tree = try Tree(encoding: value)
        var out: [UInt8] = []
        out.reserveCapacity(64 * tree.entries.count)
        tree.write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// One value of the tree: a scalar, or a container whose children are linked
/// by index (first child, then each child's next sibling).
struct Entry {
    enum Kind { case empty, scalar, object, array }
    var kind = Kind.empty
    /// Its key in the parent object; unused in arrays.
    var key = ""
    var scalar = JSONValue.null
    var first: Int32 = -1
    var last: Int32 = -1
    var next: Int32 = -1
    var count = 0
}

/// The values of one encoding, in the order they were encoded; entry 0 is the root.
final class Tree {
    /// Unchecked: only this encoding touches it, on one thread, and the dynamic
    /// exclusivity check on every access was a third of the encoding time.
    @exclusivity(unchecked) var entries: [Entry] = [Entry()]

    init<T: Encodable>(encoding value: T) throws {
        entries.reserveCapacity(64)
        try encode(value, at: 0, codingPath: [])
    }

    func set(_ index: Int, _ v: JSONValue) {
        entries[index].kind = .scalar
        entries[index].scalar = v
    }

    /// Makes the entry a container of that kind; a container asked for again keeps its children.
    func become(_ kind: Entry.Kind, _ index: Int) {
        guard entries[index].kind != kind else { return }
        // Its key and its link to the next sibling stay: a super encoder's
        // container may be asked for after the parent wrote more keys.
        entries[index].kind = kind
        entries[index].scalar = .null
        entries[index].first = -1
        entries[index].last = -1
        entries[index].count = 0
    }

    /// Appends an empty child to a container and returns its index.
    func child(of parent: Int, key: String = "") -> Int {
        let index = entries.count
        entries.append(Entry(key: key))
        let last = entries[parent].last
        if last < 0 { entries[parent].first = Int32(index) } else { entries[Int(last)].next = Int32(index) }
        entries[parent].last = Int32(index)
        entries[parent].count += 1
        return index
    }

    func encode<T: Encodable>(_ value: T, at index: Int, codingPath: [any CodingKey]) throws {
        // Comparing metatypes is cheap; a failed dynamic cast per nested value was not.
        if T.self == String.self { set(index, .string(unsafeBitCast(value, to: String.self))) }
        else if T.self == Int.self { set(index, .int(Int64(unsafeBitCast(value, to: Int.self)))) }
        else if T.self == Int64.self { set(index, .int(unsafeBitCast(value, to: Int64.self))) }
        else if T.self == Bool.self { set(index, .bool(unsafeBitCast(value, to: Bool.self))) }
        else if T.self == Double.self { set(index, .double(unsafeBitCast(value, to: Double.self))) }
        else if T.self == Data.self || T.self == Decimal.self || T.self == URL.self {
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: codingPath, debugDescription: "JSONValueEncoder does not encode \(T.self); use JSONCoding.encoder"))
        } else {
            try value.encode(to: TreeEncoder(tree: self, index: index, codingPath: codingPath))
        }
    }

    /// Writes the root as JSON text.
    func write(into out: inout [UInt8]) {
        var scratch: [Int32] = []
        entries.withUnsafeBufferPointer { Self.write(0, of: $0, into: &out, scratch: &scratch) }
    }

    /// Writes an entry as JSON text; `scratch` holds the children of the objects being written.
    static func write(_ index: Int, of entries: UnsafeBufferPointer<Entry>, into out: inout [UInt8], scratch: inout [Int32]) {
        switch entries[index].kind {
        case .empty: out.append(contentsOf: "{}".utf8)
        case .scalar: entries[index].scalar.writeJSON(into: &out)
        case .array:
            out.append(UInt8(ascii: "["))
            var c = entries[index].first
            while c >= 0 {
                if c != entries[index].first { out.append(UInt8(ascii: ",")) }
                write(Int(c), of: entries, into: &out, scratch: &scratch)
                c = entries[Int(c)].next
            }
            out.append(UInt8(ascii: "]"))
        case .object:
            let base = scratch.count
            var c = entries[index].first
            while c >= 0 {
                scratch.append(c)
                c = entries[Int(c)].next
            }
            // By key, and a key encoded twice in encoding order, so the last of a run counts.
            scratch[base...].sort { a, b in
                entries[Int(a)].key < entries[Int(b)].key || (entries[Int(a)].key == entries[Int(b)].key && a < b)
            }
            out.append(UInt8(ascii: "{"))
            var wrote = false
            for i in base..<scratch.count {
                let child = Int(scratch[i])
                if i + 1 < scratch.count, entries[Int(scratch[i + 1])].key == entries[child].key { continue }
                if wrote { out.append(UInt8(ascii: ",")) }
                wrote = true
                JSONValue.writeString(entries[child].key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(child, of: entries, into: &out, scratch: &scratch)
            }
            out.append(UInt8(ascii: "}"))
            scratch.removeSubrange(base...)
        }
    }
}

/// Children are encoded with their parent's coding path (building a path per
/// value cost an allocation each); a refusal gets the key inserted on its way up.
func withKey(_ key: any CodingKey, _ path: [any CodingKey], _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let EncodingError.invalidValue(value, context) {
        throw EncodingError.invalidValue(value, EncodingError.Context(
            codingPath: path + [key] + context.codingPath.dropFirst(path.count), debugDescription: context.debugDescription))
    }
}

/// JSON integers here are 64-bit signed; a larger UInt64 is refused, not wrapped.
func signedInteger(_ value: UInt64, _ path: [any CodingKey]) throws -> JSONValue {
    guard let v = Int64(exactly: value) else {
        throw EncodingError.invalidValue(value, EncodingError.Context(codingPath: path, debugDescription: "\(value) does not fit in 64-bit signed JSON integers"))
    }
    return .int(v)
}

struct TreeEncoder: Encoder {
    let tree: Tree
    let index: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        tree.become(.object, index)
        return KeyedEncodingContainer(KeyedTreeContainer<Key>(tree: tree, index: index, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        tree.become(.array, index)
        return UnkeyedTreeContainer(tree: tree, index: index, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleTreeContainer(tree: tree, index: index, codingPath: codingPath)
    }
}

struct KeyedTreeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let tree: Tree
    let index: Int
    let codingPath: [any CodingKey]

    func put(_ key: Key, _ v: JSONValue) { tree.set(tree.child(of: index, key: key.stringValue), v) }

    mutating func encodeNil(forKey key: Key) throws { put(key, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(key, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(key, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(key, .double(value)) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(key, .double(Double(value))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(key, .int(Int64(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(key, .int(Int64(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(key, .int(Int64(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(key, .int(Int64(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(key, .int(value)) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(key, .int(Int64(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(key, .int(Int64(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(key, .int(Int64(value))) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encode(UInt64(value), forKey: key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(key, try signedInteger(value, codingPath + [key])) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let child = tree.child(of: index, key: key.stringValue)
        try withKey(key, codingPath) { try tree.encode(value, at: child, codingPath: codingPath) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        TreeEncoder(tree: tree, index: tree.child(of: index, key: key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        TreeEncoder(tree: tree, index: tree.child(of: index, key: key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { TreeEncoder(tree: tree, index: tree.child(of: index, key: "super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        TreeEncoder(tree: tree, index: tree.child(of: index, key: key.stringValue), codingPath: codingPath + [key])
    }
}

struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(_ index: Int) {
        intValue = index
        stringValue = "Index \(index)"
    }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.init(intValue) }
}

struct UnkeyedTreeContainer: UnkeyedEncodingContainer, ScalarSink {
    let tree: Tree
    let index: Int
    let codingPath: [any CodingKey]
    var count: Int { tree.entries[index].count }

    func put(_ v: JSONValue) { tree.set(tree.child(of: index), v) }
    var scalarPath: [any CodingKey] { codingPath + [IndexKey(count)] }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = IndexKey(count)
        let child = tree.child(of: index)
        try withKey(key, codingPath) { try tree.encode(value, at: child, codingPath: codingPath) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath + [IndexKey(count)]
        return TreeEncoder(tree: tree, index: tree.child(of: index), codingPath: path).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [IndexKey(count)]
        return TreeEncoder(tree: tree, index: tree.child(of: index), codingPath: path).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let path = codingPath + [IndexKey(count)]
        return TreeEncoder(tree: tree, index: tree.child(of: index), codingPath: path)
    }
}

struct SingleTreeContainer: SingleValueEncodingContainer, ScalarSink {
    let tree: Tree
    let index: Int
    let codingPath: [any CodingKey]

    func put(_ v: JSONValue) { tree.set(index, v) }
    var scalarPath: [any CodingKey] { codingPath }

    mutating func encode<T: Encodable>(_ value: T) throws { try tree.encode(value, at: index, codingPath: codingPath) }
}

/// The scalar methods the unkeyed and the single-value container share: each
/// puts one JSON value where the container writes.
protocol ScalarSink {
    func put(_ v: JSONValue)
    /// Where a refused value would have gone, for the error.
    var scalarPath: [any CodingKey] { get }
}

extension ScalarSink {
    mutating func encodeNil() throws { put(.null) }
    mutating func encode(_ value: Bool) throws { put(.bool(value)) }
    mutating func encode(_ value: String) throws { put(.string(value)) }
    mutating func encode(_ value: Double) throws { put(.double(value)) }
    mutating func encode(_ value: Float) throws { put(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { put(.int(value)) }
    mutating func encode(_ value: UInt8) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: UInt16) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: UInt32) throws { put(.int(Int64(value))) }
    mutating func encode(_ value: UInt) throws { put(try signedInteger(UInt64(value), scalarPath)) }
    mutating func encode(_ value: UInt64) throws { put(try signedInteger(value, scalarPath)) }
}
