import FakeUpstream
import OpenAIWire
import Upstream

/// The in-process fake upstream, and endpoints naming its models.
struct UpstreamFixture {
    static let key = "sk-upstream-secret-0123456789"
    let fake: FakeUpstream

    init() throws {
        fake = try FakeUpstream()
        fake.start()
    }

    func shutdown() async { await fake.shutdown() }

    func endpoint(_ model: String) throws -> UpstreamEndpoint {
        try UpstreamEndpoint(baseURL: fake.baseURL, apiKey: Self.key, model: model)
    }

    func script(_ model: String, _ json: String) throws {
        fake.script(model, try FakeScript(json: try JSONParser.parse(json)))
    }
}
