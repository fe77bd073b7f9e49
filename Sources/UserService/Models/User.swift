/// A user as the API shows it.
public struct User: Codable, Sendable, Equatable {
    public var id: Int64
    public var firstname: String
    public var lastname: String
    public var email: String

    public init(id: Int64, firstname: String, lastname: String, email: String) {
        self.id = id
        self.firstname = firstname
        self.lastname = lastname
        self.email = email
    }
}
