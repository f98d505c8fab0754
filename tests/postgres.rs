//! The PostgreSQL front end with real clients: Debian's `psql` (simple
//! queries, `\dt`, `\d`) and psycopg from PyPI (extended protocol with
//! parameters and prepared statements); the read-only guard and password
//! authentication with the API token.

mod common;

use std::process::Command;

use common::*;

/// Runs psql against `port`; returns (success, stdout, stderr).
fn psql(port: u16, password: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("psql");
    cmd.arg(format!(
        "host=127.0.0.1 port={port} user=tocsin dbname=tocsin sslmode=disable connect_timeout=10"
    ))
    .args(["-X", "-At", "-v", "ON_ERROR_STOP=1"])
    .args(args)
    .env_remove("PGPASSWORD")
    .env("PGCONNECT_TIMEOUT", "10");
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    } else {
        // Never prompt: a test must fail, not hang, when a password is asked.
        cmd.arg("-w");
    }
    let out = cmd
        .output()
        .expect("running psql (Debian package postgresql-client)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn ingest_three_lines(tocsin: &Tocsin) {
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let body = [
        log_line(now, "checkout", "error", "t-1", "a"),
        log_line(now, "checkout", "info", "t-2", "a"),
        log_line(now, "cart", "info", "t-3", "b"),
    ]
    .join("\n");
    let (status, report) = tocsin.post("/v1/ingest/logs", &body).await.unwrap();
    assert_eq!(status, 200, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_and_psycopg_query_the_lake() {
    let dir = TestDir::new("postgres");
    let mut tocsin = Tocsin::start_with(dir.path(), QUIET).await;
    ingest_three_lines(&tocsin).await;
    let port = tocsin.pg_port;

    let (ok, out, err) = psql(port, None, &["-c", "SELECT count(*) FROM logs"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "3");

    let (ok, out, err) = psql(
        port,
        None,
        &[
            "-c",
            "SELECT service, count(*) FROM logs GROUP BY service ORDER BY service",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "cart|1\ncheckout|2");

    // \dt lists the lake's tables, \d describes one.
    let (ok, out, err) = psql(port, None, &["-c", "\\dt"]);
    assert!(ok, "{err}");
    for table in [
        "logs",
        "metrics",
        "alerts",
        "incidents",
        "decisions",
        "changes",
    ] {
        assert!(
            out.lines().any(|l| l.contains(&format!("|{table}|"))),
            "{table} missing from \\dt:\n{out}"
        );
    }
    let (ok, out, err) = psql(port, None, &["-c", "\\d logs"]);
    assert!(ok, "{err}");
    for column in ["service", "message", "trace_id", "pattern_id"] {
        assert!(
            out.contains(column),
            "{column} missing from \\d logs:\n{out}"
        );
    }

    // Writes are refused with the read-only SQLSTATE; the server stays up.
    for sql in [
        "DELETE FROM logs",
        "CREATE TABLE t (a INT)",
        "INSERT INTO logs (message) VALUES ('x')",
        "COPY logs TO '/tmp/tocsin-copy'",
    ] {
        let (ok, _, err) = psql(port, None, &["-c", sql]);
        assert!(!ok, "{sql} was accepted");
        assert!(err.contains("read-only"), "{sql}: {err}");
    }
    let (ok, _, err) = psql(port, None, &["-c", "SELECT * FROM '/etc/passwd'"]);
    assert!(!ok, "reading /etc/passwd was accepted");
    assert!(!err.contains("root:"), "{err}");

    // psycopg: parameters (extended protocol) and a prepared statement.
    let script = r#"
import sys, psycopg
with psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="tocsin", dbname="tocsin", sslmode="disable", connect_timeout=10) as conn:
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM logs WHERE service = %s", ("checkout",))
    print(cur.fetchone()[0])
    for svc in ("cart", "checkout"):
        cur.execute("SELECT count(*) FROM logs WHERE service = %s AND level = %s", (svc, "info"), prepare=True)
        print(cur.fetchone()[0])
    cur.execute("SELECT trace_id FROM logs WHERE service = %(s)s ORDER BY trace_id", {"s": "checkout"})
    print(",".join(r[0] for r in cur.fetchall()))
    try:
        cur.execute("DELETE FROM logs WHERE service = %s", ("cart",))
        print("write accepted")
    except psycopg.Error as e:
        print("refused", e.sqlstate)
"#;
    let out = Command::new(test_python())
        .args(["-c", script, &port.to_string()])
        .output()
        .expect("running the test venv's python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "psycopg failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "2\n1\n1\nt-1,t-2\nrefused 25006", "{stdout}");

    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_token_is_the_password() {
    let dir = TestDir::new("postgres-auth");
    let mut tocsin = Tocsin::configure(dir.path(), QUIET);
    let text = std::fs::read_to_string(&tocsin.config).unwrap();
    std::fs::write(
        &tocsin.config,
        text.replace("[http]\n", "[http]\nauth_token = \"s3cret\"\n"),
    )
    .unwrap();
    tocsin.start().await;
    let port = tocsin.pg_port;

    let (ok, _, err) = psql(port, None, &["-c", "SELECT 1"]);
    assert!(!ok, "no password was accepted");
    assert!(err.contains("password"), "{err}");
    let (ok, _, err) = psql(port, Some("wrong"), &["-c", "SELECT 1"]);
    assert!(!ok, "a wrong password was accepted");
    assert!(
        err.to_lowercase().contains("password") || err.contains("authentication"),
        "{err}"
    );
    let (ok, out, err) = psql(port, Some("s3cret"), &["-c", "SELECT 40 + 2"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "42");

    let status = tocsin.terminate();
    assert!(status.success(), "tocsin exited with {status}");
}
