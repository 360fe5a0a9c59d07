// libFuzzer target: what a hostile upstream can send, from the first byte of the response head to
// the usage the proxy adds up. Built by scripts/fuzz.sh from copies of
//   Upstream: HTTP1/ResponseHeadParser, UpstreamError, CompletionShape; HTTP1Codec: ChunkedDecoder;
//   OpenAIWire: SSEDecoder, JSONValue, JSONParser, JSONWriter, Usage, ChatRequest, OpenAIError
// with their `import <package module>` lines removed (one module). The parts of the Upstream and
// Pipeline modules that need sockets or tasks (HTTP1Client's HeadReader, HTTP1BodyReader,
// ChunkStream, StageStream, PipelineRun) are mirrored here, pure.
//
// Input: byte 0 picks the sub-target, byte 1 is a knob (split points, limits), the rest is wire bytes.
//   0 wire        a whole response: head(s) → body framing → body → SSE events or a completion
//   1 chunked     Transfer-Encoding: chunked, read the way HTTP1BodyReader reads it
//   2 sse         an event stream → chunk objects → what StageStream / the pipeline take from them
//   3 completion  a non-streamed chat.completion → what PipelineRun.Choice takes from it
//   4 usage       Usage(JSONValue) and `+` (JSON values, or raw Int64 triples when byte 1 is odd)
//
// Properties (a violation traps, which libFuzzer reports as a crash):
// - nothing traps (integer overflow included);
// - response heads: status in 100...599; header names are lowercase tokens, values carry no
//   control byte but HTAB and no surrounding blanks; a complete head ends at a LF within the
//   bytes; its strict prefixes are incomplete; an invalid Content-Length is refused; framing is
//   .none for HEAD / 1xx / 204 / 304, and .length only with a positive Content-Length;
// - the head loop (a mirror of HTTP1Client's HeadReader: interim 1xx skipped, 101 refused) and the
//   body reader reach the same answer whether the bytes come whole, in pieces or byte by byte
//   (except when a head is larger than the head limit: see TOLERATED below);
// - chunked: same body / completion / bytes used / error however split; takeBody hands over
//   every payload byte exactly once;
// - SSE: same events however split; a chunk that passes CompletionShape.checkChunk has a
//   delta that is an object (when present), string-or-null content and finish_reason;
// - a completion that passes CompletionShape.checkCompletion has a message object whose content
//   is a string or null (`"content": 123` and `{"a":1}` are refused);
// - Usage: every count ≥ 0; a missing or invalid total is the saturated prompt + completion;
//   `+` is the saturating field-wise sum (commutative, associative); Usage(u.json) == u.
//
// TOLERATED (reported, not asserted): `ResponseHead.parse` checks `maxBytes` only while the head is
// incomplete, so a head that completes within one read is accepted even when longer than the
// limit (up to limit + one read): the cross-split comparison is skipped for such inputs.

@inline(__always) func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

func show(_ bytes: some Collection<UInt8>) -> String {
    String(decoding: bytes.prefix(120), as: UTF8.self).debugDescription
}

/// Cut points from the knob byte: a few data-derived places, never 0 or `count`.
func cuts(_ k: Int, count: Int) -> [Int] {
    guard count > 1 else { return [] }
    let raw = [k % count, (k * 7 + 3) % count, count / 2, count - 1 - k % count, (k * 31 + 11) % count]
    return Array(Set(raw.filter { $0 > 0 && $0 < count })).sorted()
}

func pieces(_ bytes: [UInt8], at bounds: [Int]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    var start = 0
    for end in bounds + [bytes.count] where end > start {
        out.append(Array(bytes[start..<end]))
        start = end
    }
    return out.isEmpty ? [[]] : out
}

let bytewiseLimit = 2048

// MARK: - Response heads

func isTokenByte(_ c: UInt8) -> Bool {
    switch c {
    case 0x30...0x39, 0x61...0x7A: return true   // lowercase: names are lowercased
    default: return "!#$%&'*+-.^_`|~".utf8.contains(c)
    }
}

/// Properties of one head `parse` returned for `bytes`.
func checkHead(_ head: ResponseHead, in bytes: [UInt8], maxBytes: Int) {
    let c = head.consumed
    check(c >= 2 && c <= bytes.count, "consumed \(c) of \(bytes.count)")
    check(bytes[c - 1] == 0x0A, "head does not end at a LF: \(show(bytes[..<c]))")
    check((100...599).contains(head.status), "status \(head.status) accepted from \(show(bytes[..<c]))")
    for (name, value) in head.headers {
        check(!name.isEmpty && name.utf8.allSatisfy(isTokenByte), "header name \(name.debugDescription) accepted")
        check(value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }, "control byte in header value \(value.debugDescription)")
        check(value.utf8.first.map { $0 != 0x20 && $0 != 0x09 } ?? true && value.utf8.last.map { $0 != 0x20 && $0 != 0x09 } ?? true,
              "header value not trimmed: \(value.debugDescription)")
        check(head.header(name) != nil, "header(\(name)) finds nothing")
    }
    // The head alone parses the same; a strict prefix is incomplete (or over the limit).
    if let again = try? ResponseHead.parse(Array(bytes[..<c]), maxBytes: maxBytes) {
        check(again.status == head.status && again.consumed == c && again.headers.elementsEqual(head.headers, by: ==), "head alone parses differently")
    } else {
        fatalError("property violated: the head alone does not parse: \(show(bytes[..<c]))")
    }
    for p in Set([c - 1, c / 2, c - 2]) where p >= 0 {
        do {
            let r = try ResponseHead.parse(Array(bytes[..<p]), maxBytes: maxBytes)
            check(r == nil, "prefix of \(p)/\(c) bytes is already a head")
        } catch {
            check(p > maxBytes, "prefix of \(p)/\(c) bytes refused (\(error)) within the limit \(maxBytes)")
        }
    }
    // Content-Length: one value, digits only (else parse refuses the head).
    let lengths = head.headers.filter { $0.0 == "content-length" }.map(\.1)
    if let first = lengths.first {
        check(Set(lengths).count == 1 && !first.isEmpty && first.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && first.utf8.count <= 18,
              "Content-Length \(lengths) accepted")
    }
    // Framing.
    for method in ["POST", "GET", "HEAD"] {
        let f = head.framing(method: method)
        if method == "HEAD" || head.status == 204 || head.status == 304 || (100..<200).contains(head.status) {
            if case .none = f {} else { fatalError("property violated: \(method) \(head.status) framed as \(f)") }
            continue
        }
        let chunked = head.header("transfer-encoding")?.lowercased().contains("chunked") ?? false
        switch f {
        case .length(let n): check(n > 0 && !chunked && Int(lengths.first ?? "") == n, "framed as .length(\(n)) with \(lengths)")
        case .chunked: check(chunked, "framed as chunked without Transfer-Encoding: chunked")
        case .untilClose: check(!chunked && lengths.isEmpty, "read until close although \(chunked ? "chunked" : "Content-Length \(lengths)")")
        case .none: check(!chunked && Int(lengths.first ?? "") == 0, "no body for \(method) \(head.status) with \(lengths)")
        }
    }
    _ = head.keepAlive
}

/// Mirror of HTTP1Client's HeadReader.read: interim 1xx heads skipped wherever the pieces end,
/// 101 refused; `rest` holds what follows the final head (the body's first bytes).
struct HeadOutcome: Equatable {
    var status: Int?
    var headers: [String]
    var consumedTotal: Int      // bytes of the input before the body
    var error: String?
    var oversized: Bool         // some head was longer than the limit: see TOLERATED
}

func readHead(_ parts: [[UInt8]], maxBytes: Int, check checking: Bool) -> (HeadOutcome, ResponseHead?, [UInt8]) {
    var received: [UInt8] = []
    var scanned = 0
    var skipped = 0
    var oversized = false
    for part in parts {
        received += part
        do {
            while true {
                let parsed = try ResponseHead.parse(received, scannedUpTo: scanned, maxBytes: maxBytes)
                if checking {
                    // Resuming the scan gives what a scan from the start gives.
                    let full = try? ResponseHead.parse(received, maxBytes: maxBytes)
                    check(full?.consumed == parsed?.consumed && full?.status == parsed?.status, "scannedUpTo \(scanned) changed the answer")
                }
                guard let head = parsed else { break }
                if head.consumed > maxBytes { oversized = true }
                if checking { checkHead(head, in: received, maxBytes: maxBytes) }
                guard (100..<200).contains(head.status) else {
                    let outcome = HeadOutcome(status: head.status, headers: head.headers.map { "\($0.0): \($0.1)" },
                                              consumedTotal: skipped + head.consumed, error: nil, oversized: oversized)
                    return (outcome, head, Array(received[head.consumed...]))
                }
                if head.status == 101 { return (HeadOutcome(status: nil, headers: [], consumedTotal: -1, error: "101", oversized: oversized), nil, []) }
                received.removeFirst(head.consumed)
                skipped += head.consumed
                scanned = 0
            }
        } catch {
            return (HeadOutcome(status: nil, headers: [], consumedTotal: -1, error: "\(error)", oversized: oversized || received.count > maxBytes), nil, [])
        }
        scanned = received.count
    }
    return (HeadOutcome(status: nil, headers: [], consumedTotal: -1, error: "incomplete", oversized: oversized), nil, [])
}

func fuzzWire(_ k: Int, _ bytes: [UInt8]) {
    let maxBytes = k & 1 == 0 ? 64 * 1024 : 32 + (k >> 1) * 8
    let method = k % 16 == 5 ? "HEAD" : "POST"
    let (whole, head, rest) = readHead([bytes], maxBytes: maxBytes, check: true)
    if !whole.oversized {
        let (split, _, _) = readHead(pieces(bytes, at: cuts(k, count: bytes.count)), maxBytes: maxBytes, check: false)
        check(whole == split || split.oversized, "head loop whole \(whole) vs split \(split)")
        if bytes.count <= bytewiseLimit {
            let (bytewise, _, _) = readHead(bytes.map { [$0] }, maxBytes: maxBytes, check: false)
            check(whole == bytewise || bytewise.oversized, "head loop whole \(whole) vs byte by byte \(bytewise)")
        }
    }
    guard let head else { return }
    check(!(100..<200).contains(head.status), "interim \(head.status) returned as the final head")

    // The body, as HTTP1BodyReader frames it.
    let body: [UInt8]
    switch head.framing(method: method) {
    case .none: return
    case .length(let n): body = Array(rest.prefix(n))
    case .untilClose: body = rest
    case .chunked:
        let r = fuzzChunked(k, rest)
        guard r.error == nil else { return }
        body = r.body
    }
    guard head.status == 200 else { return }
    let type = head.header("content-type")?.lowercased() ?? ""
    if type.contains("application/json") {
        _ = completion(body)
    } else {
        _ = fuzzSSE(k, body, maxEvent: 8 << 20)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 2 else { return 0 }
    let k = Int(data[1])
    let bytes = Array(UnsafeBufferPointer(start: data + 2, count: size - 2))
    switch data[0] % 5 {
    case 0: fuzzWire(k, bytes)
    case 1: _ = fuzzChunked(k, bytes)
    case 2: _ = fuzzSSE(k, bytes, maxEvent: k == 0 ? 8 << 20 : 8 + k * 16)
    case 3: _ = completion(bytes)
    default: fuzzUsage(k, bytes)
    }
    return 0
}
