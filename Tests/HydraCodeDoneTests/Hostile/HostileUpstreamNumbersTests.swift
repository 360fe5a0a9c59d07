import OpenAIWire
import XCTest
@testable import TestSupport

/// No number an upstream sends may crash the proxy (issue: one answer killed the process).
final class HostileUpstreamNumbersTests: XCTestCase {
    func run(_ usages: [String: String], stream: Bool, file: StaticString = #filePath, line: UInt = #line) throws -> RawResponse {
        let fixture = try HostileUpstreamFixture { _, body, c in
            let usage = usages[stage(body)] ?? usages["*"]!
            if stream {
                c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
                c.write(chunkEvent(delta: #"{"content":"Hi"}"#) + chunkEvent(delta: "{}", finish: "stop") + #"data: {"id":"s1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":\#(usage)}"# + "\n\ndata: [DONE]\n\n")
            } else {
                c.respond(body: completionJSON(usage: usage))
            }
        }
        defer { fixture.stop() }
        let r = try fixture.proxy.chat(ProxyFixture.chatBody(stream: stream, extra: stream ? #","stream_options":{"include_usage":true}"# : ""))
        fixture.assertStillServing(file: file, line: line)
        return r
    }

    func usage(_ r: RawResponse, stream: Bool) -> JSONValue? {
        stream ? r.dataObjects.last(where: { $0["usage"] != nil && $0["usage"] != .null })?["usage"] : r.json?["usage"]
    }

    func testMaximalPromptTokensWithoutTotalSaturates() throws {
        for stream in [false, true] {
            let r = try run(["*": #"{"prompt_tokens":9223372036854775807,"completion_tokens":1}"#], stream: stream)
            XCTAssertEqual(r.status, 200, r.text)
            let u = try XCTUnwrap(usage(r, stream: stream), r.text)
            XCTAssertEqual(u["total_tokens"]?.intValue, Int.max, "saturates instead of trapping (stream=\(stream))")
        }
    }

    func testTwoHugeStagesSumWithoutOverflow() throws {
        let huge = #"{"prompt_tokens":4611686018427387914,"completion_tokens":4611686018427387914,"total_tokens":4611686018427387914}"#
        for stream in [false, true] {
            let r = try run(["*": huge], stream: stream)
            XCTAssertEqual(r.status, 200, r.text)
            let u = try XCTUnwrap(usage(r, stream: stream), r.text)
            XCTAssertEqual(u["prompt_tokens"]?.intValue, Int.max)
            XCTAssertEqual(u["total_tokens"]?.intValue, Int.max)
        }
    }

    func testNegativeCountsAreTreatedAsAbsent() throws {
        for bad in ["-9223372036854775808", "-1"] {
            for stream in [false, true] {
                let r = try run(["*": #"{"prompt_tokens":\#(bad),"completion_tokens":-1,"total_tokens":\#(bad)}"#], stream: stream)
                XCTAssertEqual(r.status, 200, r.text)
                XCTAssertNil(usage(r, stream: stream), "a usage with negative counts is no usage: \(r.text)")
            }
        }
    }
}
