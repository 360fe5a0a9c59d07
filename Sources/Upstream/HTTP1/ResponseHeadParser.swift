import HTTPServer

/// Parses an upstream's status line and headers.
struct ResponseHead: Sendable {
    var status: Int
    var headers: [(String, String)]
    var consumed: Int

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name }?.1
    }

    enum Framing { case none, length(Int), chunked, untilClose }

    func framing(method: String) -> Framing {
        if method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status) { return .none }
        if let te = header("transfer-encoding"), te.lowercased().contains("chunked") { return .chunked }
        if let cl = header("content-length"), let n = Int(cl.trimming(" ")), n >= 0 { return n == 0 ? .none : .length(n) }
        return .untilClose
    }

    var keepAlive: Bool { !(header("connection")?.lowercased().contains("close") ?? false) }

    /// nil: need more bytes.
    static func parse(_ bytes: [UInt8], maxBytes: Int = 64 * 1024) throws(UpstreamError) -> ResponseHead? {
        guard let end = headEnd(bytes) else {
            if bytes.count > maxBytes { throw .malformed("response header section too large") }
            return nil
        }
        // Split on LF bytes: as Characters, "\r\n" is one grapheme and would never split on "\n".
        var lines = bytes[..<end.start].split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
        }
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...999).contains(status) else {
            throw .malformed("not an HTTP/1.x response")
        }
        var headers: [(String, String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw .malformed("invalid response header line") }
            headers.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...]).trimming(" \t")))
        }
        return ResponseHead(status: status, headers: headers, consumed: end.next)
    }

    private static func headEnd(_ b: [UInt8]) -> (start: Int, next: Int)? {
        var i = 0
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
