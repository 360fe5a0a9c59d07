import OpenAIWire
import Upstream
import XCTest
@testable import HydraCodeDone

/// What a request becomes, decided without a socket: one configuration snapshot, the request and
/// its `hydra` object in, a pipeline, a passthrough call or an error out.
final class RequestPlannerTests: XCTestCase {
    func config(_ extra: [String: String] = [:]) throws -> AppConfig {
        var env = ["OPENAI_BASE_URL": "http://up:1/v1", "PRIMARY_MODEL_NAME": "p", "CRITIQUE_MODEL_NAME": "c"]
        for (k, v) in extra { env[k] = v }
        return try AppConfig.load(environment: env, dotEnv: [:])
    }

    func plan(_ body: String, _ config: AppConfig, upstreamModels: [String] = []) throws -> RequestPlanner.Plan {
        var request = try ChatRequest(validating: Array(body.utf8))
        let control = try RequestControl.take(from: &request)
        return RequestPlanner(config: config, upstreamModels: upstreamModels).plan(request, control: control)
    }

    func choice(_ plan: RequestPlanner.Plan, file: StaticString = #filePath, line: UInt = #line) -> RequestPlanner.PipelineChoice? {
        guard case .pipeline(let c) = plan else { XCTFail("not a pipeline: \(plan)", file: file, line: line); return nil }
        return c
    }

    func testDefaultPipelineForTheProxysOwnNameAndForUnknownNames() throws {
        let c = try config()
        for model in ["hydracodedone", "gpt-4o", nil] as [String?] {
            let m = model.map { #""model":"\#($0)","# } ?? ""
            let choice = choice(try plan(#"{\#(m)"messages":[{"role":"user","content":"hi"}]}"#, c))
            XCTAssertEqual(choice?.primary.model, "p")
            XCTAssertEqual(choice?.critique?.model, "c")
            XCTAssertEqual(choice?.critiqueState, "applied")
        }
    }

    func testStrictModelsRejectUnknownNames() throws {
        guard case .rejected(let error) = try plan(#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#, try config(["STRICT_MODELS": "true"])) else {
            return XCTFail("an unknown model must be refused")
        }
        XCTAssertEqual(error.status, 404)
        XCTAssertEqual(error.code, "model_not_found")
    }

    func testPassthroughOnlyForListedUpstreamModelsWhenEnabled() throws {
        let body = #"{"model":"llama3","messages":[{"role":"user","content":"hi"}]}"#
        guard case .passthrough(let endpoint) = try plan(body, try config(["PASSTHROUGH_MODELS": "true"]), upstreamModels: ["llama3"]) else {
            return XCTFail("a listed upstream model passes through")
        }
        XCTAssertEqual(endpoint.host, "up")
        XCTAssertNotNil(choice(try plan(body, try config(), upstreamModels: ["llama3"])), "passthrough is off by default")
        XCTAssertNotNil(choice(try plan(body, try config(["PASSTHROUGH_MODELS": "true"]), upstreamModels: [])), "not listed: default pipeline")
    }

    func testBackgroundTasksSkipTheCritique() throws {
        let choice = choice(try plan(####"{"messages":[{"role":"user","content":"### Task: suggest a title"}]}"####, try config()))
        XCTAssertNil(choice?.critique)
        XCTAssertEqual(choice?.critiqueState, "skipped")
        XCTAssertEqual(choice?.isBackgroundTask, true)
    }

    func testHydraControlOverridesTheConfiguration() throws {
        let off = choice(try plan(#"{"hydra":{"critique":false},"messages":[{"role":"user","content":"hi"}]}"#, try config()))
        XCTAssertNil(off?.critique)
        XCTAssertEqual(off?.critiqueState, "off")
        let more = choice(try plan(#"{"hydra":{"rounds":3,"show_draft":"reasoning"},"messages":[{"role":"user","content":"hi"}]}"#, try config()))
        XCTAssertEqual(more?.rounds, 3)
        XCTAssertEqual(more?.showDraft, true)
    }

    func testNoCritiqueModelMeansOff() throws {
        let choice = choice(try plan(#"{"messages":[{"role":"user","content":"hi"}]}"#, try config(["CRITIQUE_MODEL_NAME": ""])))
        XCTAssertNil(choice?.critique)
        XCTAssertEqual(choice?.critiqueState, "off")
    }
}
