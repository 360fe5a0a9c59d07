import OpenAIWire
import XCTest
@testable import HydraCodeDone
@testable import TestSupport

/// Browser-based chat UIs: preflights and CORS headers for the origins listed, and nothing by default.
final class CORSTests: XCTestCase {
    let page = "https://chat.example.com"

    func preflight(_ proxy: ProxyFixture, origin: String, method: String = "POST") throws -> RawResponse {
        try proxy.send("OPTIONS", "/v1/chat/completions", headers: [("Origin", origin), ("Access-Control-Request-Method", method),
                                                                   ("Access-Control-Request-Headers", "authorization, content-type, x-stainless-os")])
    }

    func testOffByDefault() throws {
        let proxy = try ProxyFixture()
        defer { proxy.stop() }
        let r = try preflight(proxy, origin: page)
        XCTAssertEqual(r.status, 405)
        XCTAssertNil(r.header("Access-Control-Allow-Origin"))
        let chat = try proxy.chat(ProxyFixture.chatBody(), headers: [("Origin", page)])
        XCTAssertEqual(chat.status, 200)
        XCTAssertNil(chat.header("Access-Control-Allow-Origin"), "no page may read answers unless configured")
    }

    func testAllowedOriginGetsPreflightAndHeadersEvenWithAProxyKey() throws {
        let proxy = try ProxyFixture(["CORS_ALLOW_ORIGINS": "\(page), http://localhost:8080", "PROXY_API_KEY": "proxy-secret-1"])
        defer { proxy.stop() }
        let pre = try preflight(proxy, origin: page)
        XCTAssertEqual(pre.status, 204, "preflights carry no credentials: \(pre.text)")
        XCTAssertEqual(pre.header("Access-Control-Allow-Origin"), page)
        XCTAssertEqual(pre.header("Access-Control-Allow-Methods"), "POST, OPTIONS")
        XCTAssertEqual(pre.header("Access-Control-Allow-Headers"), "authorization, content-type, x-stainless-os")
        XCTAssertEqual(pre.header("Vary"), "Origin")

        for stream in [false, true] {
            let r = try proxy.chat(ProxyFixture.chatBody(stream: stream), headers: [("Origin", page), ("Authorization", "Bearer proxy-secret-1")])
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssertEqual(r.header("Access-Control-Allow-Origin"), page)
            XCTAssertTrue(r.header("Access-Control-Expose-Headers")?.contains("X-Request-Id") ?? false)
        }
        let unauthorized = try proxy.chat(ProxyFixture.chatBody(), headers: [("Origin", page)])
        XCTAssertEqual(unauthorized.status, 401)
        XCTAssertEqual(unauthorized.header("Access-Control-Allow-Origin"), page, "the page can read why it failed")
    }

    func testOtherOriginsAreRefused() throws {
        let proxy = try ProxyFixture(["CORS_ALLOW_ORIGINS": page])
        defer { proxy.stop() }
        let pre = try preflight(proxy, origin: "https://evil.example.net")
        let error = pre.assertOpenAIError(status: 403)
        XCTAssertEqual(error?["code"]?.stringValue, "cors_origin_not_allowed")
        XCTAssertNil(pre.header("Access-Control-Allow-Origin"))
        let chat = try proxy.chat(ProxyFixture.chatBody(), headers: [("Origin", "https://evil.example.net")])
        XCTAssertNil(chat.header("Access-Control-Allow-Origin"))
        XCTAssertEqual(try preflight(proxy, origin: page, method: "DELETE").status, 405)
    }

    func testWildcardAndInvalidValues() throws {
        let any = try AppConfig.load(environment: ["PRIMARY_MODEL_NAME": "p", "CORS_ALLOW_ORIGINS": "*"], dotEnv: [:])
        XCTAssertTrue(CORSPolicy(origins: any.corsAllowOrigins).allows("https://anything.example"))
        for bad in ["chat.example.com", "https://chat.example.com/app", "ftp://x"] {
            XCTAssertThrowsError(try AppConfig.load(environment: ["PRIMARY_MODEL_NAME": "p", "CORS_ALLOW_ORIGINS": bad], dotEnv: [:])) { error in
                XCTAssertEqual((error as? AppConfig.Invalid)?.variable, "CORS_ALLOW_ORIGINS")
            }
        }
    }
}
