// Part of the `upstream` fuzz target (Fuzz/upstream.swift): built together with it.

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
