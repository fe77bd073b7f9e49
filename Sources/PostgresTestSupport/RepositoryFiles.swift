import Foundation

/// The path of `name` in the package that contains `filePath` (the folder holding Package.swift),
/// so tests can read files of the repository such as schema.sql.
public func repositoryFile(_ name: String, from filePath: String = #filePath) -> String {
    var url = URL(fileURLWithPath: filePath).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            return url.appendingPathComponent(name).path
        }
        url.deleteLastPathComponent()
    }
    return name
}
