import Foundation
import OpenAIWire
import XCTest
@testable import TestSupport

/// A proxy in front of a `RawUpstream`: the upstream's bytes are the test's to choose.
final class HostileUpstreamFixture {
    let upstream: RawUpstream
    let proxy: ProxyFixture
    static let key = "sk-proj-Zq7Hn2Lw9Xv4Tb6Rk1Mc8Pd3Fg5Js0Ay"

    /// `answer(request head, body, connection)` writes whatever the test wants; GET /models
    /// lists `raw-model` (for passthrough).
    init(_ environment: [String: String] = [:], readBody: Bool = true,
         answer: @escaping @Sendable (_ head: String, _ body: JSONValue?, _ connection: RawUpstreamConnection) -> Void) throws {
        upstream = try RawUpstream { connection in
            while let (head, body) = connection.readRequest(body: readBody) {
                if head.hasPrefix("GET ") {
                    connection.respond(body: #"{"object":"list","data":[{"id":"raw-model","object":"model","created":1,"owned_by":"raw"}]}"#)
                    continue
                }
                answer(head, try? JSONParser.parse(body), connection)
                return
            }
        }
        var env = ["OPENAI_BASE_URL": upstream.baseURL, "OPENAI_API_KEY": Self.key]
        for (k, v) in environment { env[k] = v }
        proxy = try ProxyFixture(env)
    }

    func stop() {
        proxy.stop()
        upstream.stop()
    }

    /// Waits until the registry lists the upstream's models (PASSTHROUGH_MODELS=true).
    func waitForPassthroughModels() throws {
        for _ in 0..<100 {
            if try proxy.send("GET", "/v1/models").text.contains("raw-model") { return }
            usleep(50_000)
        }
        XCTFail("the proxy never listed the upstream's models")
    }

    /// The proxy still serves: the process did not die and the loop is not stuck.
    func assertStillServing(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(try? proxy.send("GET", "/health").status, 200, "the proxy stopped serving", file: file, line: line)
    }
}

/// The stage a request is for, by the model the proxy asked for.
func stage(_ body: JSONValue?) -> String { body?["model"]?.stringValue ?? "" }
