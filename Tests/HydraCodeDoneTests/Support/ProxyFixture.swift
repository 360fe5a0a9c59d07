import Dispatch
import FakeUpstream
import Foundation
import HTTPServer
@testable import HydraCodeDone
import OpenAIWire
import Synchronization
import Upstream
import XCTest
@testable import TestSupport

/// The proxy exactly as `App.serve` assembles it (config store, registry, admission, handler,
/// server with the OpenAI error responder), on an ephemeral loopback port, in front of an
/// in-process fake upstream. Tests drive it with the blocking raw client from their own thread.
final class ProxyFixture {
    let fake: FakeUpstream
    let server: HTTPServer
    let config: AppConfig
    let registry: ModelRegistry
    private let ownsFake: Bool
    var port: UInt16 { server.port }

    /// `environment` is added to a minimal one pointing both stages at the fake
    /// (models "primary" and "critique"); set a key to "" to remove it.
    /// Given a `fake`, the fixture uses it and leaves its shutdown to the caller.
    init(_ environment: [String: String] = [:], fake existing: FakeUpstream? = nil) throws {
        if let existing {
            fake = existing
            ownsFake = false
        } else {
            fake = try FakeUpstream()
            fake.start()
            ownsFake = true
        }
        var env = [
            "OPENAI_BASE_URL": fake.baseURL,
            "OPENAI_API_KEY": "sk-upstream-key-0000",
            "PRIMARY_MODEL_NAME": "primary",
            "CRITIQUE_MODEL_NAME": "critique",
            "CRITIQUE_SYSTEM_PROMPT": "REFINE",
            "LOG_LEVEL": "ERROR",
        ]
        for (k, v) in environment { env[k] = v.isEmpty ? nil : v }
        let store = try ConfigStore(environment: env, envFilePath: Self.missingEnvFile)
        let config = blocking { await store.current }
        self.config = config
        // Exactly what App.serve runs, on an ephemeral port.
        let assembled: Result<(HTTPServer, ModelRegistry), Error> = blocking {
            do { return .success(try await App.assemble(store: store, host: "127.0.0.1", port: 0)) } catch { return .failure(error) }
        }
        (server, registry) = try assembled.get()
        let server = self.server
        Task { await server.run() }
    }

    /// No `.env` is read: a path that does not exist, computed at run time.
    static var missingEnvFile: String {
        NSTemporaryDirectory() + "/hydracodedone-tests-no-such-env-\(getpid())"
    }

    func stop() {
        let server = self.server, fake = ownsFake ? self.fake : nil
        blocking {
            await server.shutdown(grace: .milliseconds(200))
            await fake?.shutdown()
        }
    }

    func client() throws -> RawClient { try RawClient(port: port) }

    /// One request on a fresh connection.
    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil, timeout: Double = 10) throws -> RawResponse {
        let c = try client()
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        try c.send(text)
        return try c.readResponse(timeout: timeout, isHead: method == "HEAD")
    }

    func chat(_ body: String, headers: [(String, String)] = [], timeout: Double = 10) throws -> RawResponse {
        try send("POST", "/v1/chat/completions", headers: headers, body: body, timeout: timeout)
    }

    func script(_ model: String, _ json: String) throws {
        fake.script(model, try FakeScript(json: try JSONParser.parse(json)))
    }

    static func chatBody(_ user: String = "What is 2+2?", stream: Bool = false, extra: String = "") -> String {
        let content = JSONWriter.string(.string(user))
        return #"{"model":"hydracodedone","messages":[{"role":"user","content":\#(content)}],"stream":\#(stream)\#(extra)}"#
    }
}

extension JSONValue {
    subscript(_ index: Int) -> JSONValue? {
        guard let a = arrayValue, a.indices.contains(index) else { return nil }
        return a[index]
    }
}

extension RawResponse {
    var json: JSONValue? { try? JSONParser.parse(body) }

    /// The SSE events of a streamed body: comments as `: text`, data payloads as they are.
    var events: [String] {
        text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { event in
            event.hasPrefix("data: ") ? String(event.dropFirst(6)) : event
        }
    }

    /// The JSON data events (not comments, not `[DONE]`).
    var dataObjects: [JSONValue] {
        events.filter { !$0.hasPrefix(":") && $0 != "[DONE]" }.compactMap { try? JSONParser.parse($0) }
    }

    /// Asserts the OpenAI error shape and returns the error object.
    func assertOpenAIError(status: Int, file: StaticString = #filePath, line: UInt = #line) -> JSONValue? {
        XCTAssertEqual(self.status, status, text, file: file, line: line)
        XCTAssertEqual(header("Content-Type"), "application/json", file: file, line: line)
        guard let error = json?["error"], case .object(let o) = error else {
            XCTFail("not an OpenAI error: \(text)", file: file, line: line)
            return nil
        }
        XCTAssertEqual(o.keys, ["message", "type", "param", "code"], file: file, line: line)
        XCTAssertFalse(o["message"]?.stringValue?.isEmpty ?? true, file: file, line: line)
        XCTAssertNotNil(o["type"]?.stringValue, file: file, line: line)
        return error
    }
}


