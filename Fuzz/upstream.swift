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

// MARK: - Usage

/// Saturating sum of two non-negative counts, computed independently of Usage.
func satAdd(_ a: Int, _ b: Int) -> Int { a > Int.max - b ? Int.max : a + b }

func checkUsage(_ u: Usage, _ context: @autoclosure () -> String) {
    check(u.promptTokens >= 0 && u.completionTokens >= 0 && u.totalTokens >= 0, "negative count in \(u) from \(context())")
    check(Usage(u.json) == u, "Usage(json) does not round-trip: \(u) -> \(JSONWriter.string(u.json))")
}

/// Usage(JSONValue) on what an upstream sent: the counts when valid, nil otherwise.
func usageFromJSON(_ value: JSONValue?) -> Usage? {
    let u = Usage(value)
    let p = value?["prompt_tokens"]?.intValue, c = value?["completion_tokens"]?.intValue
    guard let u else { return nil }
    checkUsage(u, "\(JSONWriter.string(value ?? .null))")
    check(u.promptTokens == p && u.completionTokens == c, "counts changed: \(u) from \(JSONWriter.string(value ?? .null))")
    if let t = value?["total_tokens"]?.intValue, t >= 0 {
        check(u.totalTokens == t, "valid total_tokens \(t) not kept: \(u)")
    } else {
        check(u.totalTokens == satAdd(u.promptTokens, u.completionTokens), "missing/invalid total not recomputed: \(u)")
    }
    return u
}

func add(_ a: Usage, _ b: Usage) -> Usage {
    let s = a + b
    checkUsage(s, "\(a) + \(b)")
    check(s.promptTokens == satAdd(a.promptTokens, b.promptTokens) && s.completionTokens == satAdd(a.completionTokens, b.completionTokens)
          && s.totalTokens == satAdd(a.totalTokens, b.totalTokens), "\(a) + \(b) = \(s) is not the saturating sum")
    check(b + a == s, "+ is not commutative: \(a), \(b)")
    return s
}

func fuzzUsage(_ k: Int, _ bytes: [UInt8]) {
    var list: [Usage] = []
    if k & 1 == 1 {
        // Raw counts (what a caller could build from any Int): 8-byte little-endian triples.
        var i = 0
        while i + 16 <= bytes.count && list.count < 16 {
            func int(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
            let hasTotal = i + 24 <= bytes.count && bytes[i] & 1 == 1
            let u = Usage(promptTokens: int(i), completionTokens: int(i + 8), totalTokens: hasTotal ? int(i + 16) : nil)
            checkUsage(u, "raw counts at \(i)")
            list.append(u)
            i += hasTotal ? 24 : 16
        }
    } else {
        guard let value = try? JSONParser.parse(bytes) else { return }
        let values = value.arrayValue ?? [value]
        list = values.prefix(64).compactMap(usageFromJSON)
        _ = Usage(nil)
    }
    guard var sum = list.first else { return }
    for u in list.dropFirst() { sum = add(sum, u) }
    // Saturating addition of non-negative counts is associative: any grouping gives the same sum.
    if list.count >= 3 {
        let right = add(list[0], list.dropFirst().dropFirst().reduce(list[1]) { add($0, $1) })
        check(right == sum, "sum depends on grouping: \(sum) vs \(right)")
    }
}

// MARK: - Completion (non-streamed)

/// What ChatUpstream.complete + PipelineRun.Choice do with a 200 body. nil: refused.
struct CompletionOutcome {
    var text: String?
    var toolCalls: Bool
    var finish: String?
    var usage: Usage?
}

func completion(_ bytes: [UInt8]) -> CompletionOutcome? {
    guard case .object(let object)? = try? JSONParser.parse(bytes) else { return nil }
    if let error = object["error"], !error.isNull { return nil }
    do { try CompletionShape.checkCompletion(object) } catch {
        if case .invalid = error {} else if case .malformed = error {} else { fatalError("checkCompletion threw \(error)") }
        return nil
    }
    guard let choice = object["choices"]?.arrayValue?.first, let message = choice["message"]?.objectValue else { return nil }
    if let content = message["content"] {
        check(content.isNull || content.stringValue != nil, "checkCompletion let content \(JSONWriter.string(content)) through")
    }
    if let f = choice["finish_reason"] { check(f.isNull || f.stringValue != nil, "checkCompletion let finish_reason \(JSONWriter.string(f)) through") }
    let outcome = CompletionOutcome(text: ChatRequest.text(of: message["content"]),
                                    toolCalls: message.hasToolCalls,
                                    finish: choice["finish_reason"]?.stringValue, usage: usageFromJSON(object["usage"]))
    // The answer goes back to the client re-serialised: it must parse to the same message.
    let written = JSONWriter.bytes(.object(message))
    check((try? JSONParser.parse(written)) == .object(message), "message does not round-trip: \(show(written))")
    // Primary + critique usage, as PipelineRun.complete sums it.
    if let u = outcome.usage { _ = add(u, u) }
    return outcome
}

// MARK: - Event stream

struct SSEOutcome: Equatable {
    var events: [String]
    var overflow: Bool
    var partial: Bool
}

func decodeSSE(_ parts: [[UInt8]], maxEvent: Int) -> SSEOutcome {
    var decoder = SSEDecoder(maxEventBytes: maxEvent)
    var events: [String] = []
    for p in parts {
        do { events += try decoder.feed(p) } catch {
            // Events completed in the same feed are lost with the throw: only the verdict compares.
            return SSEOutcome(events: [], overflow: true, partial: false)
        }
    }
    return SSEOutcome(events: events, overflow: false, partial: decoder.hasPartialEvent)
}

/// What ChunkStream's StreamState, StageStream and PipelineRun.consume do with the events.
struct StreamOutcome {
    var chunks = 0
    var done = false
    var failed: String?
    var text = ""
    var toolCallDeltas = 0
    var finish: String?
    var usage: Usage?
    var sawFinish = false
}

func stream(_ events: [String], partial: Bool) -> StreamOutcome {
    var out = StreamOutcome()
    for data in events {
        if trimmed(data) == "[DONE]" { out.done = true; return out }
        guard case .object(let chunk)? = try? JSONParser.parse(data) else { out.failed = "invalid JSON"; return out }
        if let error = chunk["error"], !error.isNull { out.failed = "error event"; return out }
        do { try CompletionShape.checkChunk(chunk) } catch {
            if case .invalid = error {} else { fatalError("checkChunk threw \(error)") }
            out.failed = "invalid chunk"
            return out
        }
        if let choice = chunk["choices"]?.arrayValue?.first {
            if let d = choice["delta"], !d.isNull {
                check(d.objectValue != nil, "checkChunk let a \(d.typeName) delta through")
                if let c = d["content"] { check(c.isNull || c.stringValue != nil, "checkChunk let content \(JSONWriter.string(c)) through") }
                if let t = d["tool_calls"] { check(t.isNull || t.arrayValue != nil, "checkChunk let tool_calls \(JSONWriter.string(t)) through") }
            }
            if let f = choice["finish_reason"] { check(f.isNull || f.stringValue != nil, "checkChunk let finish_reason \(JSONWriter.string(f)) through") }
        }
        if let choices = chunk["choices"]?.arrayValue, choices.contains(where: { !($0["finish_reason"]?.isNull ?? true) }) {
            out.sawFinish = true
        }
        out.chunks += 1
        // StageStream: first choice's delta and finish_reason, the chunk's usage.
        if let choice = chunk["choices"]?.arrayValue?.first {
            if let delta = choice["delta"]?.objectValue {
                out.text += delta["content"]?.stringValue ?? ""
                // Only a non-empty array makes a tool-call delta (`"tool_calls": null` / `[]` come with plain text).
                if delta.hasToolCalls {
                    out.toolCallDeltas += 1
                    check(delta["tool_calls"]?.arrayValue?.isEmpty == false, "hasToolCalls without tool calls")
                }
                // What the proxy writes back to its client for a relayed delta.
                let written = JSONWriter.bytes(.object(delta))
                check((try? JSONParser.parse(written)) == .object(delta), "delta does not round-trip: \(show(written))")
            }
            if let reason = choice["finish_reason"], !reason.isNull { out.finish = reason.stringValue }
        }
        if let u = usageFromJSON(chunk["usage"]) { out.usage = u }
    }
    // Ended without [DONE]: complete only after a finish_reason, else truncated.
    if !out.sawFinish { out.failed = partial ? "ended mid-event" : "ended without [DONE]" }
    return out
}

/// StreamState's `[DONE]` test: the Upstream module's trimming helper with the set " \t\r\n"
/// (copied so as not to depend on the helper's name). As in the original, `set` is a String, so
/// "\r\n" is one Character of it and a lone "\n" is not trimmed.
func trimmed(_ s: String) -> Substring {
    let set = " \t\r\n"
    var sub = Substring(s)
    while let f = sub.first, set.contains(f) { sub.removeFirst() }
    while let l = sub.last, set.contains(l) { sub.removeLast() }
    return sub
}

func fuzzSSE(_ k: Int, _ bytes: [UInt8], maxEvent: Int) -> StreamOutcome {
    let whole = decodeSSE([bytes], maxEvent: maxEvent)
    let split = decodeSSE(pieces(bytes, at: cuts(k, count: bytes.count)), maxEvent: maxEvent)
    check(whole == split, "SSE whole \(whole) vs split \(split)")
    if bytes.count <= bytewiseLimit {
        let bytewise = decodeSSE(bytes.map { [$0] }, maxEvent: maxEvent)
        check(whole == bytewise, "SSE whole \(whole) vs byte by byte \(bytewise)")
    }
    if whole.overflow { return StreamOutcome(failed: "event too large") }
    return stream(whole.events, partial: whole.partial)
}

// MARK: - Chunked body, read as HTTP1BodyReader reads it

struct BodyOutcome: Equatable {
    var body: [UInt8]
    var complete: Bool
    var used: Int
    var error: String?   // ChunkedDecoder's error, described
}

func readChunked(_ parts: [[UInt8]]) -> BodyOutcome {
    var decoder = ChunkedDecoder(maxBodyBytes: Int.max)
    var body: [UInt8] = []
    var used = 0
    for part in parts {
        var pending = part
        do {
            let n = try decoder.feed(pending[...])
            check(n >= 0 && n <= pending.count, "feed used \(n) of \(pending.count)")
            if n < pending.count { check(decoder.isComplete, "feed stopped short (\(n)/\(pending.count)) but is not complete") }
            pending.removeFirst(n)
            used += n
            let piece = decoder.takeBody()
            check(decoder.body.isEmpty, "takeBody left \(decoder.body.count) bytes behind")
            body += piece
            if decoder.isComplete { return BodyOutcome(body: body, complete: true, used: used, error: nil) }
        } catch {
            return BodyOutcome(body: [], complete: false, used: -1, error: "\(error)")
        }
    }
    return BodyOutcome(body: body, complete: false, used: used, error: nil)
}

func fuzzChunked(_ k: Int, _ bytes: [UInt8]) -> BodyOutcome {
    let whole = readChunked([bytes])
    let split = readChunked(pieces(bytes, at: cuts(k, count: bytes.count)))
    check(whole == split, "chunked whole \(whole) vs split \(split)")
    if bytes.count <= bytewiseLimit {
        let bytewise = readChunked(bytes.map { [$0] })
        check(whole == bytewise, "chunked whole \(whole) vs byte by byte \(bytewise)")
    }
    return whole
}

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
