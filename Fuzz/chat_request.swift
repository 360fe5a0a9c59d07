// libFuzzer target: chat-completions request validation.
// Built by scripts/fuzz.sh together with Sources/OpenAIWire/{ChatRequest,OpenAIError,JSONValue,
// JSONParser,JSONWriter}.swift.
//
// Properties checked:
// - validation never crashes; a rejection is a 400 invalid_request_error whose JSON body parses
//   back into the OpenAI error shape with the same message;
// - an accepted request's accessors are consistent with the body, and the body written back out
//   (what the proxy forwards upstream) validates again to an equal body.

@inline(__always) func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let request: ChatRequest
    do {
        request = try ChatRequest(validating: bytes)
    } catch {
        check(error.status == 400, "status \(error.status)")
        check(error.type == "invalid_request_error", "type \(error.type)")
        check(!error.message.isEmpty, "empty message")
        let body: JSONValue
        do { body = try JSONParser.parse(error.bytes) } catch {
            fatalError("error body does not parse: \(error)")
        }
        check(body["error"]?["message"]?.stringValue == error.message, "message lost in the error body")
        check(body["error"]?["type"]?.stringValue == error.type, "type lost in the error body")
        check(body["error"]?["param"] == (error.param.map(JSONValue.string) ?? .null), "param lost in the error body")
        return 0
    }
    check(!request.messages.isEmpty, "accepted with no messages")
    check(request.messages.allSatisfy { $0["role"]?.stringValue != nil }, "accepted a message without a string role")
    _ = request.stream
    _ = request.includeUsage
    _ = request.lastUserText
    if let m = request.model { check(request.body["model"]?.stringValue == m, "model accessor") }
    let forwarded = JSONWriter.bytes(.object(request.body))
    let again: ChatRequest
    do { again = try ChatRequest(validating: forwarded) } catch {
        fatalError("forwarded body no longer validates (\(error.message)): \(String(decoding: forwarded, as: UTF8.self))")
    }
    check(again.body == request.body, "forwarded body changed")
    check(again.stream == request.stream && again.includeUsage == request.includeUsage, "flags changed")
    return 0
}
