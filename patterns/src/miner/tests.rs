use super::*;

fn miner() -> PatternMiner {
    PatternMiner::new(MinerConfig::default()).unwrap()
}

#[test]
fn groups_lines_and_generalises() {
    let mut m = miner();
    let a = m.observe(
        "svc",
        1,
        "user alice logged in from 10.0.0.1 after 12 attempts",
    );
    assert!(a.is_new);
    let b = m.observe(
        "svc",
        2,
        "user alice logged in from 10.0.0.2 after 3 attempts",
    );
    assert_eq!(b.pattern_id, a.pattern_id);
    assert!(!b.is_new && !b.template_changed);
    let c = m.observe(
        "svc",
        3,
        "user bob logged in from 10.0.0.3 after 1 attempts",
    );
    assert_eq!(c.pattern_id, a.pattern_id);
    assert!(c.template_changed);
    let info = m.pattern(a.pattern_id).unwrap();
    assert_eq!(
        info.template,
        "user <*> logged in from <*> after <*> attempts"
    );
    assert_eq!(
        (info.count, info.first_seen_ns, info.last_seen_ns),
        (3, 1, 3)
    );
    assert_eq!(
        info.example,
        "user alice logged in from 10.0.0.1 after 12 attempts"
    );
    // A different constant in a short template, and another length, split.
    let d = m.observe("svc", 4, "connection to db opened");
    let e = m.observe("svc", 5, "connection to db closed");
    assert!(e.is_new);
    let f = m.observe("svc", 6, "connection to db closed again");
    assert_ne!(d.pattern_id, e.pattern_id);
    assert_ne!(e.pattern_id, f.pattern_id);
    // Namespaces never share templates.
    let g = m.observe("other", 7, "connection to db opened");
    assert_ne!(g.pattern_id, d.pattern_id);
    assert_eq!(m.pattern(g.pattern_id).unwrap().namespace, "other");
    assert_eq!(m.len(), 5);
}

#[test]
fn variable_first_word_joins_across_prefixes() {
    let mut m = miner();
    let a = m.observe(
        "p",
        0,
        "chrome.exe - proxy.example.com:5070 open through proxy proxy.example.com:5070 HTTPS",
    );
    let b = m.observe(
        "p",
        0,
        "firefox.exe - proxy.example.com:5070 open through proxy proxy.example.com:5070 HTTPS",
    );
    assert_eq!(a.pattern_id, b.pattern_id);
    let c = m.observe(
        "p",
        0,
        "QQ.exe - 10.1.2.3:443 open through proxy proxy.example.com:5070 HTTPS",
    );
    assert_eq!(a.pattern_id, c.pattern_id);
    assert_eq!(
        m.pattern(a.pattern_id).unwrap().template,
        "<*> - <*> open through proxy <*> HTTPS"
    );
}

#[test]
fn third_distinct_word_turns_a_slot_into_a_variable() {
    let mut m = miner();
    let a = m.observe("s", 0, "session closed for user alice");
    let b = m.observe("s", 1, "session closed for user bob");
    // Two words could be alternative constants: still apart.
    assert_ne!(a.pattern_id, b.pattern_id);
    let c = m.observe("s", 2, "session closed for user carol");
    // The third merges all three into the oldest; the others redirect.
    assert_eq!(c.pattern_id, a.pattern_id);
    assert!(c.template_changed);
    assert_eq!(m.len(), 1);
    assert_eq!(m.resolve(b.pattern_id), Some(a.pattern_id));
    let info = m.pattern(b.pattern_id).unwrap();
    assert_eq!(
        (info.template.as_str(), info.count),
        ("session closed for user <*>", 3)
    );
    let d = m.observe("s", 3, "session closed for user dave");
    assert_eq!(d.pattern_id, a.pattern_id);
    // Two constant alternatives stay apart, however often they occur.
    for i in 10..30 {
        m.observe("s", i, &format!("node n-{i} status is now: NodeReady"));
        m.observe("s", i, &format!("node n-{i} status is now: NodeNotReady"));
    }
    assert_eq!(m.len(), 3);
    // Short templates need two anchoring words: "X command" never merges.
    for w in ["boot", "halt", "risBoot", "wait"] {
        m.observe("s", 0, &format!("{w} command"));
    }
    assert_eq!(m.len(), 7);
    // Two slots varying together merge once each shows three words.
    let e = m.observe("s", 0, "task t_1 moved from NEW to QUEUED");
    m.observe("s", 0, "task t_1 moved from QUEUED to RUNNING");
    let f = m.observe("s", 0, "task t_1 moved from RUNNING to DONE");
    assert_eq!(e.pattern_id, f.pattern_id);
    assert_eq!(
        m.pattern(e.pattern_id).unwrap().template,
        "task t_1 moved from <*> to <*>"
    );
}

#[test]
fn ids_are_deterministic_and_printable() {
    let lines = ["a 1 b", "a 2 b", "c d e", "x y", "c d f"];
    let run = || {
        let mut m = miner();
        lines
            .iter()
            .map(|l| m.observe("n", 0, l).pattern_id)
            .collect::<Vec<_>>()
    };
    let ids = run();
    assert_eq!(ids, run());
    let s = ids[0].to_string();
    assert_eq!(s.len(), 16);
    assert_eq!(PatternId::try_from(s).unwrap(), ids[0]);
    assert!(PatternId::try_from("zz".to_string()).is_err());
}

#[test]
fn snapshot_restore_gives_identical_ids() {
    let corpus = crate::corpus::generate(7, 6_000);
    let cfg = MinerConfig {
        max_patterns: 40,
        ..MinerConfig::default()
    };
    let mut a = PatternMiner::new(cfg).unwrap();
    for (i, l) in corpus[..3_000].iter().enumerate() {
        a.observe(l.namespace, i as i64, &l.line);
    }
    let json = serde_json::to_string(&a).unwrap();
    let mut b: PatternMiner = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&b).unwrap(), json);
    for (i, l) in corpus[3_000..].iter().enumerate() {
        let oa = a.observe(l.namespace, i as i64, &l.line);
        let ob = b.observe(l.namespace, i as i64, &l.line);
        assert_eq!(oa, ob, "line {i}: {}", l.line);
    }
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    assert!(
        serde_json::from_str::<PatternMiner>(
            "{\"config\":{\"max_patterns\":0},\"tick\":0,\"seq\":0,\"patterns\":[]}"
        )
        .is_err()
    );
}

#[test]
fn memory_stays_bounded_under_unique_lines() {
    let cfg = MinerConfig {
        max_patterns: 500,
        ..MinerConfig::default()
    };
    let mut m = PatternMiner::new(cfg).unwrap();
    let mut x = 0x1234_5678_9abc_def0u64;
    for i in 0..50_000u64 {
        // Random digit-free words: every line is a template of its own.
        let mut line = String::new();
        for _ in 0..6 {
            for _ in 0..6 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                line.push(char::from(b'g' + (x % 20) as u8));
            }
            line.push(' ');
        }
        let o = m.observe(if i % 2 == 0 { "a" } else { "b" }, i as i64, &line);
        assert!(m.pattern(o.pattern_id).is_some());
        assert!(m.len() <= 500);
    }
    assert!(m.len() >= 490);
    // Indexes shrink with the table: nothing dangles after evictions.
    let leaf_refs: usize = m.leaves.values().map(Vec::len).sum();
    let group_refs: usize = m.groups.values().map(Vec::len).sum();
    assert_eq!(group_refs, m.len());
    assert!(leaf_refs <= m.len() * m.cfg.max_aliases);
    assert!(m.slots.len() <= 501);
    assert_eq!(m.by_id.len(), m.len());
}

#[test]
fn lru_keeps_hot_templates() {
    let cfg = MinerConfig {
        max_patterns: 64,
        ..MinerConfig::default()
    };
    let mut m = PatternMiner::new(cfg).unwrap();
    let hot = m.observe("n", 0, "heartbeat ok").pattern_id;
    for i in 0..1_000 {
        m.observe(
            "n",
            i,
            &format!(
                "unique{} word",
                char::from(b'a' + (i % 26) as u8)
                    .to_string()
                    .repeat(1 + i as usize / 26)
            ),
        );
        m.observe("n", i, "heartbeat ok");
    }
    assert!(m.pattern(hot).is_some());
    assert_eq!(m.pattern(hot).unwrap().count, 1_001);
}

#[test]
fn config_is_validated_and_strict() {
    assert!(
        PatternMiner::new(MinerConfig {
            similarity_threshold: 1.5,
            ..MinerConfig::default()
        })
        .is_err()
    );
    assert!(
        PatternMiner::new(MinerConfig {
            max_patterns: 0,
            ..MinerConfig::default()
        })
        .is_err()
    );
    let cfg: MinerConfig =
        serde_json::from_str("{\"max_patterns\": 7, \"mask\": {\"numbers\": false}}").unwrap();
    assert_eq!(cfg.max_patterns, 7);
    assert!(!cfg.mask.numbers && cfg.mask.ipv4);
    assert!(serde_json::from_str::<MinerConfig>("{\"bogus\": 1}").is_err());
}

#[test]
fn empty_and_long_lines() {
    let mut m = miner();
    let a = m.observe("n", 0, "");
    let b = m.observe("n", 0, "   ");
    assert_eq!(a.pattern_id, b.pattern_id);
    let long = "w ".repeat(10_000);
    let c = m.observe("n", 0, &long);
    let info = m.pattern(c.pattern_id).unwrap();
    assert_eq!(info.template.split(' ').count(), 128);
    assert!(info.example.len() <= 512);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any input, including multi-byte text and stray `<*>`, yields a
        /// live template with one template word per line token.
        #[test]
        fn observe_never_panics_and_templates_align(lines in proptest::collection::vec("[ a-zA-Z0-9<>*=./:,()é€\\-]{0,40}", 1..20)) {
            let mut m = PatternMiner::new(MinerConfig { max_patterns: 8, ..MinerConfig::default() }).unwrap();
            for (i, l) in lines.iter().enumerate() {
                let o = m.observe("p", i as i64, l);
                let info = m.pattern(o.pattern_id).unwrap();
                let words = if info.template.is_empty() { 0 } else { info.template.split(' ').count() };
                prop_assert_eq!(words, l.split_ascii_whitespace().count());
                prop_assert!(m.len() <= 8);
            }
        }
    }
}
