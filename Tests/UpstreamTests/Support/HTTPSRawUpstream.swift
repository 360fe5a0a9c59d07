import FakeUpstream
import Upstream
@testable import TestSupport

/// A `RawUpstream` behind a `TLSFront`: an https upstream whose bytes (and resets) the test
/// scripts. The front mirrors how the raw handler ends its connection: a close is a TLS close,
/// a reset is a TCP reset on the client's connection.
struct HTTPSRawUpstream {
    let raw: RawUpstream
    let front: TLSFront

    init(_ certificate: TestCertificates.Pair, _ handler: @escaping @Sendable (RawUpstreamConnection) -> Void) throws {
        raw = try RawUpstream(handler)
        front = try TLSFront(backendPort: raw.port, certificate: certificate.certificate, privateKey: certificate.privateKey)
    }

    func baseURL(host: String = "localhost") -> String { "https://\(host):\(front.port)/v1" }

    func endpoint(host: String = "localhost") throws -> UpstreamEndpoint {
        try UpstreamEndpoint(baseURL: baseURL(host: host), apiKey: UpstreamFixture.key, model: "m")
    }

    func stop() {
        front.close()
        raw.stop()
    }
}

/// One piece of a chunked body.
func chunked(_ text: String) -> String { String(text.utf8.count, radix: 16) + "\r\n" + text + "\r\n" }

/// The head of a streamed (chunked, event-stream) 200.
let eventStreamHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
