use super::*;

fn masked(m: &Masker, line: &str) -> String {
    let mut toks = Vec::new();
    let line = m.rewrite(line);
    m.tokenize(&line, 128, &mut toks);
    toks.iter()
        .map(|t| t.text(&line))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn masks_common_variables() {
    let m = Masker::new(MaskConfig::default()).unwrap();
    assert_eq!(
        masked(&m, "GET /api/items/42 200 in 12ms from 10.0.3.4:8080"),
        "GET <*> <*> in <*> from <*>"
    );
    assert_eq!(masked(&m, "retrying (attempt 3)"), "retrying (attempt <*>)");
    assert_eq!(masked(&m, "user=bob id=7 ok"), "user=<*> id=<*> ok");
    assert_eq!(
        masked(
            &m,
            "mail alice@example.com uuid 123e4567-e89b-12d3-a456-426614174000,"
        ),
        "mail <*> uuid <*>,"
    );
    assert_eq!(masked(&m, "addr fe80::1 took 3.5s"), "addr <*> took <*>");
    assert_eq!(
        masked(&m, "Connection closed [preauth]"),
        "Connection closed [preauth]"
    );
}

#[test]
fn classifiers_respect_config() {
    let cfg = MaskConfig {
        digit_tokens: false,
        numbers: false,
        ..MaskConfig::default()
    };
    let m = Masker::new(cfg).unwrap();
    assert_eq!(masked(&m, "n 42 ip 1.2.3.4 blk_9"), "n 42 ip <*> blk_9");
    assert!(is_duration(b"1h30m") && is_duration(b"12ms") && !is_duration(b"12abc"));
    assert!(is_hex(b"0xdeadbeef") && is_hex(b"a1b2c3d4") && !is_hex(b"abc"));
    assert!(is_ipv4(b"10.1.2.3:80") && !is_ipv4(b"10.1.2") && !is_ipv4(b"1.2.3.4:"));
    assert!(is_path(b"/var/log") && is_path(b"C:\\Windows") && is_path(b"http://x"));
    assert!(!is_path(b"/") && !is_email(b"@x.y"));
    assert!(is_compound(b"chrome.exe") && is_compound(b"yarn,curi") && is_compound(b"n.leader"));
    assert!(
        !is_compound(b"Back-off")
            && !is_compound(b"E_FAIL")
            && !is_compound(b"a.")
            && !is_compound(b"...")
    );
    assert_eq!(core_of(b"(n.leader),"), b"n.leader");
}

#[test]
fn extra_regex_and_long_lines() {
    let cfg = MaskConfig {
        extra_regexes: vec!["user [a-z]+".into()],
        ..MaskConfig::default()
    };
    let m = Masker::new(cfg).unwrap();
    assert_eq!(masked(&m, "login user bob ok"), "login <*> ok");
    let mut toks = Vec::new();
    m.tokenize("a b c d e f", 3, &mut toks);
    assert_eq!(toks.len(), 3);
    assert!(toks[2].wild);
    assert_eq!(toks[2].text("a b c d e f"), "<*>");
    assert!(
        Masker::new(MaskConfig {
            extra_regexes: vec!["(".into()],
            ..MaskConfig::default()
        })
        .is_err()
    );
}
