import Foundation

/// Timestamps in the ISO form sessions are set to (`DateStyle = ISO`, `TimeZone = UTC`), with
/// microseconds, PostgreSQL's precision.
enum PostgresTimestamp {
    static func format(_ date: Date) -> String {
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        var seconds = Int(floor(micros / 1_000_000))
        var fraction = Int(micros - Double(seconds) * 1_000_000)
        if fraction >= 1_000_000 {
            seconds += 1
            fraction -= 1_000_000
        }
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let fractionText = String(fraction)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%@Z",
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec),
            String(repeating: "0", count: 6 - fractionText.count) + fractionText
        )
    }

    /// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff]][+HH[:MM]]`; a missing zone is UTC.
    static func parse(_ text: String) -> Date? {
        if text == "infinity" { return .distantFuture }
        if text == "-infinity" { return .distantPast }
        let chars = Array(text.utf8)
        var index = 0
        func number(_ digits: Int) -> Int? {
            guard index + digits <= chars.count else { return nil }
            var value = 0
            for _ in 0..<digits {
                let c = chars[index]
                guard c >= 48, c <= 57 else { return nil }
                value = value * 10 + Int(c - 48)
                index += 1
            }
            return value
        }
        func expect(_ c: UInt8) -> Bool {
            guard index < chars.count, chars[index] == c else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect(45), let month = number(2), expect(45), let day = number(2) else { return nil }
        var hour = 0
        var minute = 0
        var second = 0
        var fraction = 0.0
        var offsetSeconds = 0
        if index < chars.count, chars[index] == 32 || chars[index] == 84 {  // ' ' or 'T'
            index += 1
            guard let h = number(2), expect(58), let m = number(2), expect(58), let s = number(2) else { return nil }
            (hour, minute, second) = (h, m, s)
            if expect(46) {  // '.'
                var digits = 0
                var scale = 1.0
                while index < chars.count, chars[index] >= 48, chars[index] <= 57 {
                    digits = digits * 10 + Int(chars[index] - 48)
                    scale *= 10
                    index += 1
                }
                fraction = Double(digits) / scale
            }
            if index < chars.count {
                let sign: Int
                switch chars[index] {
                case 43: sign = 1
                case 45: sign = -1
                case 90: sign = 0
                default: return nil
                }
                index += 1
                if sign != 0 {
                    guard let oh = number(2) else { return nil }
                    var om = 0
                    var os = 0
                    if expect(58) { om = number(2) ?? 0 }
                    if expect(58) { os = number(2) ?? 0 }
                    offsetSeconds = sign * (oh * 3600 + om * 60 + os)
                }
            }
        }
        guard index == chars.count else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch - offsetSeconds) + fraction)
    }
}
