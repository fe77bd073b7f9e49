import Foundation

/// Progress on stderr: one line rewritten in place on a terminal, a line per tenth otherwise.
final class ProgressLine: @unchecked Sendable {
    // @unchecked Sendable: called from one task at a time (the operation's own), never concurrently.
    private let interactive = isatty(STDERR_FILENO) == 1
    private var lastTenth = -1
    private var wroteInPlace = false

    func update(_ text: String, fraction: Double? = nil) {
        if interactive {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
            wroteInPlace = true
            return
        }
        if let fraction {
            let tenth = Int(fraction * 10)
            guard tenth != lastTenth else { return }
            lastTenth = tenth
        }
        FileHandle.standardError.write(Data("\(text)\n".utf8))
    }

    func finish() {
        if wroteInPlace { FileHandle.standardError.write(Data("\n".utf8)) }
        wroteInPlace = false
        lastTenth = -1
    }
}
