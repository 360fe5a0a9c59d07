import OpenAIWire
import XCTest
@testable import TestSupport

/// For any bytes an upstream sends, the client gets a well-formed answer — a completion, a
/// complete event stream, or an OpenAI-shaped error — and the proxy keeps serving.
final class HostileUpstreamPropertyTests: XCTestCase {
    /// Upstream answers built from pieces real servers send, recombined and mutated.
    struct AnswerGenerator {
        var rng: SeededGenerator

        mutating func pick<T>(_ options: [T]) -> T { options[rng.int(options.count)] }

        mutating func number() -> String {
            pick(["0", "1", "-1", "9223372036854775807", "-9223372036854775808", "99999999999999999999", "1e308", "1.5", "\"7\"", "null"])
        }

        mutating func usage() -> String {
            pick(["", #","usage":null"#, #","usage":{"prompt_tokens":\#(number()),"completion_tokens":\#(number()),"total_tokens":\#(number())}"#,
                  #","usage":{"prompt_tokens":\#(number()),"completion_tokens":\#(number())}"#, #","usage":7"#])
        }

        mutating func content() -> String {
            pick([#""hello""#, "null", "123", #"{"a":1}"#, "[]", #""\u0000\n\r""#, #""<think>x</think>y""#, #""unterminated"#])
        }

        mutating func message() -> String {
            let calls = pick(["", #","tool_calls":null"#, #","tool_calls":[]"#, #","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]"#, #","tool_calls":"x""#])
            return #"{"role":"assistant","content":\#(content())\#(calls)}"#
        }

        mutating func completion() -> String {
            let finish = pick([#""stop""#, "null", "3", #""length""#])
            let choices = pick([#"[{"index":0,"message":\#(message()),"finish_reason":\#(finish)}]"#, "[]", "null", #"[{"index":0}]"#, "{}"])
            return #"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":\#(choices)\#(usage())}"#
        }

        mutating func event() -> String {
            switch rng.int(8) {
            case 0: return ": ping\n\n"
            case 1: return "data: [DONE]\n\n"
            case 2: return "data: {not json\n\n"
            case 3: return #"data: {"error":{"message":"boom"}}"# + "\n\n"
            case 4: return #"data: {"choices":[],"usage":{"prompt_tokens":\#(number()),"completion_tokens":\#(number())}}"# + "\n\n"
            default:
                let finish = pick(["null", #""stop""#, "1"])
                return #"data: {"id":"s","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":\#(message()),"finish_reason":\#(finish)}]}"# + pick(["\n\n", "\r\n\r\n", "\n", ""])
            }
        }

        mutating func body(stream: Bool) -> String {
            if stream { return (0..<(1 + rng.int(6))).map { _ in event() }.joined() }
            return pick([completion(), completion(), #"{"error":{"message":"nope"}}"#, "not json", ""])
        }

        mutating func status() -> String {
            pick(["200 OK", "200 OK", "200 OK", "201 Created", "204 No Content", "400 Bad", "401 No", "429 Slow", "500 Err", "503 Busy",
                  "600 Odd", "99 Low", "2OO OK", "101 Switching Protocols", "100 Continue\r\n\r\nHTTP/1.1 200 OK"])
        }

        /// A whole answer, framed one of several ways (some of them wrong), possibly mutated.
        mutating func answer(stream: Bool) -> [UInt8] {
            let body = body(stream: stream)
            let type = pick(["application/json", "text/event-stream", "text/plain", "application/json\rX-Evil: 1"])
            var head = "HTTP/1.1 \(status())\r\nContent-Type: \(type)\r\n"
            var payload = Array(body.utf8)
            switch rng.int(4) {
            case 0: head += "Content-Length: \(payload.count)\r\n"
            case 1: head += "Content-Length: \(payload.count + rng.int(3) - 1)\r\n"
            case 2:
                head += "Transfer-Encoding: chunked\r\n"
                var framed: [UInt8] = []
                var rest = payload[...]
                while !rest.isEmpty {
                    let n = 1 + rng.int(min(rest.count, 40))
                    framed += Array("\(String(n, radix: 16))\r\n".utf8) + rest.prefix(n) + Array("\r\n".utf8)
                    rest = rest.dropFirst(n)
                }
                payload = framed + (rng.int(4) == 0 ? [] : Array("0\r\n\r\n".utf8))
            default: break // until close
            }
            var bytes = Array((head + "Connection: close\r\n\r\n").utf8) + payload
            // Byte-level mutations on a third of the answers.
            if rng.int(3) == 0, !bytes.isEmpty {
                for _ in 0..<(1 + rng.int(4)) {
                    let i = rng.int(bytes.count)
                    switch rng.int(3) {
                    case 0: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: bytes.remove(at: i)
                    default: bytes.insert(pick([0, 0x0D, 0x0A, 0x22, 0x7B, 0xFF]), at: i)
                    }
                }
            }
            return bytes
        }
    }

    func testAnyUpstreamAnswerGivesTheClientAWellFormedResponse() throws {
        let answers = Locked<[[UInt8]]>([])
        let fixture = try HostileUpstreamFixture(["UPSTREAM_TIMEOUT_SECONDS": "2"]) { _, _, c in
            let next = answers.update { $0.isEmpty ? [] : $0.removeFirst() }
            c.write(next)
        }
        defer { fixture.stop() }
        var generator = AnswerGenerator(rng: SeededGenerator(seed: 0x13_0001))
        var statuses: [Int: Int] = [:]
        for i in 0..<120 {
            let stream = i % 2 == 1
            let critique = i % 3 != 0
            // Both stages get an answer of their own (the critique's is used only when it runs).
            answers.set([generator.answer(stream: stream), generator.answer(stream: stream)])
            let extra = critique ? "" : #","hydra":{"critique":false}"#
            let r: RawResponse
            do { r = try fixture.proxy.chat(ProxyFixture.chatBody(stream: stream, extra: extra), timeout: 10) } catch {
                XCTFail("case \(i): no well-formed response: \(error)")
                continue
            }
            statuses[r.status, default: 0] += 1
            if r.status == 200, stream {
                XCTAssertEqual(r.events.last, "[DONE]", "case \(i): \(r.text)")
                for event in r.events where !event.hasPrefix(":") && event != "[DONE]" {
                    XCTAssertNotNil(try? JSONParser.parse(event), "case \(i): not JSON: \(event)")
                }
            } else if r.status == 200 {
                let content = r.json?["choices"]?[0]?["message"]?["content"]
                XCTAssertTrue(content?.stringValue != nil || content == .null, "case \(i): \(r.text)")
            } else {
                _ = r.assertOpenAIError(status: r.status)
            }
        }
        XCTAssertGreaterThan(statuses[200] ?? 0, 10, "the generator should also produce answers that work: \(statuses)")
        XCTAssertGreaterThan(statuses.count, 3, "\(statuses)")
        fixture.assertStillServing()
    }
}
