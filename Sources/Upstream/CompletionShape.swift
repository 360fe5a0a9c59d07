import OpenAIWire

/// The parts of OpenAI's response schema the proxy relies on, checked on what an upstream sent:
/// a wrong type is a clear error here rather than a malformed answer relayed to the client.
enum CompletionShape {
    /// `choices[0].message` of a `chat.completion`.
    static func checkCompletion(_ object: JSONObject) throws(UpstreamError) {
        guard let choice = object["choices"]?.arrayValue?.first, let message = choice["message"]?.objectValue else {
            throw .malformed("no choices[0].message in the completion")
        }
        try checkMessage(message, at: "choices[0].message")
        try checkFinishReason(choice["finish_reason"], at: "choices[0].finish_reason")
    }

    /// `choices[0].delta` of a `chat.completion.chunk`, when there is one.
    static func checkChunk(_ chunk: JSONObject) throws(UpstreamError) {
        guard let choices = chunk["choices"], !choices.isNull else { return }
        guard let list = choices.arrayValue else { throw .invalid("'choices' is \(choices.typeName), expected an array") }
        guard let choice = list.first else { return }
        guard choice.objectValue != nil else { throw .invalid("'choices[0]' is \(choice.typeName), expected an object") }
        if let delta = choice["delta"], !delta.isNull {
            guard let d = delta.objectValue else { throw .invalid("'choices[0].delta' is \(delta.typeName), expected an object") }
            try checkMessage(d, at: "choices[0].delta")
        }
        try checkFinishReason(choice["finish_reason"], at: "choices[0].finish_reason")
    }

    static func checkMessage(_ message: JSONObject, at path: String) throws(UpstreamError) {
        for field in ["content", "refusal", "reasoning_content", "reasoning", "role"] {
            if let v = message[field], !v.isNull, v.stringValue == nil {
                throw .invalid("'\(path).\(field)' is \(v.typeName), expected a string or null")
            }
        }
        if let calls = message["tool_calls"], !calls.isNull, calls.arrayValue == nil {
            throw .invalid("'\(path).tool_calls' is \(calls.typeName), expected an array or null")
        }
    }

    static func checkFinishReason(_ value: JSONValue?, at path: String) throws(UpstreamError) {
        if let v = value, !v.isNull, v.stringValue == nil {
            throw .invalid("'\(path)' is \(v.typeName), expected a string or null")
        }
    }
}

extension JSONObject {
    /// Only a non-empty array of tool calls makes a message or delta a tool-call answer: upstreams
    /// send `"tool_calls": null` and `[]` with plain text.
    public var hasToolCalls: Bool { !(self["tool_calls"]?.arrayValue?.isEmpty ?? true) }
}
