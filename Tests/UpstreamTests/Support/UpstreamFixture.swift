import HTTPServer
import FakeUpstream
import OpenAIWire
import TLS
import Upstream
@testable import TestSupport

/// The in-process fake upstream, a TLS front in front of it (the same fake as an https upstream,
/// with a certificate for `localhost` from a CA generated at test time), and endpoints naming
/// its models over either scheme.
struct UpstreamFixture {
    static let key = "sk-upstream-secret-0123456789"
    /// Every transport test runs over both.
    static let schemes: [UpstreamEndpoint.Scheme] = [.http, .https]
    let fake: FakeUpstream
    let front: TLSFront
    let certificates: TestCertificates

    init() throws {
        certificates = try TestCertificates.shared()
        fake = try FakeUpstream()
        fake.start()
        front = try TLSFront(backendPort: fake.port, certificate: certificates.server.certificate, privateKey: certificates.server.privateKey)
    }

    func shutdown() async {
        front.close()
        await fake.shutdown()
    }

    /// The base URL of the fake over `scheme`: directly, or through the TLS front by name.
    func baseURL(_ scheme: UpstreamEndpoint.Scheme) -> String {
        scheme == .http ? fake.baseURL : "https://localhost:\(front.port)/v1"
    }

    func endpoint(_ model: String, over scheme: UpstreamEndpoint.Scheme = .http) throws -> UpstreamEndpoint {
        try UpstreamEndpoint(baseURL: baseURL(scheme), apiKey: Self.key, model: model)
    }

    /// The client the proxy would build with `UPSTREAM_CA_FILE` naming the test CA.
    func client() throws -> HTTP1Client {
        HTTP1Client(tls: try TLSContext(client: true, extraCAFile: certificates.ca))
    }

    /// Another TLS front with the test server certificate, in front of any loopback port.
    func front(for backendPort: UInt16) throws -> TLSFront {
        try TLSFront(backendPort: backendPort, certificate: certificates.server.certificate, privateKey: certificates.server.privateKey)
    }

    func script(_ model: String, _ json: String) throws {
        fake.script(model, try FakeScript(json: try JSONParser.parse(json)))
    }
}
