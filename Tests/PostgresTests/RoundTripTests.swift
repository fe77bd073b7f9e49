import Foundation
import Postgres
import PostgresTestSupport
import Testing

@Suite("Values through parameters and back")
struct RoundTripTests {
    @Test(
        "text survives unchanged",
        arguments: [
            "", "plain", "it's \"quoted\"", #"back\slash \\ \n"#, "emoji 🎉👩‍👩‍👧", "日本語 ÄÖÜ ß Ω", "'; DROP TABLE t; --",
        ])
    func text(_ value: String) async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let row = try await client.query("SELECT $1::text AS v, length($1::text) AS n", [value])[0]
            #expect(try row.decode("v", as: String.self) == value)
            #expect(try row.decode("n", as: Int.self) == value.unicodeScalars.count)
        }
    }

    @Test func arraysOfIntegersAndText() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let ids: [Int64] = [3, Int64.min, 0, Int64.max]
            let texts = ["", "plain", "a,b", "{braces}", "it's \"quoted\"", #"back\slash"#, "NULL", " spaced ", "日本語 🎉"]
            let row = try await client.query(
                "SELECT $1 AS ids, cardinality($1) AS n, $2 AS texts, $2[4] AS fourth, $3::int4[] AS empty, $4 AS small",
                [ids, texts, [Int32](), [Int32(7), -1]]
            )[0]
            #expect(try row.decode("ids", as: [Int64].self) == ids)
            #expect(try row.decode("n", as: Int.self) == ids.count)
            #expect(try row.decode("texts", as: [String].self) == texts)
            #expect(try row.decode("fourth", as: String.self) == "{braces}")
            #expect(try row.decode("empty", as: [Int32].self) == [])
            #expect(try row.decode("small", as: [Int32].self) == [7, -1])
        }
    }

    @Test func arraysWithNullsOrOtherBoundsDecodeOrFailClearly() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let row = try await client.query("SELECT ARRAY[1, NULL]::int8[], '[0:1]={5,6}'::int8[], ARRAY[[1,2],[3,4]]::int8[], ARRAY[1.5]::float8[]")[0]
            #expect(throws: PostgresError.self) { try row.decode(0, as: [Int64].self) }
            #expect(try row.decode(1, as: [Int64].self) == [5, 6])
            #expect(throws: PostgresError.self) { try row.decode(2, as: [Int64].self) }
            #expect(try row.decode(3, as: [Double].self) == [1.5])
            #expect(throws: PostgresError.self) { try row.decode(3, as: [Int64].self) }
        }
    }

    @Test func oneMegabyteString() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let value = String(repeating: "abcdefghij", count: 104_858)
            let row = try await client.query("SELECT $1::text, octet_length($1::text)", [value])[0]
            #expect(try row.decode(0, as: String.self) == value)
            #expect(try row.decode(1, as: Int.self) == value.utf8.count)
        }
    }

    /// Far more than a socket takes at once: libpq queues the rest and the result thread sends it
    /// as the socket drains (ConnectionHandle.Progress.wantsWrite).
    @Test func aStatementLargerThanTheSocketBuffer() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let value = String(repeating: "0123456789abcdef", count: 2 << 20)
            let rows = try await client.query("SELECT md5($1::text), octet_length($1::text)", [value])
            #expect(try rows[0].decode(1, as: Int.self) == 32 << 20)
            #expect(try rows[0].decode(0, as: String.self) == "2c6da963315f16a8323aa3d81b488149")
        }
    }

    @Test func nullsDecodeAsOptionals() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let row = try await client.query("SELECT $1::text, $2::int8", [String?.none, Int?.none])[0]
            #expect(try row.decode(0, as: String?.self) == nil)
            #expect(try row.decode(1, as: Int?.self) == nil)
            #expect(throws: PostgresError.self) { try row.decode(1, as: Int.self) }
        }
    }

    @Test func integers() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let row = try await client.query("SELECT $1, $2, $3::int4, $4", [Int64.min, Int64.max, Int32.min, 0])[0]
            #expect(try row.decode(0, as: Int64.self) == Int64.min)
            #expect(try row.decode(1, as: Int64.self) == Int64.max)
            #expect(try row.decode(2, as: Int32.self) == Int32.min)
            #expect(try row.decode(3, as: Int.self) == 0)
        }
    }

    @Test func doubles() async throws {
        let values: [Double] = [0, -0.0, 0.1, 1.0 / 3.0, -1e300, .leastNonzeroMagnitude, .infinity, -.infinity, .greatestFiniteMagnitude]
        try await TestDatabases.shared.withClient { client, _ in
            for value in values {
                let decoded = try await client.scalar("SELECT $1::float8", [value], as: Double.self)
                #expect(decoded == value)
            }
            let nan = try await client.scalar("SELECT $1::float8", [Double.nan], as: Double.self)
            #expect(nan.isNaN)
        }
    }

    @Test func booleans() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let row = try await client.query("SELECT $1, $2, $1 AND $2", [true, false])[0]
            #expect(try row.decode(0, as: Bool.self) == true)
            #expect(try row.decode(1, as: Bool.self) == false)
            #expect(try row.decode(2, as: Bool.self) == false)
        }
    }

    @Test func timestamps() async throws {
        let dates = [
            Date(timeIntervalSince1970: 0),
            Date(timeIntervalSince1970: 1_700_000_000.123456),
            Date(timeIntervalSince1970: -86_400 * 365 * 30 + 0.5),
            Date(timeIntervalSince1970: 4_102_444_800.999999),
        ]
        try await TestDatabases.shared.withClient { client, _ in
            for date in dates {
                let row = try await client.query("SELECT $1::timestamptz, extract(epoch FROM $1::timestamptz)::float8", [date])[0]
                let decoded = try row.decode(0, as: Date.self)
                #expect(abs(decoded.timeIntervalSince1970 - date.timeIntervalSince1970) < 1e-6)
                #expect(abs(try row.decode(1, as: Double.self) - date.timeIntervalSince1970) < 1e-6)
            }
            let now = try await client.scalar("SELECT now()", as: Date.self)
            #expect(abs(now.timeIntervalSinceNow) < 60)
        }
    }

    @Test func jsonText() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let json = PostgresJSON(#"{"name": "Zoë \"Z\"", "n": [1, 2]}"#)
            let row = try await client.query("SELECT $1::jsonb -> 'n', $1::jsonb ->> 'name', $1", [json])[0]
            #expect(try row.decode(0, as: PostgresJSON.self) == PostgresJSON("[1, 2]"))
            #expect(try row.decode(1, as: String.self) == #"Zoë "Z""#)
            struct Doc: Decodable, Equatable {
                var name: String
                var n: [Int]
            }
            #expect(try row.decode(2, as: PostgresJSON.self).decoded(as: Doc.self) == Doc(name: #"Zoë "Z""#, n: [1, 2]))
        }
    }

    @Test func decodingTheWrongTypeIsAnError() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let row = try await client.query("SELECT 'x'::text, 1::int4, now()")[0]
            do {
                _ = try row.decode(0, as: Int.self)
                Issue.record("decoded text as Int")
            } catch let error as PostgresError {
                #expect(error.code == .decoding)
            }
            #expect(throws: PostgresError.self) { try row.decode(1, as: Bool.self) }
            #expect(throws: PostgresError.self) { try row.decode(2, as: Int.self) }
            #expect(throws: PostgresError.self) { try row.decode(9, as: Int.self) }
            #expect(throws: PostgresError.self) { try row.decode("missing", as: Int.self) }
        }
    }

    @Test func nulCharactersAreRefusedBeforeSending() async throws {
        try await TestDatabases.shared.withClient { client, _ in
            let error = await capturePostgresError {
                try await client.query("SELECT $1::text", ["a\u{0}b"])
            }
            #expect(error?.code == .invalidInput)
            let stillWorks = try await client.scalar("SELECT 1", as: Int.self)
            #expect(stillWorks == 1)
        }
    }

    @Test func preparedStatementsAreReused() async throws {
        try await TestDatabases.shared.withClient(maximumConnections: 1) { client, _ in
            try await client.withConnection { connection in
                for i in 0..<3 {
                    let n = try await connection.prepared("SELECT $1::int8 + 1", [i])[0].decode(0, as: Int.self)
                    #expect(n == i + 1)
                }
                let count = try await connection.scalar("SELECT count(*) FROM pg_prepared_statements", as: Int.self)
                #expect(count == 1)
            }
        }
    }
}
