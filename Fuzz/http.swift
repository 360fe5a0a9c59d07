// libFuzzer target: HTTP/1.1 request head parser + chunked body decoder.
// Built by scripts/fuzz.sh together with RequestHeadParser, RequestHead, HTTPHeaders, HTTPRequest
// (Sources/HTTPServer/HTTP1) and ChunkedDecoder (Sources/HTTP1Codec), as one module.
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
// - the parser never crashes, and a complete head never claims more bytes than it was given;
// - incremental parsing agrees with whole parsing: every strict prefix of a head that parses
//   completely answers `.incomplete`, and the complete answer is the same whatever the prefix;
// - the chunked decoder gives the same body, completion and error whether the bytes arrive whole
//   or in data-derived pieces, never exceeds its body limit, and only stops short when done.

@inline(__always) func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

func describe(_ r: RequestHeadParser.Result) -> String {
    switch r {
    case .incomplete: return "incomplete"
    case .failure(let e): return "failure(\(e))"
    case .complete(let h, let consumed):
        let fields = h.headers.fields.map { "\($0.name)=\($0.value)" }.joined(separator: "|")
        return "complete(\(h.method) \(h.target) \(h.version) [\(fields)] \(h.framing) consumed=\(consumed))"
    }
}

struct ChunkedOutcome: Equatable {
    var body: [UInt8]
    var complete: Bool
    var error: String?   // the decoder's error, described (its type moves with the code)
    var used: Int
}

func decodeChunked(_ bytes: [UInt8], pieces: [Int], maxBody: Int) -> ChunkedOutcome {
    var decoder = ChunkedDecoder(maxBodyBytes: maxBody)
    var start = 0
    var used = 0
    var bounds = pieces.filter { $0 > 0 && $0 < bytes.count }.sorted()
    bounds.append(bytes.count)
    for end in bounds where end >= start {
        let slice = bytes[start..<end]
        do {
            let n = try decoder.feed(slice)
            check(n >= 0 && n <= slice.count, "feed returned \(n) for \(slice.count) bytes")
            if n < slice.count { check(decoder.isComplete, "feed stopped short (\(n)/\(slice.count)) but is not complete") }
            used += n
            check(decoder.body.count <= maxBody, "body \(decoder.body.count) over limit \(maxBody)")
            if decoder.isComplete { return ChunkedOutcome(body: decoder.body, complete: true, error: nil, used: used) }
        } catch {
            return ChunkedOutcome(body: [], complete: false, error: "\(error)", used: -1)
        }
        start = end
    }
    return ChunkedOutcome(body: decoder.body, complete: decoder.isComplete, error: nil, used: used)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 3 else { return 0 }
    // Two control bytes pick small limits so the limit edges are reachable within libFuzzer's
    // default input sizes; the rest is the wire bytes.
    let lineLimit = 16 + Int(data[0]) * 4          // 16...1036
    let headerLimit = 32 + Int(data[1]) * 16       // 32...4112
    let cut = Int(data[2])
    let bytes = Array(UnsafeBufferPointer(start: data + 3, count: size - 3))

    let parser = RequestHeadParser(maxRequestLineBytes: lineLimit, maxHeaderBytes: headerLimit)
    let whole = parser.parse(bytes[...])
    var bodyStart = 0
    if case .complete(let head, let consumed) = whole {
        check(consumed > 0 && consumed <= bytes.count, "consumed \(consumed) of \(bytes.count)")
        check(!head.method.isEmpty && !head.target.isEmpty, "empty method or target")
        check(bytes[consumed - 1] == 0x0A, "head does not end at a line feed")
        _ = head.expectsContinue
        let request = HTTPRequest(method: head.method, target: head.target, version: head.version, headers: head.headers)
        _ = request.path
        _ = request.wantsKeepAlive
        // Every strict prefix is still incomplete, and the head parses the same when more bytes follow.
        for prefix in [consumed - 1, consumed * cut / 256, min(consumed - 1, cut)] where prefix >= 0 && prefix < consumed {
            let p = parser.parse(bytes[..<prefix])
            if case .incomplete = p {} else {
                fatalError("prefix of \(prefix)/\(consumed) bytes answered \(describe(p)) but the whole answered \(describe(whole))")
            }
        }
        let exact = parser.parse(bytes[..<consumed])
        check(describe(exact) == describe(whole), "head alone \(describe(exact)) vs with body \(describe(whole))")
        bodyStart = consumed
    } else if case .incomplete = whole {
        // More bytes may only turn .incomplete into a definite answer, never the other way round:
        // so any prefix of an incomplete input is incomplete too.
        let prefix = bytes.count * cut / 256
        let p = parser.parse(bytes[..<prefix])
        if case .incomplete = p {} else {
            fatalError("prefix of \(prefix)/\(bytes.count) bytes answered \(describe(p)) but the whole is incomplete")
        }
    }

    // Chunked decoding of whatever follows the head (or of everything when there is no head).
    let body = Array(bytes[bodyStart...])
    let maxBody = 1 + Int(data[0]) * 8
    let w = decodeChunked(body, pieces: [], maxBody: maxBody)
    let pieces = [cut, cut * 3 + 1, body.count / 2, body.count - 1 - cut % max(body.count, 1)]
    let s = decodeChunked(body, pieces: pieces, maxBody: maxBody)
    check(w == s, "chunked whole \(w) vs split \(s) at \(pieces)")
    let bytewise = decodeChunked(body, pieces: Array(0..<body.count), maxBody: maxBody)
    check(w == bytewise, "chunked whole \(w) vs byte by byte \(bytewise)")
    return 0
}
