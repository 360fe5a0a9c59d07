/// Parses a request head from the bytes received so far. Pure and incremental: call again with
/// more bytes when it answers `.incomplete` (with a `Scan` to resume where the last call stopped).
public struct RequestHeadParser: Sendable {
    public var maxRequestLineBytes: Int
    public var maxHeaderBytes: Int

    public init(maxRequestLineBytes: Int = 8 * 1024, maxHeaderBytes: Int = 64 * 1024) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
    }

    public enum Result: Sendable {
        case incomplete
        /// `consumed` bytes (head and blank line) belong to this head.
        case complete(RequestHead, consumed: Int)
        case failure(HTTPParseError)
    }

    /// Where parsing of a growing buffer stopped, so the next call resumes there instead of
    /// rescanning from the start: a head trickled in many small reads then costs time linear in its
    /// size. Indices are offsets into the buffer, which must only grow between calls.
    struct Scan: Sendable {
        /// The request line's first byte, once the blank lines before it are skipped.
        fileprivate var start: Int?
        /// The request line's LF, once found.
        fileprivate var requestLineEnd: Int?
        /// Where the line being scanned starts.
        fileprivate var cursor = 0
        /// Bytes before this offset have been searched for a LF already.
        fileprivate var scanned = 0
        /// Content (without CR LF) of each complete header line.
        fileprivate var lines: [Range<Int>] = []
        /// Bytes looked at so far, scanning and building the head (for tests of linearity).
        fileprivate(set) var bytesExamined = 0

        init() {}
    }

    public func parse(_ bytes: ArraySlice<UInt8>) -> Result {
        bytes.withUnsafeBufferPointer { parse($0) }
    }

    public func parse(_ buf: UnsafeBufferPointer<UInt8>) -> Result {
        var scan = Scan()
        return parse(buf, resuming: &scan)
    }

    /// Answers exactly what `parse(bytes)` answers, examining only bytes not seen by earlier calls
    /// with the same `scan` (made on prefixes of `bytes`). Start a new `Scan` for the next head.
    func parse(_ bytes: ArraySlice<UInt8>, resuming scan: inout Scan) -> Result {
        bytes.withUnsafeBufferPointer { parse($0, resuming: &scan) }
    }

    func parse(_ buf: UnsafeBufferPointer<UInt8>, resuming scan: inout Scan) -> Result {
        // Blank lines before a request line are tolerated (RFC 9112 §2.2).
        if scan.start == nil {
            var i = scan.scanned
            while i < buf.count, buf[i] == 0x0D || buf[i] == 0x0A { i += 1 }
            scan.bytesExamined += i - scan.scanned
            scan.scanned = i
            if i > 64 { return .failure(.badRequest("too many blank lines")) }
            guard i < buf.count else { return .incomplete }
            scan.start = i
            scan.cursor = i
        }
        let start = scan.start!

        // Request line.
        if scan.requestLineEnd == nil {
            guard let lineEnd = findLF(buf, scan: &scan, limit: start + maxRequestLineBytes) else {
                return buf.count - start >= maxRequestLineBytes ? .failure(.uriTooLong) : .incomplete
            }
            scan.requestLineEnd = lineEnd
            scan.cursor = lineEnd + 1
        }
        // Header lines, until an empty line.
        while true {
            if scan.cursor - start > maxHeaderBytes { return .failure(.headersTooLarge) }
            guard let end = findLF(buf, scan: &scan, limit: start + maxHeaderBytes + 2) else {
                // +2: the search above may still find a head ending exactly at the limit.
                return buf.count - start >= maxHeaderBytes + 2 ? .failure(.headersTooLarge) : .incomplete
            }
            let lineStart = scan.cursor
            let contentEnd = end > lineStart && buf[end - 1] == 0x0D ? end - 1 : end
            scan.cursor = end + 1
            if contentEnd == lineStart { break }
            scan.lines.append(lineStart..<contentEnd)
        }
        let lineEnd = scan.requestLineEnd!
        let cursor = scan.cursor
        // Building the head below reads each of its bytes about once more.
        scan.bytesExamined += cursor - start

        let requestLineEnd = lineEnd > start && buf[lineEnd - 1] == 0x0D ? lineEnd - 1 : lineEnd
        switch parseRequestLine(buf, start..<requestLineEnd) {
        case .failure(let e): return .failure(e)
        case .success(let (method, target, version)):
            var headers = HTTPHeaders()
            for line in scan.lines {
                switch parseHeaderLine(buf, line) {
                case .failure(let e): return .failure(e)
                case .success(let (name, value)): headers.add(name, value)
                }
            }
            switch framing(headers, version: version) {
            case .failure(let e): return .failure(e)
            case .success(let framing):
                let hosts = headers.values("Host").count
                if version == .http11, hosts == 0 { return .failure(.badRequest("missing Host header")) }
                // Two hosts leave which one the request is for up to each parser (RFC 9112 §3.2).
                if hosts > 1 { return .failure(.badRequest("more than one Host header")) }
                return .complete(RequestHead(method: method, target: target, version: version, headers: headers, framing: framing), consumed: cursor)
            }
        }
    }

    /// The next LF at or after the line being scanned and before `limit`; remembers how far it
    /// looked, so no byte is searched twice.
    private func findLF(_ buf: UnsafeBufferPointer<UInt8>, scan: inout Scan, limit: Int) -> Int? {
        let from = max(scan.scanned, scan.cursor)
        let end = min(buf.count, limit)
        var i = from
        while i < end, buf[i] != 0x0A { i += 1 }
        scan.bytesExamined += i - from
        if i < end {
            scan.scanned = i + 1
            return i
        }
        scan.scanned = max(from, end)
        return nil
    }

    private func parseRequestLine(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Swift.Result<(String, String, HTTPVersion), HTTPParseError> {
        let parts = buf[range].split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(.badRequest("malformed request line")) }
        guard !parts[0].isEmpty, parts[0].allSatisfy(isTokenByte) else { return .failure(.badRequest("invalid method")) }
        guard !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else { return .failure(.badRequest("invalid request target")) }
        let version: HTTPVersion
        switch String(decoding: parts[2], as: UTF8.self) {
        case "HTTP/1.1": version = .http11
        case "HTTP/1.0": version = .http10
        case let v where v.hasPrefix("HTTP/") && v.count == 8: return .failure(.versionNotSupported)
        default: return .failure(.badRequest("invalid HTTP version"))
        }
        return .success((String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self), version))
    }

    private func parseHeaderLine(_ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Swift.Result<(String, String), HTTPParseError> {
        let line = buf[range]
        if let first = line.first, first == 0x20 || first == 0x09 { return .failure(.badRequest("obsolete header line folding")) }
        guard let colon = line.firstIndex(of: 0x3A) else { return .failure(.badRequest("header line without colon")) }
        let name = buf[range.lowerBound..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else { return .failure(.badRequest("invalid header name")) }
        var valueStart = colon + 1
        var valueEnd = range.upperBound
        while valueStart < valueEnd, buf[valueStart] == 0x20 || buf[valueStart] == 0x09 { valueStart += 1 }
        while valueEnd > valueStart, buf[valueEnd - 1] == 0x20 || buf[valueEnd - 1] == 0x09 { valueEnd -= 1 }
        let value = buf[valueStart..<valueEnd]
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else { return .failure(.badRequest("invalid header value")) }
        return .success((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }

    private func framing(_ headers: HTTPHeaders, version: HTTPVersion) -> Swift.Result<RequestHead.BodyFraming, HTTPParseError> {
        let transferEncodings = headers.values("Transfer-Encoding")
        let lengths = headers.values("Content-Length")
        if !transferEncodings.isEmpty {
            // Both framings at once is the classic request-smuggling vector: refuse it.
            guard lengths.isEmpty else { return .failure(.badRequest("both Content-Length and Transfer-Encoding")) }
            guard version == .http11 else { return .failure(.badRequest("Transfer-Encoding in HTTP/1.0")) }
            let codings = transferEncodings.flatMap { $0.split(separator: ",").map { $0.trimmingSpaces.lowercased() } }
            guard codings.last == "chunked" else { return .failure(.badRequest("final transfer coding is not chunked")) }
            guard codings.count == 1 else { return .failure(.notImplemented("transfer coding \(codings.dropLast().joined(separator: ","))")) }
            return .success(.chunked)
        }
        guard !lengths.isEmpty else { return .success(.none) }
        let values = Set(lengths.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false).map { String($0.trimmingSpaces) } })
        guard values.count == 1, let text = values.first, !text.isEmpty, text.count <= 18,
              text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let length = Int(text) else {
            return .failure(.badRequest("invalid Content-Length"))
        }
        return .success(length == 0 ? .none : .length(length))
    }
}

@inline(__always) func isTokenByte(_ c: UInt8) -> Bool {
    switch c {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
         UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
         UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        return true
    default: return false
    }
}
