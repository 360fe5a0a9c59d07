import Synchronization

/// Ids need to be unique and unguessable enough for logs, not secret: one getrandom at start
/// seeds a SplitMix64 sequence, so an id costs no system call (it was 25 per request).
enum IDSource {
    private static let state = Atomic<UInt64>(SystemRandomNumberGenerator().nextSeed)

    static func next() -> UInt64 {
        var z = state.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SystemRandomNumberGenerator {
    var nextSeed: UInt64 {
        var g = self
        return g.next()
    }
}
