@main struct OrderServiceApp { static func main() {} }
