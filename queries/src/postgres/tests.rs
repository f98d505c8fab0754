use super::*;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

fn statement(sql: &str) -> Statement {
    let mut parsed = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
    assert_eq!(parsed.len(), 1, "{sql}");
    parsed.remove(0)
}

#[test]
fn reads_and_session_statements_pass() {
    for sql in [
        "SELECT 1",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "EXPLAIN SELECT * FROM logs",
        "SHOW TABLES",
        "SET statement_timeout = '5s'",
        "SHOW search_path",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "DECLARE c CURSOR FOR SELECT 1",
        "FETCH 10 FROM c",
        "CLOSE c",
        "DISCARD ALL",
    ] {
        assert!(is_read_only(&statement(sql)), "{sql}");
    }
}

#[test]
fn writes_are_refused_with_the_read_only_sqlstate() {
    for sql in [
        "INSERT INTO logs (message) VALUES ('x')",
        "UPDATE logs SET message = 'x'",
        "DELETE FROM logs",
        "CREATE TABLE t (a INT)",
        "CREATE VIEW v AS SELECT 1",
        "DROP TABLE logs",
        "ALTER TABLE logs ADD COLUMN x INT",
        "TRUNCATE logs",
        "COPY logs TO '/tmp/x'",
        "EXPLAIN ANALYZE DELETE FROM logs",
        "GRANT SELECT ON logs TO bob",
        "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql",
    ] {
        let s = statement(sql);
        assert!(!is_read_only(&s), "{sql}");
        let PgWireError::UserError(info) = read_only_error(&s) else {
            panic!("not a user error");
        };
        assert_eq!(info.code, READ_ONLY_SQLSTATE);
        assert!(info.message.contains("read-only"), "{}", info.message);
    }
}
