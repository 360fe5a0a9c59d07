import FakeUpstream
import Foundation
import OpenAIWire
import XCTest
@testable import TestSupport

/// How a request's `model` and `hydra` object choose what runs: named pipelines, strict models,
/// passthrough models and per-request switches.
final class ProxyModelSelectionTests: XCTestCase {
    var proxy: ProxyFixture!
    var files: [String] = []

    override func tearDown() {
        proxy?.stop()
        for f in files { try? FileManager.default.removeItem(atPath: f) }
    }

    /// Writes a pipelines file whose stages point at `baseURL`.
    func pipelinesFile(_ json: String) throws -> String {
        let path = NSTemporaryDirectory() + "/hydracodedone-pipelines-\(getpid())-\(files.count).json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        files.append(path)
        return path
    }

    func testNamedPipelinesAreListedAndRouted() throws {
        // The pipelines file names the fake's address, so the fake starts first.
        let fake = try FakeUpstream()
        fake.start()
        defer { blocking { await fake.shutdown() } }
        let base = fake.baseURL
        let file = try pipelinesFile("""
        {"pipelines": [
          {"id": "fast", "primary": {"base_url": "\(base)", "model": "p2"}, "critique": null},
          {"id": "deep", "primary": {"base_url": "\(base)", "model": "p3", "api_key_env": "DEEP_KEY"},
           "critique": {"base_url": "\(base)", "model": "c3"}, "critique_prompt": "DEEP REVIEW", "rounds": 2}
        ]}
        """)
        proxy = try ProxyFixture(["PIPELINES_FILE": file, "DEEP_KEY": "deep-secret-1"], fake: fake)
        let pipelinesProxy = proxy!
        let models = try pipelinesProxy.send("GET", "/v1/models").json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
        XCTAssertEqual(models, ["hydracodedone", "fast", "deep"])

        let fast = try pipelinesProxy.chat(#"{"model":"fast","messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(fast.status, 200, fast.text)
        XCTAssertEqual(fast.header("X-Hydra-Critique"), "off")
        XCTAssertEqual(fast.json?["model"]?.stringValue, "fast")
        XCTAssertEqual(fake.requests.map { $0.body["model"]?.stringValue }, ["p2"])

        fake.resetAll()
        let deep = try pipelinesProxy.chat(#"{"model":"deep","messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(deep.status, 200, deep.text)
        XCTAssertEqual(fake.requests.map { $0.body["model"]?.stringValue }, ["p3", "c3", "c3"], "two critique rounds")
        XCTAssertEqual(fake.requests(model: "c3").first?.body["messages"]?.arrayValue?.last?["content"]?.stringValue, "DEEP REVIEW")
        XCTAssertEqual(fake.requests(model: "p3").first?.headers["authorization"], "Bearer deep-secret-1")

        fake.resetAll()
        _ = try pipelinesProxy.chat(#"{"model":"not-listed","messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(fake.requests.map { $0.body["model"]?.stringValue }, ["primary", "critique"], "unknown models use the default pipeline")
    }

    func testStrictModelsRejectsUnknownModels() throws {
        proxy = try ProxyFixture(["STRICT_MODELS": "true"])
        let error = try proxy.chat(#"{"model":"gpt-99","messages":[{"role":"user","content":"hi"}]}"#).assertOpenAIError(status: 404)
        XCTAssertEqual(error?["param"]?.stringValue, "model")
        XCTAssertEqual(error?["code"]?.stringValue, "model_not_found")
        XCTAssertEqual(proxy.fake.stats.requests, 0)
        XCTAssertEqual(try proxy.chat(#"{"model":"hydracodedone","messages":[{"role":"user","content":"hi"}]}"#).status, 200)
        XCTAssertEqual(try proxy.chat(#"{"messages":[{"role":"user","content":"hi"}]}"#).status, 200, "no model = the default pipeline")
    }

    func testPassthroughModelsGoUnchanged() throws {
        proxy = try ProxyFixture(["PASSTHROUGH_MODELS": "true"])
        let fake = proxy.fake
        let listed = eventually(timeout: 5) {
            let ids = (try? self.proxy.send("GET", "/v1/models"))?.json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            return ids.first == "hydracodedone" && ids.contains("fake-model")
        }
        XCTAssertTrue(listed, "the upstream's models were never listed")
        let body = #"{"model":"fake-model","messages":[{"role":"user","content":"raw"}],"temperature":0.50}"#
        let r = try proxy.chat(body)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.header("X-Hydra-Critique"), "passthrough")
        XCTAssertEqual(r.json?["id"]?.stringValue, "chatcmpl-fake", "the upstream's answer, unchanged")
        XCTAssertEqual(fake.requests.count, 1)
        XCTAssertEqual(JSONWriter.string(fake.requests[0].body), body, "the request, unchanged")

        let streamed = try proxy.chat(#"{"model":"fake-model","stream":true,"messages":[{"role":"user","content":"raw"}]}"#)
        XCTAssertEqual(streamed.status, 200)
        XCTAssertEqual(streamed.events.last, "[DONE]")
        XCTAssertTrue(streamed.dataObjects.allSatisfy { $0["id"]?.stringValue == "chatcmpl-fake" })
    }

    func testHydraControlObject() throws {
        proxy = try ProxyFixture()
        let fake = proxy.fake
        XCTAssertEqual(try proxy.chat(#"{"messages":[{"role":"user","content":"hi"}],"hydra":{"critique":false}}"#).header("X-Hydra-Critique"), "off")
        XCTAssertEqual(fake.requests.count, 1)
        XCTAssertNil(fake.requests[0].body["hydra"], "the control object never reaches an upstream")

        fake.resetAll()
        XCTAssertEqual(try proxy.chat(#"{"messages":[{"role":"user","content":"hi"}],"hydra":{"rounds":2}}"#).status, 200)
        XCTAssertEqual(fake.requests.map { $0.body["model"]?.stringValue }, ["primary", "critique", "critique"])
        XCTAssertTrue(fake.requests.allSatisfy { $0.body["hydra"] == nil })

        fake.resetAll()
        try proxy.script("primary", #"{"content":"visible draft"}"#)
        let shown = try proxy.chat(#"{"messages":[{"role":"user","content":"hi"}],"hydra":{"show_draft":"reasoning"}}"#)
        XCTAssertEqual(shown.json?["choices"]?[0]?["message"]?["reasoning_content"]?.stringValue, "visible draft")

        for (control, param) in [(#""on""#, "hydra"), (#"{"rounds":9}"#, "hydra.rounds"), (#"{"rounds":1.5}"#, "hydra.rounds"),
                                 (#"{"critique":"no"}"#, "hydra.critique"), (#"{"show_draft":"loud"}"#, "hydra.show_draft"), (#"{"colour":1}"#, "hydra.colour")] {
            let error = try proxy.chat(#"{"messages":[{"role":"user","content":"hi"}],"hydra":\#(control)}"#).assertOpenAIError(status: 400)
            XCTAssertEqual(error?["param"]?.stringValue, param, control)
        }
    }
}

