/// An age such as `90s`, `30m`, `12h`, `7d` or `2w`, as `ecst prune --keep` takes it.
public enum KeepDuration {
    public static func seconds(from text: String) throws -> Int {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800]
        guard let unit = text.last, let factor = units[unit], let amount = Int(text.dropLast()), amount >= 0 else {
            throw OperationsError(.invalidArgument, "'\(text)' is not a duration: use a whole number and one of s, m, h, d, w (for example 7d)")
        }
        let (seconds, overflow) = amount.multipliedReportingOverflow(by: factor)
        guard !overflow, seconds <= 100 * 365 * 86_400 else {
            throw OperationsError(.invalidArgument, "'\(text)' is longer than a century")
        }
        return seconds
    }
}
