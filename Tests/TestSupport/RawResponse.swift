import Foundation
import Glibc

/// A response as received: the head exactly, the body decoded, and for chunked bodies each chunk.
struct RawResponse {
    var version: String
    var status: Int
    var reason: String
    var headers: [(name: String, value: String)]
    var body: [UInt8] = []
    var chunks: [[UInt8]]?

    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func headers(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    /// Offset just past the blank line that ends the head, if it has arrived.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    /// Strict: `HTTP/1.x NNN reason`, CRLF line ends, `name: value` headers.
    static func parseHead(_ head: [UInt8]) throws -> RawResponse {
        let text = String(decoding: head.dropLast(4), as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "HTTP/1.1" || parts[0] == "HTTP/1.0", parts[1].count == 3,
              let status = Int(parts[1]), (100...599).contains(status) else {
            throw RawClient.ClientError.malformed("status line '\(statusLine)'")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex, !line.contains("\n"), !line.contains("\r") else {
                throw RawClient.ClientError.malformed("header line '\(line)'")
            }
            let name = String(line[..<colon])
            guard !name.contains(" ") else { throw RawClient.ClientError.malformed("header name '\(name)'") }
            headers.append((name, String(line[line.index(after: colon)...]).trimmed(" ")))
        }
        return RawResponse(version: String(parts[0]), status: status, reason: String(parts[2]), headers: headers)
    }

    enum Chunked { case incomplete, complete([[UInt8]], consumed: Int) }

    /// Decodes strict chunked framing (hex size CRLF, data CRLF, ..., 0 CRLF, CRLF; no trailers).
    static func decodeChunked(_ b: [UInt8]) throws -> Chunked {
        var chunks: [[UInt8]] = []
        var i = 0
        while true {
            guard let lineEnd = findCRLF(b, from: i) else { return .incomplete }
            let sizeText = String(decoding: b[i..<lineEnd], as: UTF8.self)
            guard !sizeText.isEmpty, let size = Int(sizeText, radix: 16) else {
                throw RawClient.ClientError.malformed("chunk size '\(sizeText)'")
            }
            i = lineEnd + 2
            if size == 0 {
                guard b.count >= i + 2 else { return .incomplete }
                guard b[i] == 13, b[i + 1] == 10 else { throw RawClient.ClientError.malformed("trailers after the last chunk") }
                return .complete(chunks, consumed: i + 2)
            }
            guard b.count >= i + size + 2 else { return .incomplete }
            chunks.append(Array(b[i..<(i + size)]))
            guard b[i + size] == 13, b[i + size + 1] == 10 else { throw RawClient.ClientError.malformed("chunk not followed by CRLF") }
            i += size + 2
        }
    }

    static func findCRLF(_ b: [UInt8], from: Int) -> Int? {
        var i = from
        while i + 1 < b.count {
            if b[i] == 13 && b[i + 1] == 10 { return i }
            i += 1
        }
        return nil
    }
}

extension String {
    func trimmed(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

/// Seconds on a monotonic clock.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Polls `condition` until it holds or `timeout` seconds pass.
func eventually(timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = now() + timeout
    while now() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
