/// Parses an upstream's status line and headers. The upstream is untrusted: anything that could
/// smuggle a header into our own response (a bare CR, a NUL) or is not HTTP is refused.
struct ResponseHead: Sendable {
    var status: Int
    var headers: [(String, String)]
    var consumed: Int

    func header(_ name: String) -> String? {
        headers.first { $0.0 == name }?.1
    }

    enum Framing: Equatable { case none, length(Int), chunked, untilClose }

    func framing(method: String) -> Framing {
        if method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status) { return .none }
        if let te = header("transfer-encoding"), te.lowercased().contains("chunked") { return .chunked }
        if let cl = header("content-length"), let n = Int(cl), n >= 0 { return n == 0 ? .none : .length(n) }
        return .untilClose
    }

    var keepAlive: Bool { !(header("connection")?.lowercased().contains("close") ?? false) }

    /// nil: need more bytes. `scannedUpTo` is where an earlier call on a prefix of the same bytes
    /// stopped looking for the head's end (so an upstream that trickles costs linear time).
    static func parse(_ bytes: [UInt8], scannedUpTo: Int = 0, maxBytes: Int = 64 * 1024) throws(UpstreamError) -> ResponseHead? {
        guard let end = headEnd(bytes, from: max(0, scannedUpTo - 3)) else {
            if bytes.count > maxBytes { throw .malformed("response header section too large") }
            return nil
        }
        // A head that arrived whole in one read is held to the same limit.
        if end.start > maxBytes { throw .malformed("response header section too large") }
        // Split on LF bytes: as Characters, "\r\n" is one grapheme and would never split on "\n".
        var lines = bytes[..<end.start].split(separator: 0x0A, omittingEmptySubsequences: false).map { $0.last == 0x0D ? $0.dropLast() : $0 }
        let statusLine = lines.removeFirst()
        guard statusLine.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else { throw .malformed("not an HTTP/1.x response") }
        let parts = statusLine.split(separator: 0x20, maxSplits: 2)
        guard parts.count >= 2, parts[0].starts(with: "HTTP/1.".utf8), parts[0].count == 8,
              parts[1].count == 3, parts[1].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let status = Int(String(decoding: parts[1], as: UTF8.self)), (100...599).contains(status) else {
            throw .malformed("not an HTTP/1.x response")
        }
        var headers: [(String, String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: 0x3A) else { throw .malformed("invalid response header line") }
            let name = line[..<colon]
            guard !name.isEmpty, name.allSatisfy(Self.isTokenByte) else { throw .malformed("invalid response header name") }
            var value = line[(colon + 1)...]
            while let f = value.first, f == 0x20 || f == 0x09 { value.removeFirst() }
            while let l = value.last, l == 0x20 || l == 0x09 { value.removeLast() }
            // A bare CR or NUL inside a value is how a header gets smuggled into a relayed head.
            guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                throw .malformed("control character in response header \(String(decoding: name, as: UTF8.self))")
            }
            headers.append((String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self)))
        }
        let head = ResponseHead(status: status, headers: headers, consumed: end.next)
        let lengths = Set(headers.filter { $0.0 == "content-length" }.map(\.1))
        if lengths.count > 1 || lengths.contains(where: { $0.isEmpty || $0.count > 18 || !$0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }) {
            throw .malformed("invalid Content-Length")
        }
        return head
    }

    private static func isTokenByte(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }

    private static func headEnd(_ b: [UInt8], from: Int) -> (start: Int, next: Int)? {
        var i = from
        while i < b.count {
            if b[i] == 0x0A {
                if i + 1 < b.count, b[i + 1] == 0x0A { return (i, i + 2) }
                if i + 2 < b.count, b[i + 1] == 0x0D, b[i + 2] == 0x0A { return (i > 0 && b[i - 1] == 0x0D ? i - 1 : i, i + 3) }
            }
            i += 1
        }
        return nil
    }
}
