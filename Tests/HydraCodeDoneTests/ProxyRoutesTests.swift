import OpenAIWire
import XCTest
@testable import TestSupport

/// Routing, authentication and request ids over real sockets.
final class ProxyRoutesTests: XCTestCase {
    var proxy: ProxyFixture!

    override func setUpWithError() throws { proxy = try ProxyFixture() }
    override func tearDown() { proxy.stop() }

    func testHealthOnBothPaths() throws {
        for path in ["/health", "/v1/health"] {
            let r = try proxy.send("GET", path)
            XCTAssertEqual(r.status, 200, path)
            XCTAssertEqual(r.header("Content-Type"), "application/json")
            XCTAssertEqual(r.text, #"{"status":"ok"}"#)
        }
        let head = try proxy.send("HEAD", "/health")
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.isEmpty)
    }

    func testModelsFormat() throws {
        for path in ["/v1/models", "/models"] {
            let r = try proxy.send("GET", path)
            XCTAssertEqual(r.status, 200)
            let list = try XCTUnwrap(r.json)
            XCTAssertEqual(list["object"]?.stringValue, "list")
            let data = try XCTUnwrap(list["data"]?.arrayValue)
            XCTAssertEqual(data.first?["id"]?.stringValue, "hydracodedone", "the proxy's model is listed first")
            for model in data {
                XCTAssertEqual(model.objectValue?.keys, ["id", "object", "created", "owned_by"])
                XCTAssertEqual(model["object"]?.stringValue, "model")
                XCTAssertNotNil(model["created"]?.intValue)
                XCTAssertNotNil(model["owned_by"]?.stringValue)
            }
        }
    }

    func testCustomProxyModelName() throws {
        proxy.stop()
        proxy = try ProxyFixture(["PROXY_MODEL_NAME": "my-critic"])
        let r = try proxy.send("GET", "/v1/models")
        XCTAssertEqual(r.json?["data"]?.arrayValue?.first?["id"]?.stringValue, "my-critic")
    }

    func testUnknownPathIs404() throws {
        let error = try proxy.send("GET", "/v2/nothing").assertOpenAIError(status: 404)
        XCTAssertEqual(error?["type"]?.stringValue, "invalid_request_error")
        XCTAssertTrue(error?["message"]?.stringValue?.contains("/v2/nothing") ?? false)
        _ = try proxy.send("POST", "/v1/completions", body: "{}").assertOpenAIError(status: 404)
    }

    func testWrongMethodIs405WithAllow() throws {
        let chat = try proxy.send("GET", "/v1/chat/completions")
        _ = chat.assertOpenAIError(status: 405)
        XCTAssertEqual(chat.header("Allow"), "POST")
        for (method, path) in [("POST", "/health"), ("DELETE", "/v1/models"), ("PUT", "/metrics")] {
            let r = try proxy.send(method, path, body: method == "DELETE" ? nil : "{}")
            _ = r.assertOpenAIError(status: 405)
            XCTAssertEqual(r.header("Allow")?.components(separatedBy: ", ").sorted(), ["GET", "HEAD"], "\(method) \(path)")
        }
    }

    func testProxyAPIKey() throws {
        proxy.stop()
        proxy = try ProxyFixture(["PROXY_API_KEY": "let-me-in"])
        let body = ProxyFixture.chatBody()
        let missing = try proxy.chat(body)
        XCTAssertEqual(missing.assertOpenAIError(status: 401)?["code"]?.stringValue, "invalid_api_key")
        _ = try proxy.chat(body, headers: [("Authorization", "Bearer wrong")]).assertOpenAIError(status: 401)
        _ = try proxy.chat(body, headers: [("Authorization", "let-me-in")]).assertOpenAIError(status: 401)
        _ = try proxy.chat(body, headers: [("Authorization", "Bearer let-me-in-and-more")]).assertOpenAIError(status: 401)
        XCTAssertEqual(proxy.fake.stats.requests, 0, "no upstream call without the key")
        XCTAssertEqual(try proxy.chat(body, headers: [("Authorization", "Bearer let-me-in")]).status, 200)
        _ = try proxy.send("GET", "/v1/models").assertOpenAIError(status: 401)
        _ = try proxy.send("GET", "/metrics").assertOpenAIError(status: 401)
        XCTAssertEqual(try proxy.send("GET", "/v1/models", headers: [("Authorization", "Bearer let-me-in")]).status, 200)
        // Health stays open for load balancers and container health checks.
        XCTAssertEqual(try proxy.send("GET", "/health").status, 200)
        XCTAssertEqual(try proxy.send("GET", "/v1/health").status, 200)
    }

    /// RFC 9110 §11.1: the authentication scheme is a case-insensitive token.
    func testAuthSchemeIsCaseInsensitive() throws {
        proxy.stop()
        proxy = try ProxyFixture(["PROXY_API_KEY": "let-me-in"])
        for scheme in ["bearer", "BEARER"] {
            XCTAssertEqual(try proxy.send("GET", "/v1/models", headers: [("Authorization", "\(scheme) let-me-in")]).status, 200, scheme)
        }
    }

    func testRequestIdEcho() throws {
        let kept = try proxy.send("GET", "/health", headers: [("X-Request-Id", "client-42_a.b:c")])
        XCTAssertEqual(kept.header("X-Request-Id"), "client-42_a.b:c")
        for bad in ["has space", "semi;colon", String(repeating: "a", count: 129), "quote\"", "é"] {
            let r = try proxy.send("GET", "/health", headers: [("X-Request-Id", bad)])
            let id = try XCTUnwrap(r.header("X-Request-Id"))
            XCTAssertNotEqual(id, bad)
            XCTAssertTrue(id.count == 16 && id.allSatisfy(\.isHexDigit), "replacement id \(id)")
        }
        let generated = try proxy.send("GET", "/v2/missing").header("X-Request-Id")
        XCTAssertEqual(generated?.count, 16, "errors carry an id too")
        let a = try proxy.send("GET", "/health").header("X-Request-Id")
        let b = try proxy.send("GET", "/health").header("X-Request-Id")
        XCTAssertNotEqual(a, b)
    }

    /// llama.cpp's server answers 400 to any X-Request-Id that is not a UUID, so ours stays here.
    func testRequestIdDoesNotReachTheUpstream() throws {
        let r = try proxy.chat(ProxyFixture.chatBody(), headers: [("X-Request-Id", "trace-me-1")])
        XCTAssertEqual(r.header("X-Request-Id"), "trace-me-1")
        XCTAssertEqual(proxy.fake.requests.count, 2)
        XCTAssertEqual(proxy.fake.requests.map { $0.headers["x-request-id"] }, [nil, nil])
    }

    func testProtocolErrorsUseTheOpenAIShape() throws {
        let c = try proxy.client()
        try c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n")
        _ = try c.readResponse().assertOpenAIError(status: 400)
    }

    func testBodyOverMaxRequestBytesIs413() throws {
        proxy.stop()
        proxy = try ProxyFixture(["MAX_REQUEST_BYTES": "2048"])
        let big = ProxyFixture.chatBody(String(repeating: "x", count: 4000))
        _ = try proxy.chat(big).assertOpenAIError(status: 413)
        XCTAssertEqual(proxy.fake.stats.requests, 0)
        XCTAssertEqual(try proxy.chat(ProxyFixture.chatBody("small")).status, 200)
    }

    func testMetricsEndpoint() throws {
        _ = try proxy.chat(ProxyFixture.chatBody())
        let r = try proxy.send("GET", "/metrics")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.header("Content-Type")?.hasPrefix("text/plain") ?? false)
        XCTAssertTrue(r.text.contains(#"hydra_requests_total{route="chat",status="200"} 1"#), r.text)
    }
}
