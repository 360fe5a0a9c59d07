import FakeUpstream
import OpenAIWire
import Pipeline
import Synchronization
import Upstream
import XCTest
@testable import TestSupport

/// Records what the pipeline reports, in order.
final class RecordingObserver: PipelineObserver {
    private let log = Mutex<[String]>([])
    var events: [String] { log.withLock { $0 } }

    func stageStarted(_ stage: PipelineStage) { log.withLock { $0.append("started \(stage.rawValue)") } }
    func firstToken(_ stage: PipelineStage, after: Duration) { log.withLock { $0.append("first token \(stage.rawValue)") } }
    func stageFinished(_ stage: PipelineStage, after: Duration) { log.withLock { $0.append("finished \(stage.rawValue)") } }
    func upstreamFailed(_ stage: PipelineStage, _ error: UpstreamError) { log.withLock { $0.append("failed \(stage.rawValue) \(error.kind)") } }
    func critiqueFellBack(_ error: UpstreamError) { log.withLock { $0.append("fell back \(error.kind)") } }
}

/// A fake upstream plus a plan pointing both stages at it (models "primary" and "critique").
struct PipelineFixture {
    static let prompt = "CRITIQUE THIS PLEASE"
    static let primaryKey = "sk-primary-secret-0123456789"

    let fake: FakeUpstream

    init() throws {
        fake = try FakeUpstream()
        fake.start()
    }

    func shutdown() async { await fake.shutdown() }

    func endpoint(_ model: String, baseURL: String? = nil, key: String? = PipelineFixture.primaryKey) throws -> UpstreamEndpoint {
        try UpstreamEndpoint(baseURL: baseURL ?? fake.baseURL, apiKey: key, model: model)
    }

    func plan(critique: Bool = true, failure: PipelinePlan.CritiqueFailure = .fallback, idleTimeout: Duration = .seconds(10),
              transport: any UpstreamTransport = HTTP1Client(), primaryBaseURL: String? = nil, critiqueBaseURL: String? = nil) throws -> PipelinePlan {
        let upstream = ChatUpstream(transport: transport, idleTimeout: idleTimeout)
        return PipelinePlan(
            primary: .init(endpoint: try endpoint("primary", baseURL: primaryBaseURL), upstream: upstream),
            critique: critique ? .init(endpoint: try endpoint("critique", baseURL: critiqueBaseURL, key: nil), upstream: upstream) : nil,
            critiquePrompt: Self.prompt, critiqueFailure: failure,
            forwardedHeaders: [("X-Request-Id", "req-123")])
    }

    static func request(_ json: String) throws -> ChatRequest {
        try ChatRequest(validating: Array(json.utf8))
    }

    static let basicRequest = #"{"model":"hydracodedone","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"What is 2+2?"}]}"#

    func script(_ model: String, _ json: String) throws {
        fake.script(model, try FakeScript(json: try JSONParser.parse(json)))
    }

    /// Collects every event of a streamed run.
    static func collect(_ run: PipelineRun) async -> [PipelineEvent] {
        var out: [PipelineEvent] = []
        for await e in run.events() { out.append(e) }
        return out
    }
}

extension PipelineEvent {
    /// A compact, comparable rendering.
    var summary: String {
        switch self {
        case .content(let s): return "content(\(s))"
        case .delta(let d): return "delta(\(JSONWriter.string(.object(d))))"
        case .finish(let r): return "finish(\(r ?? "nil"))"
        case .usage(let u): return "usage(\(u.promptTokens),\(u.completionTokens),\(u.totalTokens))"
        case .fellBack: return "fellBack"
        case .report(let r): return "report(\(r.outcome.rawValue))"
        case .upstreamFields(let f): return "upstreamFields(\(JSONWriter.string(.object(f))))"
        case .failed(let e): return "failed(\(e.stage.rawValue),\(e.openAI.status),\(e.openAI.code ?? "-"))"
        }
    }
}

extension Array where Element == PipelineEvent {
    var text: String {
        map { if case .content(let s) = $0 { return s }; return "" }.joined()
    }
    /// Every event but the `hydra` report (its own tests check it), so sequences stay readable.
    var summaries: [String] { filter { if case .report = $0 { return false }; return true }.map(\.summary) }
    var report: CritiqueReport? {
        for e in self { if case .report(let r) = e { return r } }
        return nil
    }
    var failure: PipelineError? {
        for e in self { if case .failed(let f) = e { return f } }
        return nil
    }
}

/// The JSON body the fake recorded for a model's n-th request.
extension FakeUpstream {
    func body(_ model: String, _ n: Int = 0, file: StaticString = #filePath, line: UInt = #line) -> JSONObject {
        let list = requests(model: model)
        guard n < list.count, let o = list[n].body.objectValue else {
            XCTFail("no request \(n) for \(model) (have \(list.count))", file: file, line: line)
            return JSONObject()
        }
        return o
    }
}

extension PipelineRun {
    /// `complete()` as a value, keeping the typed error.
    func result() async -> Result<PipelineAnswer, PipelineError> {
        do throws(PipelineError) {
            return .success(try await complete())
        } catch {
            return .failure(error)
        }
    }
}
