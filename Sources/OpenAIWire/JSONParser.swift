/// A strict RFC 8259 parser producing `JSONValue`. Depth is bounded so hostile input cannot
/// exhaust the stack.
public struct JSONParser {
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public let offset: Int
        /// For a duplicate key: where it is, e.g. `messages[0].role`.
        public var duplicateKeyPath: String?
        public var description: String { "\(message) at byte \(offset)" }
    }

    public static let maxDepth = 256

    /// `rejectingDuplicateKeys`: an object that names a key twice is an error. Parsers disagree on
    /// which copy wins (most take the last), so a proxy that reads one copy and forwards both
    /// lets a client say one thing to the proxy and another to the upstream.
    public static func parse(_ bytes: [UInt8], rejectingDuplicateKeys: Bool = false) throws(Error) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(Error) in
            var parser = Parser(buf: buffer, rejectDuplicates: rejectingDuplicateKeys)
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.pos == buffer.count else { throw parser.fail("unexpected trailing data") }
            return value
        }
    }

    public static func parse(_ text: String) throws(Error) -> JSONValue { try parse(Array(text.utf8)) }

    private struct Parser {
        let buf: UnsafeBufferPointer<UInt8>
        let rejectDuplicates: Bool
        var pos = 0

        func fail(_ message: String) -> Error { Error(message: message, offset: pos) }

        mutating func skipWhitespace() {
            while pos < buf.count {
                switch buf[pos] {
                case 0x20, 0x09, 0x0A, 0x0D: pos += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws(Error) -> JSONValue {
            guard depth < JSONParser.maxDepth else { throw fail("nesting too deep") }
            guard pos < buf.count else { throw fail("unexpected end of input") }
            switch buf[pos] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), 0x30...0x39: return .number(try parseNumber())
            default: throw fail("unexpected character")
            }
        }

        mutating func literal(_ word: StaticString) throws(Error) {
            let n = word.utf8CodeUnitCount
            guard pos + n <= buf.count else { throw fail("invalid literal") }
            for i in 0..<n where buf[pos + i] != word.utf8Start[i] { throw fail("invalid literal") }
            pos += n
        }

        mutating func parseObject(depth: Int) throws(Error) -> JSONValue {
            pos += 1
            var object = JSONObject()
            // A set only for large objects: linear checks are cheaper for OpenAI's handful of keys,
            // and the set keeps a hostile object with 100k keys linear too.
            var seen: Set<String>?
            skipWhitespace()
            if pos < buf.count, buf[pos] == UInt8(ascii: "}") { pos += 1; return .object(object) }
            while true {
                skipWhitespace()
                guard pos < buf.count, buf[pos] == UInt8(ascii: "\"") else { throw fail("expected object key") }
                let keyStart = pos
                let key = try parseString()
                if rejectDuplicates {
                    if seen == nil, object.entries.count >= 16 { seen = Set(object.keys) }
                    let duplicate: Bool
                    if seen != nil { duplicate = !seen!.insert(key).inserted } else { duplicate = object.entries.contains { $0.key == key } }
                    if duplicate {
                        var error = Error(message: "duplicate key '\(key)'", offset: keyStart)
                        error.duplicateKeyPath = key
                        throw error
                    }
                }
                skipWhitespace()
                guard pos < buf.count, buf[pos] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                pos += 1
                skipWhitespace()
                let value: JSONValue
                do { value = try parseValue(depth: depth + 1) } catch { throw error.inside(key: key) }
                object.appendUnchecked(key, value)
                skipWhitespace()
                guard pos < buf.count else { throw fail("unterminated object") }
                if buf[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if buf[pos] == UInt8(ascii: "}") { pos += 1; return .object(object) }
                throw fail("expected ',' or '}'")
            }
        }

        mutating func parseArray(depth: Int) throws(Error) -> JSONValue {
            pos += 1
            var array: [JSONValue] = []
            skipWhitespace()
            if pos < buf.count, buf[pos] == UInt8(ascii: "]") { pos += 1; return .array(array) }
            while true {
                skipWhitespace()
                do { array.append(try parseValue(depth: depth + 1)) } catch { throw error.inside(index: array.count) }
                skipWhitespace()
                guard pos < buf.count else { throw fail("unterminated array") }
                if buf[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if buf[pos] == UInt8(ascii: "]") { pos += 1; return .array(array) }
                throw fail("expected ',' or ']'")
            }
        }

        mutating func parseNumber() throws(Error) -> String {
            let start = pos
            if buf[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < buf.count, isDigit(buf[pos]) else { throw fail("invalid number") }
            if buf[pos] == 0x30 { pos += 1 } else { while pos < buf.count, isDigit(buf[pos]) { pos += 1 } }
            if pos < buf.count, buf[pos] == UInt8(ascii: ".") {
                pos += 1
                guard pos < buf.count, isDigit(buf[pos]) else { throw fail("invalid number") }
                while pos < buf.count, isDigit(buf[pos]) { pos += 1 }
            }
            if pos < buf.count, buf[pos] == UInt8(ascii: "e") || buf[pos] == UInt8(ascii: "E") {
                pos += 1
                if pos < buf.count, buf[pos] == UInt8(ascii: "+") || buf[pos] == UInt8(ascii: "-") { pos += 1 }
                guard pos < buf.count, isDigit(buf[pos]) else { throw fail("invalid number") }
                while pos < buf.count, isDigit(buf[pos]) { pos += 1 }
            }
            return String(decoding: UnsafeBufferPointer(rebasing: buf[start..<pos]), as: UTF8.self)
        }

        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

        mutating func parseString() throws(Error) -> String {
            pos += 1
            let start = pos
            // Fast path: no escapes.
            while pos < buf.count {
                let c = buf[pos]
                if c == UInt8(ascii: "\"") {
                    let raw = UnsafeBufferPointer(rebasing: buf[start..<pos])
                    pos += 1
                    return try validUTF8(raw)
                }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw fail("control character in string") }
                pos += 1
            }
            var bytes = Array(UnsafeBufferPointer(rebasing: buf[start..<pos]))
            while pos < buf.count {
                let c = buf[pos]
                switch c {
                case UInt8(ascii: "\""):
                    pos += 1
                    return try bytes.withUnsafeBufferPointer { b throws(Error) in try validUTF8(b) }
                case UInt8(ascii: "\\"):
                    pos += 1
                    guard pos < buf.count else { throw fail("unterminated escape") }
                    let e = buf[pos]
                    pos += 1
                    switch e {
                    case UInt8(ascii: "\""): bytes.append(0x22)
                    case UInt8(ascii: "\\"): bytes.append(0x5C)
                    case UInt8(ascii: "/"): bytes.append(0x2F)
                    case UInt8(ascii: "b"): bytes.append(0x08)
                    case UInt8(ascii: "f"): bytes.append(0x0C)
                    case UInt8(ascii: "n"): bytes.append(0x0A)
                    case UInt8(ascii: "r"): bytes.append(0x0D)
                    case UInt8(ascii: "t"): bytes.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if scalar >= 0xD800 && scalar < 0xDC00 {
                            // A high surrogate must be followed by an escaped low surrogate.
                            guard pos + 1 < buf.count, buf[pos] == UInt8(ascii: "\\"), buf[pos + 1] == UInt8(ascii: "u") else {
                                throw fail("unpaired surrogate")
                            }
                            pos += 2
                            let low = try hex4()
                            guard low >= 0xDC00 && low < 0xE000 else { throw fail("unpaired surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if scalar >= 0xDC00 && scalar < 0xE000 {
                            throw fail("unpaired surrogate")
                        }
                        bytes.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                    default:
                        throw fail("invalid escape")
                    }
                default:
                    if c < 0x20 { throw fail("control character in string") }
                    bytes.append(c)
                    pos += 1
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws(Error) -> UInt32 {
            guard pos + 4 <= buf.count else { throw fail("invalid \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = buf[pos]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw fail("invalid \\u escape")
                }
                v = v << 4 | d
                pos += 1
            }
            return v
        }

        func validUTF8(_ raw: UnsafeBufferPointer<UInt8>) throws(Error) -> String {
            guard let s = String(validating: raw, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
            return s
        }
    }
}

extension JSONParser.Error {
    /// Prefixes a duplicate key's path with the object key or array index it was found under.
    func inside(key: String) -> Self {
        guard let path = duplicateKeyPath else { return self }
        var e = self
        e.duplicateKeyPath = path.hasPrefix("[") ? key + path : key + "." + path
        return e
    }

    func inside(index: Int) -> Self {
        guard let path = duplicateKeyPath else { return self }
        var e = self
        e.duplicateKeyPath = path.hasPrefix("[") ? "[\(index)]" + path : "[\(index)]." + path
        return e
    }
}
