//! Deterministic labelled log corpus for tests and benchmarks.
//!
//! Templates are written with holes (`{n}`, `{ms}`, `{hex}`, `{b}` as in the
//! tocsin simulator, plus IPs, UUIDs, users, paths, durations, …). Each
//! generated line carries its namespace, level, event id and ground-truth
//! template (holes replaced by `<*>`). The set deliberately includes
//! templates that differ in a single constant word, templates of different
//! lengths sharing a prefix, and variables without digits (user, table,
//! topic and program names) that masking cannot catch. As in Loghub's
//! labels, an HTTP method written as a bare word is part of the template
//! (`GET …` and `POST …` are different events), while `method=…` is a value.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::signals::Level;

/// One template of the corpus.
#[derive(Debug, Clone, Copy)]
pub struct CorpusTemplate {
    /// Namespace (service) that emits it.
    pub namespace: &'static str,
    /// Log level of its lines.
    pub level: Level,
    /// Template text with `{hole}` placeholders.
    pub text: &'static str,
}

/// One generated line with its labels.
#[derive(Debug, Clone)]
pub struct LabelledLine {
    /// Namespace (service) of the line.
    pub namespace: &'static str,
    /// Level of the line.
    pub level: Level,
    /// The log line.
    pub line: String,
    /// Ground-truth group, `E<index into TEMPLATES + 1>`.
    pub event_id: String,
    /// Ground-truth template, holes replaced by `<*>`.
    pub template: String,
}

const fn t(namespace: &'static str, level: Level, text: &'static str) -> CorpusTemplate {
    CorpusTemplate {
        namespace,
        level,
        text,
    }
}

use Level::{Error as E, Info as I, Warn as W};

/// The corpus templates: the simulator's ten, then realistic service lines.
pub const TEMPLATES: &[CorpusTemplate] = &[
    // tocsin fleet simulator (ingest/src/simulator.rs)
    t("sim", I, "GET /api/items/{n} 200 in {ms}ms"),
    t("sim", I, "user {n} logged in from 10.0.{b}.{b}"),
    t("sim", I, "cache hit for key {hex}"),
    t("sim", I, "processed order {n} in {ms}ms"),
    t("sim", I, "connection pool stats: active={b} idle={b}"),
    t("sim", W, "slow query on table orders took {ms}ms"),
    t("sim", W, "retrying request to inventory (attempt {b})"),
    t("sim", E, "payment provider timeout after {ms}ms"),
    t(
        "sim",
        E,
        "failed to connect to db-{b}:5432: connection refused",
    ),
    t(
        "sim",
        E,
        "unhandled exception in handler {hex}: index out of range",
    ),
    // HTTP edge
    t(
        "edge",
        I,
        "{ip} - - [{ts}] \"GET {path} HTTP/1.1\" {status} {n} \"-\" \"{agent}\"",
    ),
    t(
        "edge",
        I,
        "{ip} - - [{ts}] \"POST {path} HTTP/1.1\" {status} {n} \"-\" \"{agent}\"",
    ),
    t("edge", I, "GET {path} {status} {ms}ms"),
    t("edge", I, "POST {path} {status} {ms}ms"),
    t(
        "edge",
        I,
        "request completed method={method} path={path} status={status} duration={dur} bytes={n}",
    ),
    t(
        "edge",
        E,
        "upstream timed out (110: Connection timed out) while reading response header from upstream, client: {ip}, server: {host}, request: \"GET {path} HTTP/1.1\"",
    ),
    t(
        "edge",
        W,
        "rate limit exceeded for client {ip} on route {path}",
    ),
    // databases
    t(
        "postgres",
        E,
        "ERROR: duplicate key value violates unique constraint \"{table}_pkey\"",
    ),
    t("postgres", E, "ERROR: deadlock detected"),
    t(
        "postgres",
        I,
        "LOG: checkpoint complete: wrote {n} buffers ({float}%); {b} WAL file(s) added, {b} removed, {b} recycled; write={float} s, sync={float} s, total={float} s",
    ),
    t(
        "postgres",
        E,
        "FATAL: password authentication failed for user \"{user}\"",
    ),
    t(
        "postgres",
        I,
        "LOG: connection received: host={ip} port={port}",
    ),
    t(
        "postgres",
        I,
        "LOG: connection authorized: user={user} database={table}",
    ),
    t("postgres", W, "slow query on table {table} took {ms}ms"),
    t(
        "postgres",
        E,
        "ERROR: could not serialize access due to concurrent update",
    ),
    // Kafka consumers
    t(
        "consumer",
        I,
        "[Consumer clientId=consumer-{b}, groupId={group}] Adding newly assigned partitions: {topic}-{b}",
    ),
    t(
        "consumer",
        I,
        "[Consumer clientId=consumer-{b}, groupId={group}] Revoking previously assigned partitions {topic}-{b}",
    ),
    t(
        "consumer",
        W,
        "[Consumer clientId=consumer-{b}, groupId={group}] Member {member} sending LeaveGroup request to coordinator {host}:{port} (id: {b} rack: null)",
    ),
    t(
        "consumer",
        I,
        "Committed offset {n} for partition {topic}-{b}",
    ),
    t("consumer", I, "consumer group {group} rebalance started"),
    t("consumer", I, "consumer group {group} rebalance completed"),
    t(
        "consumer",
        W,
        "Fetch offset {n} is out of range for partition {topic}-{b}, resetting offset",
    ),
    t(
        "consumer",
        W,
        "Error while fetching metadata with correlation id {n} : {topic}=LEADER_NOT_AVAILABLE",
    ),
    // JVM services
    t(
        "jvm",
        I,
        "GC pause (G1 Evacuation Pause) (young) {n}M->{n}M({n}M) {float}ms",
    ),
    t(
        "jvm",
        I,
        "GC pause (G1 Evacuation Pause) (mixed) {n}M->{n}M({n}M) {float}ms",
    ),
    t(
        "jvm",
        E,
        "Exception in thread \"pool-{b}-thread-{b}\" java.lang.OutOfMemoryError: Java heap space",
    ),
    t(
        "jvm",
        E,
        "java.net.SocketTimeoutException: Read timed out after {ms} ms",
    ),
    t(
        "jvm",
        E,
        "HikariPool-{b} - Connection is not available, request timed out after {ms}ms.",
    ),
    t(
        "jvm",
        I,
        "Started {app} in {float} seconds (JVM running for {float})",
    ),
    t(
        "jvm",
        I,
        "Tomcat started on port(s): {port} (http) with context path ''",
    ),
    t(
        "jvm",
        W,
        "Thread pool {pool} is exhausted: active={b} max={b} queued={n}",
    ),
    // Kubernetes events
    t("kubelet", I, "Started container {container} in pod {pod}"),
    t("kubelet", I, "Stopped container {container} in pod {pod}"),
    t(
        "kubelet",
        W,
        "Back-off restarting failed container {container} in pod {pod}",
    ),
    t(
        "kubelet",
        W,
        "Liveness probe failed: HTTP probe failed with statuscode: {status}",
    ),
    t(
        "kubelet",
        W,
        "Readiness probe failed: Get \"http://{ip}:{port}/healthz\": dial tcp {ip}:{port}: connect: connection refused",
    ),
    t("kubelet", I, "Successfully assigned {ns}/{pod} to {node}"),
    t("kubelet", I, "Pulling image \"{image}\""),
    t(
        "kubelet",
        I,
        "Successfully pulled image \"{image}\" in {dur}",
    ),
    t(
        "kubelet",
        E,
        "OOMKilled container {container} in pod {pod} (exit code 137)",
    ),
    t("kubelet", W, "Node {node} status is now: NodeNotReady"),
    t("kubelet", I, "Node {node} status is now: NodeReady"),
    // authentication
    t(
        "auth",
        I,
        "Accepted password for {user} from {ip} port {port} ssh2",
    ),
    t(
        "auth",
        W,
        "Failed password for {user} from {ip} port {port} ssh2",
    ),
    t(
        "auth",
        W,
        "Failed password for invalid user {user} from {ip} port {port} ssh2",
    ),
    t("auth", W, "Invalid user {user} from {ip}"),
    t(
        "auth",
        I,
        "pam_unix(sshd:session): session opened for user {user} by (uid={n})",
    ),
    t(
        "auth",
        I,
        "pam_unix(sshd:session): session closed for user {user}",
    ),
    t("auth", I, "login succeeded for {email} via {idp}"),
    t("auth", W, "token expired for subject {uuid}"),
    t(
        "auth",
        E,
        "authorization denied: user {user} lacks role {role} on resource {path}",
    ),
    // checkout / payments
    t(
        "checkout",
        I,
        "order {uuid} placed by {email} total={float} currency={currency}",
    ),
    t("checkout", E, "payment {hex} declined: insufficient funds"),
    t("checkout", E, "payment {hex} declined: card expired"),
    t("checkout", W, "retrying payment {hex} attempt {b} of 5"),
    t(
        "checkout",
        I,
        "shipment {uuid} handed to carrier {carrier} at {ts}",
    ),
    t(
        "checkout",
        I,
        "inventory reserved for {n} items in warehouse {warehouse} after {dur}",
    ),
];

const USERS: &[&str] = &[
    "root", "admin", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "mallory",
    "oscar", "peggy", "trent", "victor", "walter", "oracle", "postgres", "deploy", "ubuntu",
];
const TABLES: &[&str] = &[
    "orders", "users", "items", "payments", "sessions", "carts", "invoices",
];
const TOPICS: &[&str] = &[
    "orders",
    "payments",
    "inventory",
    "shipments",
    "audit",
    "clicks",
];
const GROUPS: &[&str] = &[
    "checkout",
    "billing",
    "search",
    "fraud",
    "analytics",
    "mailer",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH"];
const STATUS: &[&str] = &[
    "200", "201", "204", "301", "400", "401", "403", "404", "500", "503",
];
const APPS: &[&str] = &[
    "OrderServiceApplication",
    "BillingApplication",
    "SearchApplication",
    "GatewayApplication",
];
const POOLS: &[&str] = &["http-nio", "scheduler", "async-io", "kafka-listener"];
const CONTAINERS: &[&str] = &[
    "checkout",
    "istio-proxy",
    "payments",
    "cart",
    "frontend",
    "redis",
];
const NAMESPACES: &[&str] = &["default", "shop", "payments", "monitoring"];
const IDPS: &[&str] = &["okta", "google", "github", "azuread"];
const ROLES: &[&str] = &["admin", "writer", "billing-admin", "auditor", "viewer"];
const CURRENCIES: &[&str] = &["EUR", "USD", "GBP", "CHF", "JPY"];
const CARRIERS: &[&str] = &["dhl", "ups", "fedex", "postnl", "colissimo"];
const WAREHOUSES: &[&str] = &["ams", "fra", "lhr", "cdg", "mad", "waw"];
const AGENTS: &[&str] = &[
    "curl/8.5.0",
    "python-requests/2.31",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
];
const PATH_WORDS: &[&str] = &["items", "users", "orders", "cart", "search", "health"];

fn pick<'a>(rng: &mut SmallRng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

fn fill(rng: &mut SmallRng, hole: &str, out: &mut String) {
    use std::fmt::Write;
    let _ = match hole {
        "n" => write!(out, "{}", rng.random_range(1000..99999)),
        "ms" => write!(out, "{}", rng.random_range(1..900)),
        "b" => write!(out, "{}", rng.random_range(1..255)),
        "hex" => write!(out, "{:08x}", rng.random::<u32>()),
        "float" => write!(out, "{:.3}", rng.random_range(0.0..500.0)),
        "ip" => write!(
            out,
            "{}.{}.{}.{}",
            rng.random_range(1..255),
            rng.random_range(0..255),
            rng.random_range(0..255),
            rng.random_range(1..255)
        ),
        "port" => write!(out, "{}", rng.random_range(1024..65535)),
        "ts" => write!(
            out,
            "2026-11-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            rng.random_range(1..29),
            rng.random_range(0..24),
            rng.random_range(0..60),
            rng.random_range(0..60),
            rng.random_range(0..1000)
        ),
        "uuid" => {
            let a: u128 = rng.random();
            let h = format!("{a:032x}");
            write!(
                out,
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )
        }
        "user" => write!(out, "{}", pick(rng, USERS)),
        "email" => write!(out, "{}@example.com", pick(rng, USERS)),
        "table" => write!(out, "{}", pick(rng, TABLES)),
        "topic" => write!(out, "{}", pick(rng, TOPICS)),
        "group" => write!(out, "{}", pick(rng, GROUPS)),
        "method" => write!(out, "{}", pick(rng, METHODS)),
        "status" => write!(out, "{}", pick(rng, STATUS)),
        "app" => write!(out, "{}", pick(rng, APPS)),
        "pool" => write!(out, "{}", pick(rng, POOLS)),
        "container" => write!(out, "{}", pick(rng, CONTAINERS)),
        "ns" => write!(out, "{}", pick(rng, NAMESPACES)),
        "idp" => write!(out, "{}", pick(rng, IDPS)),
        "role" => write!(out, "{}", pick(rng, ROLES)),
        "currency" => write!(out, "{}", pick(rng, CURRENCIES)),
        "carrier" => write!(out, "{}", pick(rng, CARRIERS)),
        "warehouse" => write!(out, "{}", pick(rng, WAREHOUSES)),
        "agent" => write!(out, "{}", pick(rng, AGENTS)),
        "path" => write!(
            out,
            "/api/v{}/{}/{}",
            rng.random_range(1..3),
            pick(rng, PATH_WORDS),
            rng.random_range(1..100000)
        ),
        "host" => write!(out, "node-{}.prod.internal", rng.random_range(1..64)),
        "node" => write!(
            out,
            "ip-10-0-{}-{}.ec2.internal",
            rng.random_range(0..255),
            rng.random_range(1..255)
        ),
        "pod" => write!(
            out,
            "{}-{:x}-{}",
            pick(rng, CONTAINERS),
            rng.random_range(0x1000_0000u32..0xffff_ffff),
            rng.random_range(10000..99999)
        ),
        "member" => write!(
            out,
            "consumer-{}-{:x}",
            rng.random_range(1..9),
            rng.random::<u64>()
        ),
        "image" => write!(
            out,
            "registry.local/{}:1.{}.{}",
            pick(rng, CONTAINERS),
            rng.random_range(0..20),
            rng.random_range(0..50)
        ),
        "dur" => match rng.random_range(0..3) {
            0 => write!(out, "{}ms", rng.random_range(1..999)),
            1 => write!(out, "{:.1}s", rng.random_range(0.1..60.0)),
            _ => write!(
                out,
                "{}m{}s",
                rng.random_range(1..10),
                rng.random_range(0..60)
            ),
        },
        other => write!(out, "{{{other}}}"),
    };
}

/// Ground-truth template of a corpus template: every hole becomes `<*>`.
pub fn truth_template(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(s) = rest.find('{') {
        out.push_str(&rest[..s]);
        match rest[s..].find('}') {
            Some(e) => {
                out.push_str(crate::mask::WILDCARD);
                rest = &rest[s + e + 1..];
            }
            None => {
                rest = &rest[s..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `n` labelled lines from `seed`. Template frequencies follow a Zipf-like
/// law over a seed-dependent ranking, so some templates are rare.
pub fn generate(seed: u64, n: usize) -> Vec<LabelledLine> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let k = TEMPLATES.len();
    let mut rank: Vec<usize> = (0..k).collect();
    for i in (1..k).rev() {
        rank.swap(i, rng.random_range(0..=i));
    }
    let mut cumulative = Vec::with_capacity(k);
    let mut total = 0.0;
    for r in &rank {
        total += 1.0 / (*r as f64 + 1.0).powf(0.8);
        cumulative.push(total);
    }
    let truths: Vec<String> = TEMPLATES.iter().map(|t| truth_template(t.text)).collect();
    (0..n)
        .map(|_| {
            let x = rng.random_range(0.0..total);
            let i = cumulative.partition_point(|&c| c <= x).min(k - 1);
            let tpl = &TEMPLATES[i];
            let mut line = String::with_capacity(tpl.text.len() + 32);
            let mut rest = tpl.text;
            while let Some(s) = rest.find('{') {
                line.push_str(&rest[..s]);
                let Some(e) = rest[s..].find('}') else { break };
                fill(&mut rng, &rest[s + 1..s + e], &mut line);
                rest = &rest[s + e + 1..];
            }
            line.push_str(rest);
            LabelledLine {
                namespace: tpl.namespace,
                level: tpl.level,
                line,
                event_id: format!("E{}", i + 1),
                template: truths[i].clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_covering() {
        let a = generate(1, 20_000);
        let b = generate(1, 20_000);
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.line == y.line && x.event_id == y.event_id)
        );
        assert_ne!(
            generate(2, 50).iter().map(|l| &l.line).collect::<Vec<_>>(),
            a[..50].iter().map(|l| &l.line).collect::<Vec<_>>()
        );
        let ids: std::collections::BTreeSet<_> = a.iter().map(|l| l.event_id.as_str()).collect();
        assert_eq!(ids.len(), TEMPLATES.len());
        assert!(TEMPLATES.len() >= 50);
        assert!(
            a.iter()
                .all(|l| !l.line.contains('{') || l.line.contains("{}"))
        );
        assert_eq!(truth_template("a {n} b {x}"), "a <*> b <*>");
    }
}
