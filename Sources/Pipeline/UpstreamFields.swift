import OpenAIWire

/// Top-level fields of an upstream's answer that the client should see as they were: they say
/// which backend configuration and which service tier produced the text.
enum UpstreamFields {
    static let names = ["system_fingerprint", "service_tier"]

    static func kept(from object: JSONObject) -> JSONObject {
        var out = JSONObject()
        for name in names {
            if let v = object[name], !v.isNull { out[name] = v }
        }
        return out
    }
}
