import Foundation
import Glibc
import HTTPServer
import Upstream

/// `hydracodedone [serve|check-config|healthcheck|--help|--version]`.
public enum CLI {
    public static func main(_ arguments: [String]) async -> Int32 {
        let environment = ProcessInfo.processInfo.environment
        let envFile = environment["ENV_FILE"] ?? ".env"
        let command = arguments.dropFirst().first ?? "serve"
        switch command {
        case "serve":
            return await App.serve(environment: environment, envFile: envFile)
        case "--version", "-V", "version":
            print("hydracodedone \(App.version)")
            return 0
        case "--help", "-h", "help":
            print(help)
            return 0
        case "healthcheck":
            return await healthcheck(environment: environment, envFile: envFile)
        case "check-config":
            return await CheckConfig.run(environment: environment, envFile: envFile)
        default:
            FileHandle.standardError.write(Data("unknown command '\(command)'; see hydracodedone --help\n".utf8))
            return 64
        }
    }

    static let help = """
    hydracodedone \(App.version) — an OpenAI-compatible critique proxy.

    USAGE
      hydracodedone [serve]       serve on HOST:PORT (default 0.0.0.0:3101)
      hydracodedone check-config  print the effective configuration (secrets masked) and probe
                                  each upstream's /models; non-zero exit on any problem
      hydracodedone healthcheck   exit 0 if the local server answers GET /health, else 1
      hydracodedone --version
      hydracodedone --help

    Configuration comes from the environment and from a .env file in the working directory
    (ENV_FILE overrides its path); the environment wins. See Configuration/.env.example.
    """

    /// Used by the container HEALTHCHECK: slim images have no curl.
    static func healthcheck(environment: [String: String], envFile: String) async -> Int32 {
        var port: UInt16 = 3101
        if let p = environment["PORT"].flatMap(UInt16.init) {
            port = p
        } else if let text = try? String(contentsOfFile: envFile, encoding: .utf8), let pairs = try? DotEnv.parse(text),
                  let p = pairs.last(where: { $0.key == "PORT" }).flatMap({ UInt16($0.value) }) {
            port = p
        }
        let client = HTTP1Client()
        do {
            let endpoint = try UpstreamEndpoint(baseURL: "http://127.0.0.1:\(port)", apiKey: nil, model: "")
            let response = try await client.send(UpstreamRequest(endpoint: endpoint, method: "GET", path: "/health", idleTimeout: .seconds(3)))
            let body = try await response.body.collect(limit: 4096)
            if response.status == 200 {
                print(String(decoding: body, as: UTF8.self))
                return 0
            }
            print("unhealthy: HTTP \(response.status)")
        } catch {
            print("unhealthy: \(error)")
        }
        return 1
    }
}
