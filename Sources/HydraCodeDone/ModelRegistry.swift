import OpenAIWire

/// Answers `/v1/models`: the proxy's own model id first.
public actor ModelRegistry {
    private let created: Int
    private var proxyModel: String

    public init(proxyModel: String, created: Int) {
        self.proxyModel = proxyModel
        self.created = created
    }

    public func update(proxyModel: String) { self.proxyModel = proxyModel }

    public func ids() -> [String] { [proxyModel] }

    public func listJSON() -> JSONValue {
        .object([
            "object": .string("list"),
            "data": .array(ids().map { id in
                .object(["id": .string(id), "object": .string("model"), "created": .int(created), "owned_by": .string("hydracodedone")])
            }),
        ])
    }
}
