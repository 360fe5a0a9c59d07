extension StringProtocol {
    /// Trims any of the scalars in `set` from both ends. By scalar, not Character: as a Character,
    /// "\r\n" is one grapheme, so a set written "\r\n" would not trim a lone "\n".
    func trimmingCharacters(_ set: String) -> String {
        let scalars = Set(set.unicodeScalars)
        var s = Substring(self).unicodeScalars[...]
        while let f = s.first, scalars.contains(f) { s.removeFirst() }
        while let l = s.last, scalars.contains(l) { s.removeLast() }
        return String(String.UnicodeScalarView(s))
    }
}
