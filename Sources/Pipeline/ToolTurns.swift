import OpenAIWire

/// The critique request carries the conversation but not the client's `tools` (the critique
/// rewrites text; it must not call tools). Assistant `tool_calls` and `role: tool` messages
/// without a `tools` list are rejected by some upstreams and chat templates, so for the critique
/// they become plain text: the call and its result stay in view, in roles every template accepts.
enum ToolTurns {
    static func asText(_ messages: [JSONValue]) -> [JSONValue] {
        guard messages.contains(where: isToolTurn) else { return messages }
        var names: [String: String] = [:]  // tool_call_id → function name
        var out: [JSONValue] = []
        var rendered: Set<Int> = []  // indices in `out` that hold a tool turn's text
        for message in messages {
            guard let object = message.objectValue, isToolTurn(message) else {
                append(message, to: &out, rendered: &rendered, isToolText: false)
                continue
            }
            let text: String
            let role: String
            if object["role"]?.stringValue == "assistant" {
                role = "assistant"
                var lines = [plainText(object["content"]) ?? ""].filter { !$0.isEmpty }
                for call in object["tool_calls"]?.arrayValue ?? [] {
                    let name = call["function"]?["name"]?.stringValue ?? "tool"
                    if let id = call["id"]?.stringValue { names[id] = name }
                    lines.append("[called tool \(name) with arguments \(call["function"]?["arguments"]?.stringValue ?? "{}")]")
                }
                if let legacy = object["function_call"]?.objectValue {
                    lines.append("[called function \(legacy["name"]?.stringValue ?? "function") with arguments \(legacy["arguments"]?.stringValue ?? "{}")]")
                }
                text = lines.joined(separator: "\n")
            } else {
                role = "user"
                let name = object["name"]?.stringValue ?? object["tool_call_id"]?.stringValue.flatMap { names[$0] } ?? "tool"
                text = "[result of tool \(name)]\n" + (plainText(object["content"]) ?? "")
            }
            append(.object(["role": .string(role), "content": .string(text)]), to: &out, rendered: &rendered, isToolText: true)
        }
        return out
    }

    /// Neighbouring turns of one role are merged when one of them is a tool turn's text (many
    /// chat templates require user and assistant to alternate); other messages stay as sent.
    private static func append(_ message: JSONValue, to out: inout [JSONValue], rendered: inout Set<Int>, isToolText: Bool) {
        if let last = out.last?.objectValue, let current = message.objectValue,
           last["role"]?.stringValue == current["role"]?.stringValue,
           isToolText || rendered.contains(out.count - 1),
           let previous = plainText(last["content"]), let next = plainText(current["content"]) {
            var merged = last
            merged["content"] = .string([previous, next].filter { !$0.isEmpty }.joined(separator: "\n\n"))
            out[out.count - 1] = .object(merged)
            rendered.insert(out.count - 1)
            return
        }
        out.append(message)
        if isToolText { rendered.insert(out.count - 1) }
    }

    static func isToolTurn(_ message: JSONValue) -> Bool {
        guard let object = message.objectValue else { return false }
        switch object["role"]?.stringValue {
        case "tool", "function": return true
        case "assistant": return object.hasToolCalls || object["function_call"]?.objectValue != nil
        default: return false
        }
    }

    /// String content, or the text parts of an array content; nil for anything else.
    static func plainText(_ content: JSONValue?) -> String? {
        switch content {
        case .string(let s)?: return s
        case .null?, nil: return ""
        case .array(let parts)?:
            let texts = parts.compactMap { $0["text"]?.stringValue }
            return texts.count == parts.count ? texts.joined(separator: "\n") : nil
        default: return nil
        }
    }
}
