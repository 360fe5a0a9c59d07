import OpenAIWire

/// The bodies sent to each stage's upstream.
enum StageRequests {
    /// The client's body, unchanged except for the model and the streaming flags.
    static func primary(_ request: ChatRequest, model: String, stream: Bool) -> JSONObject {
        var body = request.body
        body["model"] = .string(model)
        setStreaming(&body, stream)
        return body
    }

    /// Sampling fields that shape the answer are copied; tools are not (the critique rewrites text).
    static let copiedToCritique = ["temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop", "response_format"]

    static func critique(_ request: ChatRequest, draft: String, prompt: String, model: String, stream: Bool) -> JSONObject {
        var body = JSONObject()
        body["model"] = .string(model)
        var messages = ToolTurns.asText(request.messages)
        messages.append(.object(["role": .string("assistant"), "content": .string(draft)]))
        messages.append(.object(["role": .string("user"), "content": .string(prompt)]))
        body["messages"] = .array(messages)
        for key in copiedToCritique {
            if let value = request.body[key] { body[key] = value }
        }
        setStreaming(&body, stream)
        return body
    }

    /// The critique's first round when several drafts were written: the conversation, then one
    /// user turn with the merge instruction and every draft, labelled.
    static func merge(_ request: ChatRequest, drafts: [String], prompt: String, model: String, stream: Bool) -> JSONObject {
        var body = JSONObject()
        body["model"] = .string(model)
        var messages = ToolTurns.asText(request.messages)
        var text = prompt
        for (index, draft) in drafts.enumerated() {
            text += "\n\n=== Draft \(index + 1) of \(drafts.count) ===\n\(draft)"
        }
        text += "\n\n=== End of drafts ==="
        messages.append(.object(["role": .string("user"), "content": .string(text)]))
        body["messages"] = .array(messages)
        for key in copiedToCritique {
            if let value = request.body[key] { body[key] = value }
        }
        setStreaming(&body, stream)
        return body
    }

    /// Drafts after the first, from the same model, when the client set no temperature: so that
    /// they differ (documented in the README).
    static let draftTemperature = "0.9"

    /// Streams always ask for usage: the proxy reports the sum of both stages.
    static func setStreaming(_ body: inout JSONObject, _ stream: Bool) {
        body["stream"] = .bool(stream)
        if stream {
            var options = body["stream_options"]?.objectValue ?? JSONObject()
            options["include_usage"] = .bool(true)
            body["stream_options"] = .object(options)
        } else {
            body["stream_options"] = nil
        }
    }
}
