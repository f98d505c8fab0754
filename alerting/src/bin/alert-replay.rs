//! Replays an alert stream through Lifecycle + Dispatcher and prints a JSON summary.
//! Also rewrites an Alertmanager config for the comparison script (webhooks pointed
//! at a local receiver, durations divided by a time-compression factor).

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use tocsin_alerting::{
    AlertmanagerConfig, LifecycleConfig, Pipeline, PromDuration, Route, parse_duration,
    read_alert_stream,
};
use yaml_serde::Value;

#[derive(Clone, Copy, ValueEnum)]
enum LcMode {
    /// Default lifecycle: volatile labels dropped from identity, flap damping on.
    Default,
    /// All labels identify, no flap damping (closest to Alertmanager).
    Passthrough,
}

/// Replay an alert stream (JSON lines) through tocsin's alert pipeline.
#[derive(Parser)]
struct Args {
    /// alertmanager.yml
    #[arg(long)]
    config: PathBuf,
    /// Alert stream (JSON lines). Not needed with --emit-am-config.
    #[arg(long)]
    alerts: Option<PathBuf>,
    /// Time compression: stream times and config durations are divided by this
    /// factor (the same transform the Alertmanager comparison applies).
    #[arg(long, default_value_t = 1.0)]
    speedup: f64,
    /// Lifecycle settings.
    #[arg(long, value_enum, default_value_t = LcMode::Default)]
    lifecycle: LcMode,
    /// Print every notification as a JSON line before the summary.
    #[arg(long)]
    verbose: bool,
    /// Instead of replaying: write a copy of the config with every receiver's
    /// integrations replaced by one webhook to `<webhook-url>/<receiver>` and all
    /// durations divided by --speedup.
    #[arg(long)]
    emit_am_config: Option<PathBuf>,
    /// Base URL for --emit-am-config.
    #[arg(long, default_value = "http://127.0.0.1:9/")]
    webhook_url: String,
}

fn scale(d: PromDuration, f: f64) -> PromDuration {
    PromDuration(((d.0 as f64) / f).round().max(1_000_000.0) as i64)
}

fn scale_str(v: &Value, f: f64) -> Option<Value> {
    let d = parse_duration(v.as_str()?).ok()?;
    // Whole milliseconds: Alertmanager cannot parse finer durations.
    let ms = (scale(d, f).0 / 1_000_000).max(1);
    Some(Value::String(format!("{ms}ms")))
}

fn rewrite_route(r: &mut Value, f: f64) {
    for k in ["group_wait", "group_interval", "repeat_interval"] {
        if let Some(nv) = r.get(k).and_then(|v| scale_str(v, f)) {
            r[k] = nv;
        }
    }
    if let Some(Value::Sequence(kids)) = r.get_mut("routes") {
        for k in kids {
            rewrite_route(k, f);
        }
    }
}

fn set_defaults(root: &mut Value, f: f64) {
    use tocsin_alerting::config::{
        DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL,
    };
    // Make Alertmanager's implicit defaults explicit so they are compressed too.
    for (k, d) in [
        ("group_wait", DEFAULT_GROUP_WAIT),
        ("group_interval", DEFAULT_GROUP_INTERVAL),
        ("repeat_interval", DEFAULT_REPEAT_INTERVAL),
    ] {
        if root.get(k).is_none() {
            root[k] = Value::String(d.to_string());
        }
    }
    rewrite_route(root, f);
}

fn emit_config(
    text: &str,
    cfg: &AlertmanagerConfig,
    url: &str,
    f: f64,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut v: Value = yaml_serde::from_str(text)?;
    let rt = cfg.resolve_timeout.unwrap_or(PromDuration::from_secs(300));
    if v.get("global").is_none_or(Value::is_null) {
        v["global"] = Value::Mapping(Default::default());
    }
    v["global"]["resolve_timeout"] =
        Value::String(format!("{}ms", (scale(rt, f).0 / 1_000_000).max(1)));
    if let Some(r) = v.get_mut("route") {
        set_defaults(r, f);
    }
    if let Some(Value::Sequence(rs)) = v.get_mut("receivers") {
        for r in rs.iter_mut() {
            let Some(name) = r.get("name").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            let Some(info) = cfg.receivers.get(&name) else {
                continue;
            };
            let mut m = yaml_serde::Mapping::new();
            m.insert(Value::String("name".into()), Value::String(name.clone()));
            if info.integrations > 0 {
                let mut hook = yaml_serde::Mapping::new();
                hook.insert(
                    Value::String("url".into()),
                    Value::String(format!("{}/{}", url.trim_end_matches('/'), name)),
                );
                hook.insert(
                    Value::String("send_resolved".into()),
                    Value::Bool(info.send_resolved),
                );
                m.insert(
                    Value::String("webhook_configs".into()),
                    Value::Sequence(vec![Value::Mapping(hook)]),
                );
            }
            *r = Value::Mapping(m);
        }
    }
    if let Some(g) = v.get_mut("global").and_then(Value::as_mapping_mut) {
        // Integration defaults (smtp, slack, ...) are irrelevant once receivers are webhooks.
        g.retain(|k, _| k.as_str() == Some("resolve_timeout"));
    }
    if let Some(m) = v.as_mapping_mut() {
        m.remove("templates");
    }
    Ok(yaml_serde::to_string(&v)?)
}

fn max_timing(r: &Route, out: &mut PromDuration, pick: fn(&Route) -> PromDuration) {
    *out = (*out).max(pick(r));
    for c in &r.routes {
        max_timing(c, out, pick);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    if !(a.speedup.is_finite() && a.speedup > 0.0) {
        return Err("--speedup must be positive".into());
    }
    let text = std::fs::read_to_string(&a.config)?;
    let mut cfg = AlertmanagerConfig::from_yaml(&text)?;
    if let Some(out) = &a.emit_am_config {
        std::fs::write(out, emit_config(&text, &cfg, &a.webhook_url, a.speedup)?)?;
        return Ok(());
    }
    let alerts = a.alerts.as_ref().ok_or("--alerts is required")?;
    let mut evs = read_alert_stream(BufReader::new(std::fs::File::open(alerts)?))?;
    evs.sort_by_key(|e| e.ts_ns);
    let f = a.speedup;
    if f != 1.0 {
        // Compress the config the same way emit_config does, in memory.
        cfg = AlertmanagerConfig::from_yaml(&emit_config(&text, &cfg, &a.webhook_url, f)?)?;
        let t0 = evs.first().map_or(0, |e| e.ts_ns);
        let sc = |t: i64| t0 + ((t - t0) as f64 / f) as i64;
        for e in &mut evs {
            e.ts_ns = sc(e.ts_ns);
            e.starts_at_ns = e.starts_at_ns.map(sc);
            e.ends_at_ns = e.ends_at_ns.map(sc);
        }
    }
    let mut lc = match a.lifecycle {
        LcMode::Default => LifecycleConfig::default(),
        LcMode::Passthrough => LifecycleConfig::passthrough(),
    };
    // Lifecycle durations are compressed like the stream so that --speedup changes
    // nothing but the clock (the config's resolve_timeout is already compressed).
    lc.for_duration = PromDuration((lc.for_duration.0 as f64 / f) as i64);
    lc.flap_window = PromDuration((lc.flap_window.0 as f64 / f) as i64);
    lc.flap_quiet_period = PromDuration((lc.flap_quiet_period.0 as f64 / f) as i64);
    lc.resolve_timeout = PromDuration((lc.resolve_timeout.0 as f64 / f) as i64);
    if let Some(rt) = cfg.resolve_timeout {
        lc.resolve_timeout = rt;
    }
    let (mut gw, mut gi) = (PromDuration(0), PromDuration(0));
    max_timing(&cfg.route, &mut gw, |r| r.timings.group_wait);
    max_timing(&cfg.route, &mut gi, |r| r.timings.group_interval);
    // After the last event: alerts still firing time out, then one more flush tick.
    let drain = PromDuration(lc.resolve_timeout.0 + gw.0 + 2 * gi.0);
    let mut p = Pipeline::new(lc, cfg);
    let started = Instant::now();
    let mut notes = Vec::new();
    for e in &evs {
        notes.extend(p.push(e));
    }
    let last = evs.last().map_or(0, |e| e.ts_ns);
    notes.extend(p.advance(last + drain.0));
    let secs = started.elapsed().as_secs_f64();
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    let mut alerts_in = 0usize;
    for n in &notes {
        *per.entry(n.receiver.clone()).or_default() += 1;
        alerts_in += n.alerts.len();
        if a.verbose {
            println!("{}", serde_json::to_string(n)?);
        }
    }
    let summary = serde_json::json!({
        "engine": "tocsin",
        "alerts": evs.len(),
        "transitions": p.transitions(),
        "notifications": notes.len(),
        "alerts_in_notifications": alerts_in,
        "per_receiver": per,
        "drain_s": drain.0 as f64 / 1e9,
        "stream_span_s": (last - evs.first().map_or(0, |e| e.ts_ns)) as f64 / 1e9,
        "elapsed_s": secs,
        "alerts_per_s": if secs > 0.0 { evs.len() as f64 / secs } else { 0.0 },
    });
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
