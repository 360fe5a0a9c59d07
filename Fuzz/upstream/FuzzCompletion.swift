// Part of the `upstream` fuzz target (Fuzz/upstream.swift): built together with it.

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
