import FakeUpstream
import Foundation
import OpenAIWire
import TLS
import Upstream
import XCTest
@testable import TestSupport

/// Upstream calls through a corporate proxy (`HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`): HTTP
/// CONNECT to a small proxy on loopback, TLS end to end inside the tunnel.
final class ConnectProxyTests: XCTestCase {
    var fixture: UpstreamFixture!
    private var proxies: [ConnectProxy] = []

    override func setUpWithError() throws { fixture = try UpstreamFixture() }
    override func tearDown() async throws {
        for proxy in proxies { proxy.stop() }
        proxies = []
        await fixture.shutdown()
    }

    func proxy(requiring authorization: String? = nil) throws -> ConnectProxy {
        let proxy = try ConnectProxy(requiredAuthorization: authorization)
        proxies.append(proxy)
        return proxy
    }

    func client(_ rules: ProxyRules) throws -> ChatUpstream {
        ChatUpstream(transport: HTTP1Client(tls: try TLSContext(client: true, extraCAFile: fixture.certificates.ca), proxies: rules),
                     idleTimeout: .seconds(10))
    }

    static let body = UpstreamTransportTests.body

    func content(_ object: JSONObject) -> String? {
        object["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
    }

    /// https through the proxy: one CONNECT naming the upstream's host and port, TLS inside the
    /// tunnel (the proxy sees a TLS record, not HTTP), and keep-alive through the tunnel.
    func testHTTPSGoesThroughTheProxyTunnel() async throws {
        let proxy = try proxy()
        try fixture.script("m", #"{"content":"through the tunnel"}"#)
        let u = try client(ProxyRules(httpsProxy: try ProxyServer(url: proxy.url)))
        for _ in 0..<2 {
            let object = try await u.complete(try fixture.endpoint("m", over: .https), body: Self.body)
            XCTAssertEqual(content(object), "through the tunnel")
        }
        XCTAssertEqual(proxy.targets, ["localhost:\(fixture.front.port)"], "one CONNECT for two calls (keep-alive through the tunnel)")
        XCTAssertEqual(proxy.connects.first?.authorization, nil)
        XCTAssertEqual(proxy.tunnelOpenings.first?.first, 0x16, "the first bytes in the tunnel should be a TLS handshake record")
        XCTAssertEqual(fixture.front.handshakes, 1)
        XCTAssertEqual(fixture.fake.stats.requests, 2)
    }

    /// `HTTP_PROXY` carries http calls the same way (CONNECT, then plain HTTP in the tunnel);
    /// `HTTPS_PROXY` alone leaves them direct.
    func testHTTPGoesThroughHTTPProxyOnly() async throws {
        let proxy = try proxy()
        let direct = try client(ProxyRules(httpsProxy: try ProxyServer(url: proxy.url)))
        _ = try await direct.complete(try fixture.endpoint("m", over: .http), body: Self.body)
        XCTAssertEqual(proxy.targets, [], "an http call used the https proxy")

        let proxied = try client(ProxyRules(httpProxy: try ProxyServer(url: proxy.url)))
        _ = try await proxied.complete(try fixture.endpoint("m", over: .http), body: Self.body)
        XCTAssertEqual(proxy.targets, ["127.0.0.1:\(fixture.fake.port)"])
        XCTAssertEqual(fixture.fake.stats.requests, 2)
    }

    /// `NO_PROXY=localhost`: the call goes straight to the upstream.
    func testNoProxyBypassesTheProxy() async throws {
        let proxy = try proxy()
        let u = try client(ProxyRules(httpsProxy: try ProxyServer(url: proxy.url), noProxy: ["localhost"]))
        _ = try await u.complete(try fixture.endpoint("m", over: .https), body: Self.body)
        XCTAssertEqual(proxy.targets, [], "NO_PROXY=localhost still went through the proxy")
        XCTAssertEqual(fixture.fake.stats.requests, 1)
    }

    /// Credentials in the proxy URL (percent-encoded) go as `Proxy-Authorization: Basic …`.
    func testCredentialsInTheProxyURLSendBasicAuth() async throws {
        let expected = "Basic " + Data("alice:p@ss:word".utf8).base64EncodedString()
        let proxy = try proxy(requiring: expected)
        let url = "http://alice:p%40ss:word@127.0.0.1:\(proxy.port)"
        let u = try client(ProxyRules(httpsProxy: try ProxyServer(url: url)))
        _ = try await u.complete(try fixture.endpoint("m", over: .https), body: Self.body)
        XCTAssertEqual(proxy.connects, [ConnectProxy.Seen(target: "localhost:\(fixture.front.port)", authorization: expected)])
        XCTAssertEqual(try ProxyServer(url: url).description, "http://127.0.0.1:\(proxy.port)", "the description shows no credentials")
    }

    /// A proxy that wants credentials we do not have (or not these): 407 → unreachable, naming
    /// the proxy and the status, never the password.
    func testAProxyThatAnswers407IsUnreachableNamingProxyAndStatus() async throws {
        let proxy = try proxy(requiring: "Basic " + Data("alice:right".utf8).base64EncodedString())
        let endpoint = try fixture.endpoint("m", over: .https)
        for url in [proxy.url, "http://alice:wrong-secret@127.0.0.1:\(proxy.port)"] {
            let u = try client(ProxyRules(httpsProxy: try ProxyServer(url: url)))
            do throws(UpstreamError) {
                _ = try await u.complete(endpoint, body: Self.body)
                XCTFail("\(url): the call went through a proxy that refused it")
            } catch {
                guard case .unreachable(let why) = error else { XCTFail("expected unreachable, got \(error)"); continue }
                XCTAssertTrue(why.contains("proxy http://127.0.0.1:\(proxy.port)"), why)
                XCTAssertTrue(why.contains("407"), why)
                XCTAssertTrue(why.contains("localhost:\(fixture.front.port)"), why)
                XCTAssertFalse(why.contains("wrong-secret"), why)
            }
        }
        XCTAssertEqual(proxy.targets.count, 2)
        XCTAssertEqual(fixture.front.handshakes, 0)
        XCTAssertEqual(fixture.fake.stats.requests, 0)
    }

    /// A proxy nobody listens on: unreachable, naming the proxy (not the upstream) as the problem.
    func testAnUnreachableProxyIsNamed() async throws {
        let port = closedLoopbackPort()
        let u = try client(ProxyRules(httpsProxy: try ProxyServer(url: "http://127.0.0.1:\(port)")))
        let endpoint = try fixture.endpoint("m", over: .https)
        do throws(UpstreamError) {
            _ = try await u.complete(endpoint, body: Self.body)
            XCTFail("reached the upstream through a closed proxy port")
        } catch {
            guard case .unreachable(let why) = error else { return XCTFail("expected unreachable, got \(error)") }
            XCTAssertTrue(why.contains("proxy http://127.0.0.1:\(port)"), why)
        }
    }

    // MARK: ProxyRules(lookup:)

    func endpoint(_ url: String) throws -> UpstreamEndpoint { try UpstreamEndpoint(baseURL: url, apiKey: nil, model: "m") }

    func rules(_ environment: [String: String]) throws -> ProxyRules {
        try ProxyRules { environment[$0] }
    }

    /// Lower case wins over upper case (as in curl); an empty value counts as unset.
    func testLowerCaseVariablesWin() throws {
        let r = try rules(["HTTPS_PROXY": "http://upper:1111", "https_proxy": "http://lower:2222",
                           "HTTP_PROXY": "http://upper-http:3333", "http_proxy": " ", "NO_PROXY": "upper.example", "no_proxy": "lower.example"])
        XCTAssertEqual(r.httpsProxy?.host, "lower")
        XCTAssertEqual(r.httpsProxy?.port, 2222)
        XCTAssertEqual(r.httpProxy?.host, "upper-http", "a blank lower-case value falls back to the upper-case one")
        XCTAssertEqual(r.noProxy, ["lower.example"])
        XCTAssertTrue(try rules([:]).isEmpty)
        XCTAssertNil(try rules(["https_proxy": "", "HTTPS_PROXY": ""]).httpsProxy)
    }

    /// Each scheme uses its own proxy; http and https calls are routed independently.
    func testEachSchemeUsesItsOwnProxy() throws {
        let r = try rules(["https_proxy": "http://tls-proxy:8443", "http_proxy": "http://plain-proxy"])
        XCTAssertEqual(r.server(for: try endpoint("https://api.openai.com/v1"))?.host, "tls-proxy")
        XCTAssertEqual(r.server(for: try endpoint("http://ollama.lan:11434/v1"))?.host, "plain-proxy")
        XCTAssertEqual(r.server(for: try endpoint("http://ollama.lan:11434/v1"))?.port, 80, "a proxy URL without a port means 80")
        let httpsOnly = try rules(["HTTPS_PROXY": "http://tls-proxy:8443"])
        XCTAssertNil(httpsOnly.server(for: try endpoint("http://ollama.lan:11434/v1")))
    }

    /// NO_PROXY: a name matches itself and its subdomains (with or without a leading dot),
    /// never a longer name that merely ends the same; IP literals; case-insensitive; `*` is all.
    func testNoProxyMatching() throws {
        let r = try rules(["https_proxy": "http://proxy:3128", "no_proxy": " Example.COM , .internal.net,10.0.0.7,[::1], localhost "])
        let bypassed = ["https://example.com/v1", "https://api.example.com/v1", "https://API.EXAMPLE.com/v1",
                        "https://internal.net/v1", "https://vllm.internal.net:8443/v1", "https://10.0.0.7:8000/v1",
                        "https://[::1]:8000/v1", "https://localhost:8443/v1"]
        for url in bypassed { XCTAssertNil(r.server(for: try endpoint(url)), "\(url) should bypass the proxy") }
        let proxied = ["https://notexample.com/v1", "https://example.com.evil.org/v1", "https://internal.network/v1",
                       "https://10.0.0.70/v1", "https://api.openai.com/v1"]
        for url in proxied { XCTAssertEqual(r.server(for: try endpoint(url))?.host, "proxy", "\(url) should use the proxy") }

        let all = try rules(["HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "*"])
        XCTAssertNil(all.server(for: try endpoint("https://api.openai.com/v1")))
    }

    /// Proxy URLs: http only (CONNECT is plain HTTP to the proxy), a valid port, credentials
    /// percent-decoded and never shown.
    func testProxyURLParsing() throws {
        XCTAssertThrowsError(try rules(["HTTPS_PROXY": "socks5://proxy:1080"]))
        XCTAssertThrowsError(try rules(["HTTPS_PROXY": "https://proxy:3128"]))
        XCTAssertThrowsError(try rules(["HTTPS_PROXY": "http://proxy:notaport"]))
        XCTAssertThrowsError(try rules(["HTTPS_PROXY": "http://:3128"]))
        do {
            _ = try rules(["HTTPS_PROXY": "socks5://user:hunter2@proxy:1080"])
        } catch {
            XCTAssertFalse("\(error)".contains("hunter2"), "the error shows the proxy password: \(error)")
        }
        let bare = try ProxyServer(url: "proxy.corp:3128/")
        XCTAssertEqual(bare.description, "http://proxy.corp:3128", "a URL without scheme is http")
        let withUser = try ProxyServer(url: "http://bob:s3cret@proxy.corp:3128")
        XCTAssertEqual(withUser.host, "proxy.corp")
        XCTAssertFalse(withUser.description.contains("s3cret"))
    }
}
