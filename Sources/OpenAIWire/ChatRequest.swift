/// A validated chat-completions request. The body is kept whole so every field the client sent,
/// modelled or not, reaches the upstream unchanged.
public struct ChatRequest: Sendable {
    public var body: JSONObject

    public var messages: [JSONValue] { body["messages"]?.arrayValue ?? [] }
    public var stream: Bool { body["stream"]?.boolValue ?? false }
    public var model: String? { body["model"]?.stringValue }
    public var includeUsage: Bool { body["stream_options"]?["include_usage"]?.boolValue ?? false }

    /// Validates what the proxy relies on; anything else is the upstream's business.
    public init(validating bytes: [UInt8]) throws(OpenAIError) {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes, rejectingDuplicateKeys: true) } catch {
            if let path = error.duplicateKeyPath {
                throw OpenAIError.invalidRequest("The JSON body of your request names '\(path)' more than once; send each key once.", param: path)
            }
            throw OpenAIError.invalidRequest("We could not parse the JSON body of your request: \(error.description).")
        }
        guard case .object(let body) = value else {
            throw OpenAIError.invalidRequest("The request body must be a JSON object, not \(value.typeName).")
        }
        try self.init(validating: body)
    }

    public init(validating body: JSONObject) throws(OpenAIError) {
        guard let messagesValue = body["messages"] else {
            throw OpenAIError.invalidRequest("Missing required parameter: 'messages'.", param: "messages")
        }
        guard case .array(let messages) = messagesValue else {
            throw OpenAIError.invalidRequest("Invalid type for 'messages': expected an array, but got \(messagesValue.typeName).", param: "messages")
        }
        guard !messages.isEmpty else {
            throw OpenAIError.invalidRequest("Invalid 'messages': empty array. Expected an array with minimum length 1.", param: "messages")
        }
        for (i, message) in messages.enumerated() {
            guard case .object(let m) = message else {
                throw OpenAIError.invalidRequest("Invalid type for 'messages[\(i)]': expected an object, but got \(message.typeName).", param: "messages[\(i)]")
            }
            guard let role = m["role"] else {
                throw OpenAIError.invalidRequest("Missing required parameter: 'messages[\(i)].role'.", param: "messages[\(i)].role")
            }
            guard role.stringValue != nil else {
                throw OpenAIError.invalidRequest("Invalid type for 'messages[\(i)].role': expected a string, but got \(role.typeName).", param: "messages[\(i)].role")
            }
        }
        if let stream = body["stream"], !stream.isNull, stream.boolValue == nil {
            throw OpenAIError.invalidRequest("Invalid type for 'stream': expected a boolean, but got \(stream.typeName).", param: "stream")
        }
        if let n = body["n"], !n.isNull, n.intValue != 1 {
            throw OpenAIError.invalidRequest("Invalid value for 'n': this proxy returns exactly one choice, so 'n' must be 1.", param: "n")
        }
        if let model = body["model"], !model.isNull, model.stringValue == nil {
            throw OpenAIError.invalidRequest("Invalid type for 'model': expected a string, but got \(model.typeName).", param: "model")
        }
        if let options = body["stream_options"], !options.isNull {
            guard case .object(let o) = options else {
                throw OpenAIError.invalidRequest("Invalid type for 'stream_options': expected an object, but got \(options.typeName).", param: "stream_options")
            }
            if let include = o["include_usage"], !include.isNull, include.boolValue == nil {
                throw OpenAIError.invalidRequest("Invalid type for 'stream_options.include_usage': expected a boolean, but got \(include.typeName).", param: "stream_options.include_usage")
            }
        }
        self.body = body
    }

    /// The text of the last user message (string content, or the text parts of an array).
    public var lastUserText: String? {
        guard let last = messages.last(where: { $0["role"]?.stringValue == "user" }) else { return nil }
        return Self.text(of: last["content"])
    }

    public static func text(of content: JSONValue?) -> String? {
        switch content {
        case .string(let s)?: return s
        case .array(let parts)?:
            return parts.compactMap { $0["type"]?.stringValue == "text" ? $0["text"]?.stringValue : nil }.joined(separator: "\n")
        default: return nil
        }
    }
}
