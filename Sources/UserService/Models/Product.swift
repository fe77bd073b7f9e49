/// A product of the catalogue as the API shows it.
public struct Product: Codable, Sendable, Equatable {
    public var id: Int64
    public var description: String
    public var price: Int
    public var qtyAvailable: Int

    enum CodingKeys: String, CodingKey {
        case id, description, price
        case qtyAvailable = "qty_available"
    }

    public init(id: Int64, description: String, price: Int, qtyAvailable: Int) {
        self.id = id
        self.description = description
        self.price = price
        self.qtyAvailable = qtyAvailable
    }
}
