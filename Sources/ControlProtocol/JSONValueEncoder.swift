import Foundation

/// Encodes an `Encodable` value into a ``JSONValue`` tree, whose text
/// (``JSONValue/jsonText()``) is what `JSONCoding.encoder` writes for the
/// same value: keys sorted, `nil` optionals left out.
///
/// It exists for speed: the daemon stores every dispute as JSON, and
/// Foundation's encoder was the largest single cost of a `dispute.open`.
/// Foundation special-cases `Data`, `Decimal` and `URL`; this encoder refuses
/// them rather than write them differently (no stored type contains one).
public enum JSONValueEncoder {
    public static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = Node()
        try root.encode(value, codingPath: [])
        return root.value
    }
}

/// One value being built. Containers write into their node in place.
final class Node {
    enum Kind { case empty, scalar, object, array }
    var kind = Kind.empty
    var scalar = JSONValue.null
    var fields: [String: Node] = [:]
    var items: [Node] = []

    var value: JSONValue {
        switch kind {
        case .empty: return .object([:])  // an encode(to:) that wrote nothing, as Foundation writes it
        case .scalar: return scalar
        case .object: return .object(fields.mapValues(\.value))
        case .array: return .array(items.map(\.value))
        }
    }

    func set(_ v: JSONValue) {
        kind = .scalar
        scalar = v
    }

    func encode<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws {
        switch value {
        case let v as String: set(.string(v))
        case let v as Bool: set(.bool(v))
        case let v as Int: set(.int(Int64(v)))
        case let v as Int64: set(.int(v))
        case let v as Double: set(.double(v))
        case is Data, is Decimal, is URL:
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: codingPath, debugDescription: "JSONValueEncoder does not encode \(T.self); use JSONCoding.encoder"))
        default:
            try value.encode(to: TreeEncoder(node: self, codingPath: codingPath))
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
    let node: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if node.kind != .object {
            node.kind = .object
            node.fields = [:]
        }
        return KeyedEncodingContainer(KeyedTreeContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if node.kind != .array {
            node.kind = .array
            node.items = []
        }
        return UnkeyedTreeContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleTreeContainer(node: node, codingPath: codingPath)
    }
}

struct KeyedTreeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let codingPath: [any CodingKey]

    func child(_ key: Key) -> Node {
        let n = Node()
        node.fields[key.stringValue] = n
        return n
    }

    mutating func encodeNil(forKey key: Key) throws { child(key).set(.null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { child(key).set(.bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { child(key).set(.string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { child(key).set(.double(value)) }
    mutating func encode(_ value: Float, forKey key: Key) throws { child(key).set(.double(Double(value))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { child(key).set(.int(Int64(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { child(key).set(.int(Int64(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { child(key).set(.int(Int64(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { child(key).set(.int(Int64(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { child(key).set(.int(value)) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { child(key).set(.int(Int64(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { child(key).set(.int(Int64(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { child(key).set(.int(Int64(value))) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encode(UInt64(value), forKey: key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { child(key).set(try signedInteger(value, codingPath + [key])) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try withKey(key, codingPath) { try child(key).encode(value, codingPath: codingPath) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        TreeEncoder(node: child(key), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        TreeEncoder(node: child(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { TreeEncoder(node: child(Key(stringValue: "super")!), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { TreeEncoder(node: child(key), codingPath: codingPath + [key]) }
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

struct UnkeyedTreeContainer: UnkeyedEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    var count: Int { node.items.count }

    func next() -> Node {
        let n = Node()
        node.items.append(n)
        return n
    }

    mutating func encodeNil() throws { next().set(.null) }
    mutating func encode(_ value: Bool) throws { next().set(.bool(value)) }
    mutating func encode(_ value: String) throws { next().set(.string(value)) }
    mutating func encode(_ value: Double) throws { next().set(.double(value)) }
    mutating func encode(_ value: Float) throws { next().set(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { next().set(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { next().set(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { next().set(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { next().set(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { next().set(.int(value)) }
    mutating func encode(_ value: UInt8) throws { next().set(.int(Int64(value))) }
    mutating func encode(_ value: UInt16) throws { next().set(.int(Int64(value))) }
    mutating func encode(_ value: UInt32) throws { next().set(.int(Int64(value))) }
    mutating func encode(_ value: UInt) throws { try encode(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { next().set(try signedInteger(value, codingPath + [IndexKey(count)])) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try withKey(IndexKey(count), codingPath) { try next().encode(value, codingPath: codingPath) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath + [IndexKey(count)]
        return TreeEncoder(node: next(), codingPath: path).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [IndexKey(count)]
        return TreeEncoder(node: next(), codingPath: path).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let path = codingPath + [IndexKey(count)]
        return TreeEncoder(node: next(), codingPath: path)
    }
}

struct SingleTreeContainer: SingleValueEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.set(.null) }
    mutating func encode(_ value: Bool) throws { node.set(.bool(value)) }
    mutating func encode(_ value: String) throws { node.set(.string(value)) }
    mutating func encode(_ value: Double) throws { node.set(.double(value)) }
    mutating func encode(_ value: Float) throws { node.set(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { node.set(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { node.set(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { node.set(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { node.set(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { node.set(.int(value)) }
    mutating func encode(_ value: UInt8) throws { node.set(.int(Int64(value))) }
    mutating func encode(_ value: UInt16) throws { node.set(.int(Int64(value))) }
    mutating func encode(_ value: UInt32) throws { node.set(.int(Int64(value))) }
    mutating func encode(_ value: UInt) throws { try encode(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { node.set(try signedInteger(value, codingPath)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try node.encode(value, codingPath: codingPath) }
}
