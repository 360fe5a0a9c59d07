import Foundation
import HTTPServer
import Pipeline
import OpenAIWire
import Upstream
import XCTest
@testable import HydraCodeDone
@testable import TestSupport

/// Configuration: defaults, precedence, validation (each error names its variable), endpoints.
final class AppConfigTests: XCTestCase {
    static let minimal = ["PRIMARY_MODEL_NAME": "llama3.2"]

    func load(_ env: [String: String], dotEnv: [String: String] = [:]) throws -> AppConfig {
        try AppConfig.load(environment: Self.minimal.merging(env) { $1 }, dotEnv: dotEnv)
    }

    func invalid(_ env: [String: String], dotEnv: [String: String] = [:]) -> AppConfig.Invalid? {
        do { _ = try AppConfig.load(environment: env, dotEnv: dotEnv); return nil } catch { return error }
    }

    /// The shipped prompt file and the built-in default are one text (users copy the file to edit it).
    func testShippedPromptFileMatchesTheBuiltInDefault() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Configuration/critique-system-prompt.txt")
        let text = try String(contentsOf: file, encoding: .utf8)
        XCTAssertEqual(text.trimmingCharacters(in: .whitespacesAndNewlines), DefaultPrompt.critique.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func testDefaults() throws {
        let c = try load([:])
        XCTAssertEqual(c.host, "0.0.0.0")
        XCTAssertEqual(c.port, 3101)
        XCTAssertEqual(c.logLevel, .info)
        XCTAssertEqual(c.proxyModelName, "hydracodedone")
        XCTAssertNil(c.proxyAPIKey)
        XCTAssertEqual(c.primary.url(c.primary.chatPath), "http://localhost:11434/v1/chat/completions")
        XCTAssertEqual(c.primary.model, "llama3.2")
        XCTAssertNil(c.primary.apiKey)
        XCTAssertNil(c.critique, "empty CRITIQUE_MODEL_NAME = critique off")
        XCTAssertEqual(c.critiqueFailure, .fallback)
        XCTAssertTrue(c.critiquePrompt.contains("critique and refinement phase"))
        XCTAssertEqual(c.skipPatterns.map(\.source), ["^### Task:"])
        XCTAssertEqual(c.upstreamTimeout, .seconds(300))
        XCTAssertEqual(c.heartbeat, .seconds(10))
        XCTAssertEqual(c.gracefulShutdown, .seconds(30))
        XCTAssertEqual(c.limits.maxBodyBytes, 32 << 20)
        XCTAssertEqual(c.limits.headerTimeout, .seconds(15))
        XCTAssertEqual(c.limits.idleTimeout, .seconds(75))
        XCTAssertEqual(c.limits.maxConnections, 10_000)
        XCTAssertEqual(c.maxConcurrentRequests, 256)
        XCTAssertEqual(c.maxQueuedRequests, 1024)
    }

    func testEveryVariableIsRead() throws {
        let c = try load(["HOST": "127.0.0.1", "PORT": "8080", "LOG_LEVEL": "debug", "PROXY_MODEL_NAME": "critic", "PROXY_API_KEY": "k",
                          "OPENAI_BASE_URL": "http://gpu:8000/v1/", "OPENAI_API_KEY": "sk-x", "CRITIQUE_MODEL_NAME": "qwen",
                          "CRITIQUE_SYSTEM_PROMPT": "Refine.", "CRITIQUE_FAILURE": "ERROR", "CRITIQUE_SKIP_PATTERNS": "^a||^b\n^c",
                          "UPSTREAM_TIMEOUT_SECONDS": "2.5", "HEARTBEAT_SECONDS": "1", "MAX_REQUEST_BYTES": "4096", "HEADER_TIMEOUT_SECONDS": "3",
                          "IDLE_TIMEOUT_SECONDS": "4", "MAX_CONNECTIONS": "50", "GRACEFUL_SHUTDOWN_SECONDS": "6", "MAX_CONCURRENT_REQUESTS": "2",
                          "MAX_QUEUED_REQUESTS": "0"])
        XCTAssertEqual(c.host, "127.0.0.1")
        XCTAssertEqual(c.port, 8080)
        XCTAssertEqual(c.logLevel, .debug)
        XCTAssertEqual(c.proxyModelName, "critic")
        XCTAssertEqual(c.proxyAPIKey, "k")
        XCTAssertEqual(c.primary.url(c.primary.chatPath), "http://gpu:8000/v1/chat/completions")
        XCTAssertEqual(c.primary.apiKey, "sk-x")
        XCTAssertEqual(c.critique?.model, "qwen")
        XCTAssertEqual(c.critique?.apiKey, "sk-x", "the critique falls back to OPENAI_*")
        XCTAssertEqual(c.critiquePrompt, "Refine.")
        XCTAssertEqual(c.critiqueFailure, .error)
        XCTAssertEqual(c.skipPatterns.map(\.source), ["^a", "^b", "^c"])
        XCTAssertEqual(c.upstreamTimeout, .milliseconds(2500))
        XCTAssertEqual(c.heartbeat, .seconds(1))
        XCTAssertEqual(c.limits.maxBodyBytes, 4096)
        XCTAssertEqual(c.limits.headerTimeout, .seconds(3))
        XCTAssertEqual(c.limits.idleTimeout, .seconds(4))
        XCTAssertEqual(c.limits.maxConnections, 50)
        XCTAssertEqual(c.gracefulShutdown, .seconds(6))
        XCTAssertEqual(c.maxConcurrentRequests, 2)
        XCTAssertEqual(c.maxQueuedRequests, 0)
    }

    func testEnvironmentWinsOverDotEnv() throws {
        let c = try AppConfig.load(environment: ["PORT": "2222", "PRIMARY_MODEL_NAME": "from-env"],
                                   dotEnv: ["PORT": "1111", "PRIMARY_MODEL_NAME": "from-file", "HOST": "10.0.0.1", "CRITIQUE_MODEL_NAME": "file-critic"])
        XCTAssertEqual(c.port, 2222)
        XCTAssertEqual(c.primary.model, "from-env")
        XCTAssertEqual(c.host, "10.0.0.1", ".env fills what the environment does not set")
        XCTAssertEqual(c.critique?.model, "file-critic")
    }

    func testEachInvalidValueNamesItsVariable() {
        let cases: [(String, String)] = [
            ("PORT", "http"), ("PORT", "70000"), ("PORT", "-1"), ("LOG_LEVEL", "LOUD"),
            ("OPENAI_BASE_URL", "localhost:11434"), ("OPENAI_BASE_URL", "ftp://x/v1"), ("OPENAI_BASE_URL", "http://:80/v1"),
            ("CRITIQUE_FAILURE", "maybe"), ("UPSTREAM_TIMEOUT_SECONDS", "0"), ("UPSTREAM_TIMEOUT_SECONDS", "soon"),
            ("HEARTBEAT_SECONDS", "-1"), ("HEADER_TIMEOUT_SECONDS", "x"), ("IDLE_TIMEOUT_SECONDS", "0"), ("GRACEFUL_SHUTDOWN_SECONDS", "nan"),
            ("MAX_REQUEST_BYTES", "10"), ("MAX_REQUEST_BYTES", "1MB"), ("MAX_CONNECTIONS", "0"), ("MAX_CONCURRENT_REQUESTS", "0"),
            ("MAX_QUEUED_REQUESTS", "-5"), ("CRITIQUE_SKIP_PATTERNS", "(unclosed"),
        ]
        for (variable, value) in cases {
            var env = Self.minimal
            env[variable] = value
            env["CRITIQUE_MODEL_NAME"] = "c"
            guard let e = invalid(env) else {
                XCTFail("\(variable)=\(value) was accepted")
                continue
            }
            XCTAssertEqual(e.variable, variable, "\(variable)=\(value): \(e)")
            XCTAssertTrue(e.description.contains(variable))
            XCTAssertFalse(e.description.contains("\n"), "one line")
        }
        XCTAssertEqual(invalid([:])?.variable, "PRIMARY_MODEL_NAME")
        XCTAssertEqual(invalid(["PRIMARY_MODEL_NAME": "  "])?.variable, "PRIMARY_MODEL_NAME")
        XCTAssertEqual(invalid(["PRIMARY_MODEL_NAME": "m", "PRIMARY_BASE_URL": "nope"])?.variable, "PRIMARY_BASE_URL")
        XCTAssertEqual(invalid(["PRIMARY_MODEL_NAME": "m", "CRITIQUE_MODEL_NAME": "c", "CRITIQUE_BASE_URL": "nope"])?.variable, "CRITIQUE_BASE_URL")
        XCTAssertEqual(invalid(["PRIMARY_MODEL_NAME": "m"], dotEnv: ["PORT": "x"])?.variable, "PORT", "a bad .env value is named too")
    }

    func testPerStageOverrides() throws {
        let c = try load(["OPENAI_BASE_URL": "http://shared:1/v1", "OPENAI_API_KEY": "shared-key",
                          "PRIMARY_BASE_URL": "http://primary-host:2/v1", "PRIMARY_API_KEY": "p-key",
                          "CRITIQUE_MODEL_NAME": "critic", "CRITIQUE_BASE_URL": "https://critic-host/api/v1", "CRITIQUE_API_KEY": "c-key"])
        XCTAssertEqual(c.primary.host, "primary-host")
        XCTAssertEqual(c.primary.port, 2)
        XCTAssertEqual(c.primary.apiKey, "p-key")
        XCTAssertEqual(c.critique?.scheme, .https)
        XCTAssertEqual(c.critique?.port, 443)
        XCTAssertEqual(c.critique?.chatPath, "/api/v1/chat/completions")
        XCTAssertEqual(c.critique?.apiKey, "c-key")
        let partial = try load(["OPENAI_BASE_URL": "http://shared:1/v1", "OPENAI_API_KEY": "shared-key", "PRIMARY_API_KEY": "p-only",
                                "CRITIQUE_MODEL_NAME": "critic"])
        XCTAssertEqual(partial.primary.host, "shared")
        XCTAssertEqual(partial.primary.apiKey, "p-only")
        XCTAssertEqual(partial.critique?.apiKey, "shared-key")
    }

    func testAzureEndpointKeepsPathAndQueryAndUsesApiKeyHeader() throws {
        let url = "https://my-resource.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01"
        let c = try load(["OPENAI_BASE_URL": url, "OPENAI_API_KEY": "azure-key"])
        XCTAssertTrue(c.primary.isAzure)
        XCTAssertEqual(c.primary.authHeader?.0, "api-key")
        XCTAssertEqual(c.primary.authHeader?.1, "azure-key")
        XCTAssertEqual(c.primary.chatPath, "/openai/deployments/gpt-4o/chat/completions")
        XCTAssertEqual(c.primary.query, "api-version=2024-06-01")
        XCTAssertEqual(c.primary.url(c.primary.chatPath), url)
        XCTAssertEqual(c.primary.target(c.primary.chatPath), "/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01")

        let plain = try load(["OPENAI_BASE_URL": "http://h:9/custom/chat/completions", "OPENAI_API_KEY": "k"])
        XCTAssertFalse(plain.primary.isAzure)
        XCTAssertEqual(plain.primary.authHeader?.0, "Authorization")
        XCTAssertEqual(plain.primary.authHeader?.1, "Bearer k")
        XCTAssertEqual(plain.primary.chatPath, "/custom/chat/completions", "a full /chat/completions URL is kept")
        XCTAssertEqual(plain.primary.modelsPath, "/custom/models")
    }

    func testEndpointURLForms() throws {
        for (base, host, port, chat) in [("http://localhost:11434/v1", "localhost", 11434, "/v1/chat/completions"),
                                         ("http://[::1]:8080/v1", "[::1]", 8080, "/v1/chat/completions"),
                                         ("HTTP://Example.com", "Example.com", 80, "/chat/completions"),
                                         ("  https://api.openai.com/v1/  ", "api.openai.com", 443, "/v1/chat/completions")] {
            let e = try UpstreamEndpoint(baseURL: base, apiKey: nil, model: "m")
            XCTAssertEqual(e.host, host, base)
            XCTAssertEqual(Int(e.port), port, base)
            XCTAssertEqual(e.chatPath, chat, base)
        }
        XCTAssertThrowsError(try UpstreamEndpoint(baseURL: "http://user:pw@host/v1", apiKey: nil, model: "m"), "credentials in URLs are refused")
        XCTAssertThrowsError(try UpstreamEndpoint(baseURL: "http://host:0/v1", apiKey: nil, model: "m"))
    }

    func testSecretsAreMaskedInTheSummary() throws {
        let c = try load(["OPENAI_API_KEY": "sk-verysecretvalue123", "PROXY_API_KEY": "proxy-secret-456", "CRITIQUE_MODEL_NAME": "c"])
        XCTAssertFalse(c.summary.contains("verysecretvalue123"))
        XCTAssertFalse(c.summary.contains("proxy-secret-456"))
        XCTAssertTrue(c.summary.contains("primary=llama3.2@"))
    }

    func testSkipPatterns() throws {
        let c = try load(["CRITIQUE_MODEL_NAME": "c"])
        XCTAssertTrue(c.isBackgroundTask(lastUserText: "### Task:\nGenerate a title"))
        XCTAssertFalse(c.isBackgroundTask(lastUserText: "What does ### Task: mean?"))
        XCTAssertFalse(c.isBackgroundTask(lastUserText: nil))
        let off = try load(["CRITIQUE_MODEL_NAME": "c", "CRITIQUE_SKIP_PATTERNS": ""])
        XCTAssertTrue(off.skipPatterns.isEmpty, "set but empty turns the feature off")
        XCTAssertFalse(off.isBackgroundTask(lastUserText: "### Task: title"))
        let custom = try load(["CRITIQUE_SKIP_PATTERNS": "^(title|tags):||^summari[sz]e"])
        XCTAssertTrue(custom.isBackgroundTask(lastUserText: "tags: a, b"))
        XCTAssertTrue(custom.isBackgroundTask(lastUserText: "summarize this"))
        XCTAssertFalse(custom.isBackgroundTask(lastUserText: "please summarize"))
    }

    func testNewerSwitchesAreValidated() throws {
        let c = try load(["SHOW_DRAFT": "reasoning", "CRITIQUE_ROUNDS": "3", "STRICT_MODELS": "yes", "PASSTHROUGH_MODELS": "0"])
        XCTAssertTrue(c.showDraft)
        XCTAssertEqual(c.rounds, 3)
        XCTAssertTrue(c.strictModels)
        XCTAssertFalse(c.passthroughModels)
        for (variable, value) in [("SHOW_DRAFT", "always"), ("CRITIQUE_ROUNDS", "0"), ("CRITIQUE_ROUNDS", "6"), ("STRICT_MODELS", "perhaps"),
                                  ("PASSTHROUGH_MODELS", "2"), ("PIPELINES_FILE", "no/such/file.json")] {
            XCTAssertEqual(invalid(Self.minimal.merging([variable: value]) { $1 })?.variable, variable, "\(variable)=\(value)")
        }
    }

    func testPipelinesFileSchemaErrorsNameThePath() throws {
        let cases: [(String, String)] = [
            ("[]", "$.pipelines"),
            (#"{"pipelines":[{"id":"a"}]}"#, "$.pipelines[0].primary"),
            (#"{"pipelines":[{"id":"a","primary":{"base_url":"http://h/v1","model":"m"},"extra":1}]}"#, "$.pipelines[0].extra"),
            (#"{"pipelines":[{"id":"a","primary":{"base_url":"http://h/v1","model":"m"}},{"id":"a","primary":{"base_url":"http://h/v1","model":"m"}}]}"#, "$.pipelines[1].id"),
            (#"{"pipelines":[{"id":"a","primary":{"base_url":"nope","model":"m"}}]}"#, "$.pipelines[0].primary.base_url"),
            (#"{"pipelines":[{"id":"a","primary":{"base_url":"http://h/v1","model":"m"},"rounds":7}]}"#, "$.pipelines[0].rounds"),
            ("{not json", "$"),
        ]
        for (i, (json, path)) in cases.enumerated() {
            let file = NSTemporaryDirectory() + "/hydracodedone-config-test-\(getpid())-\(i).json"
            try json.write(toFile: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: file) }
            let e = invalid(Self.minimal.merging(["PIPELINES_FILE": file]) { $1 })
            XCTAssertEqual(e?.variable, "PIPELINES_FILE", json)
            XCTAssertTrue(e?.description.contains(path + ":") ?? false, "\(json): \(String(describing: e))")
        }
    }

    func testShippedMergePromptFileMatchesTheBuiltInDefault() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Configuration/critique-merge-prompt.txt")
        let text = try String(contentsOf: file, encoding: .utf8)
        XCTAssertEqual(text.trimmingCharacters(in: .whitespacesAndNewlines), DefaultPrompt.merge.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func testDraftsFallbacksAndRetriesFromTheEnvironment() throws {
        let c = try load(Self.minimal.merging([
            "DRAFTS": "3", "CRITIQUE_MODEL_NAME": "crit", "OPENAI_BASE_URL": "http://ollama:11434/v1", "OPENAI_API_KEY": "sk-own",
            "PRIMARY_FALLBACKS": "llama3.2@http://ollama:11434/v1, gpt-4o-mini@https://api.openai.com/v1|CLOUD_KEY\nqwen@http://other:8000/v1",
            "CLOUD_KEY": "sk-cloud", "UPSTREAM_RETRIES": "2", "UPSTREAM_RETRY_MAX_WAIT_SECONDS": "4", "UPSTREAM_COOLDOWN_SECONDS": "0",
        ]) { $1 })
        XCTAssertEqual(c.drafts, 3)
        XCTAssertEqual(c.primaryFallbacks.map(\.model), ["llama3.2", "gpt-4o-mini", "qwen"])
        XCTAssertEqual(c.primaryFallbacks.map(\.apiKey), ["sk-own", "sk-cloud", nil], "own host: own key; |ENV: that key; else none")
        XCTAssertEqual(c.primaryFallbacks[1].url("/x"), "https://api.openai.com/x")
        XCTAssertEqual(c.retry.retries, 2)
        XCTAssertEqual(c.retry.maxWait, .seconds(4))
        XCTAssertEqual(c.retry.cooldown, .zero)
        XCTAssertTrue(c.secrets.contains("sk-cloud"), "a fallback's key is a secret too")
        for (variable, value) in [("DRAFTS", "0"), ("DRAFTS", "9"), ("PRIMARY_FALLBACKS", "no-at-sign"), ("PRIMARY_FALLBACKS", "m@ftp://x"),
                                  ("PRIMARY_FALLBACKS", "m@http://x/v1|UNSET_KEY_VAR"), ("UPSTREAM_RETRIES", "6"), ("UPSTREAM_COOLDOWN_SECONDS", "-1")] {
            XCTAssertEqual(invalid(Self.minimal.merging([variable: value]) { $1 })?.variable, variable, "\(variable)=\(value)")
        }
    }

    func testPipelinesWithSeveralPrimariesDraftsAndFallbacks() throws {
        let json = #"""
        {"pipelines":[{"id":"moa","primaries":[{"base_url":"http://a/v1","model":"m1"},{"base_url":"http://b/v1","model":"m2"}],
                       "critique":{"base_url":"http://c/v1","model":"judge","fallbacks":[{"base_url":"https://cloud/v1","model":"judge-2","api_key_env":"CLOUD_KEY"}]},
                       "drafts":3},
                      {"id":"solo","primary":{"base_url":"http://a/v1","model":"m1","fallbacks":[{"base_url":"http://b/v1","model":"m1b"}]},"critique":null}]}
        """#
        let file = NSTemporaryDirectory() + "/hydracodedone-config-test-\(getpid())-moa.json"
        try json.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let c = try load(Self.minimal.merging(["PIPELINES_FILE": file, "CLOUD_KEY": "sk-cloud"]) { $1 })
        let moa = try XCTUnwrap(c.pipelines.first { $0.id == "moa" })
        XCTAssertEqual(moa.primaries.map(\.model), ["m1", "m2"])
        XCTAssertEqual(moa.drafts, 3)
        XCTAssertEqual(moa.critiqueFallbacks.map(\.model), ["judge-2"])
        XCTAssertEqual(moa.critiqueFallbacks.first?.apiKey, "sk-cloud")
        let solo = try XCTUnwrap(c.pipelines.first { $0.id == "solo" })
        XCTAssertEqual(solo.primaryFallbacks.map(\.model), ["m1b"])

        let planner = RequestPlanner(config: c, upstreamModels: [])
        var request = try ChatRequest(validating: Array(#"{"model":"moa","messages":[{"role":"user","content":"hi"}]}"#.utf8))
        guard case .pipeline(let choice) = planner.plan(request, control: try RequestControl.take(from: &request)) else { return XCTFail("no pipeline") }
        XCTAssertEqual(choice.drafts.map(\.model), ["m1", "m2", "m1"], "primaries are used in turn")

        for (json, path) in [
            (#"{"pipelines":[{"id":"a","primary":{"base_url":"http://h/v1","model":"m"},"primaries":[{"base_url":"http://h/v1","model":"m"}]}]}"#, "$.pipelines[0].primaries"),
            (#"{"pipelines":[{"id":"a","primary":{"base_url":"http://h/v1","model":"m"},"drafts":9}]}"#, "$.pipelines[0].drafts"),
            (#"{"pipelines":[{"id":"a","primary":{"base_url":"http://h/v1","model":"m","fallbacks":{}}}]}"#, "$.pipelines[0].primary.fallbacks"),
        ] {
            try json.write(toFile: file, atomically: true, encoding: .utf8)
            let e = invalid(Self.minimal.merging(["PIPELINES_FILE": file]) { $1 })
            XCTAssertTrue(e?.description.contains(path + ":") ?? false, "\(json): \(String(describing: e))")
        }
    }
}
