import ArgumentParser
import Foundation
import OrderService

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Whether a consistency token (user-service's ECST-Token) is applied by a consumer.",
        discussion: """
            Prints applied, pending, rolled_back or unknown (see docs/design.md#read-your-writes). \
            Exit status 0 when applied, 3 when pending, 4 when it rolled back or names no transaction.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The consumer to ask about.")
    var consumer = defaultConsumerName

    @Argument(help: "The token, as an ECST-Token header gave it.")
    var token: String

    func validate() throws {
        guard ConsistencyToken(token) != nil else { throw ValidationError("'\(token.prefix(40))' is not a consistency token") }
    }

    func run() async throws {
        let token = ConsistencyToken(token)!
        var state = ConsistencyToken.State.pending
        try await withDatabase(database) { client in
            state = try await TokenWatch.states(of: [token], consumer: consumer, database: client)[token] ?? .pending
        }
        if database.json {
            try printJSON(ConsumerStatus.TokenState(token: token.text, state: state))
        } else {
            print(state.rawValue)
        }
        switch state {
        case .applied: return
        case .pending: throw ExitCode(3)
        case .rolledBack, .unknown: throw ExitCode(4)
        }
    }
}
