import Foundation
import Upstream

/// `hydracodedone check-config`: says clearly what is wrong before a user's IDE finds out.
enum CheckConfig {
    static func run(environment: [String: String], envFile: String) async -> Int32 {
        let config: AppConfig
        do {
            config = try ConfigStore.read(environment: environment, envFilePath: envFile)
        } catch {
            print("✗ \(error)")
            return 2
        }
        print("Effective configuration (.env: \(FileManager.default.fileExists(atPath: envFile) ? envFile : "none")):")
        for (name, value) in config.summaryItems {
            print("  \(name)=\(value)")
        }
        for warning in config.warnings { print("⚠ WARNING: \(warning)") }
        var ok = true
        var stages: [(String, UpstreamEndpoint)] = [("primary", config.primary)]
        if let c = config.critique { stages.append(("critique", c)) } else { print("• critique: off (CRITIQUE_MODEL_NAME is empty)") }
        for (name, endpoint) in stages {
            let transport = config.network.makeClient()
            let upstream = ChatUpstream(transport: transport, idleTimeout: .seconds(10))
            let url = endpoint.url(endpoint.modelsPath)
            do {
                let models = try await upstream.models(endpoint)
                if models.contains(endpoint.model) || models.contains(where: { $0.hasPrefix(endpoint.model + ":") }) {
                    print("✓ \(name): \(url) is reachable and lists model '\(endpoint.model)'")
                } else {
                    ok = false
                    let shown = models.prefix(10).joined(separator: ", ")
                    print("✗ \(name): model '\(endpoint.model)' is not served by \(url) (it lists: \(shown.isEmpty ? "nothing" : shown)). With Ollama: ollama pull \(endpoint.model)")
                }
            } catch {
                ok = false
                switch error {
                case .status(let s, _, _) where s == 401 || s == 403:
                    print("✗ \(name): \(url) refused the API key (HTTP \(s)); check \(name.uppercased())_API_KEY / OPENAI_API_KEY")
                case .status(let s, let m, _):
                    print("✗ \(name): \(url) answered HTTP \(s): \(m)")
                case .unreachable(let why):
                    print("✗ \(name): cannot reach \(url) (\(why)); is the server running, and is the base URL right? (inside Docker, localhost is the container itself)")
                case .timeout:
                    print("✗ \(name): \(url) did not answer within 10 s")
                default:
                    print("✗ \(name): \(url): \(error.description)")
                }
            }
        }
        print(ok ? "Configuration OK." : "Configuration has problems (see ✗ above).")
        return ok ? 0 : 1
    }
}
