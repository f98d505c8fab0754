use super::*;

/// A realistic config mixing legacy and current syntax, with receiver details that
/// must be accepted and ignored.
const REALISTIC: &str = r#"
global:
  resolve_timeout: 5m
  smtp_smarthost: 'localhost:25'
  smtp_from: 'alertmanager@example.org'
  slack_api_url: 'https://hooks.example.invalid/services/XXX'
templates:
  - '/etc/alertmanager/template/*.tmpl'
route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  receiver: team-X-mails
  routes:
    - matchers:
        - service=~"foo1|foo2|baz"
      receiver: team-X-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-X-pager
    - match:
        service: files
      receiver: team-Y-mails
      routes:
        - match:
            severity: critical
          receiver: team-Y-pager
    - match_re:
        service: ^(database|db)$
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      mute_time_intervals: [offhours]
      active_time_intervals: [business]
      routes:
        - matchers: ['{owner="team-X", env!~"dev|test"}']
          receiver: team-X-pager
          continue: true
        - matchers: [owner=team-Y]
          receiver: team-Y-pager
    - receiver: catch-all
      group_by: ['...']
      matchers: [team!=""]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster, service]
  - source_match:
      severity: 'critical'
    target_match_re:
      severity: 'warning|info'
    equal: ['alertname']
receivers:
  - name: 'team-X-mails'
    email_configs:
      - to: 'team-X+alerts@example.org'
  - name: 'team-X-pager'
    email_configs:
      - to: 'team-X+alerts-critical@example.org'
    pagerduty_configs:
      - service_key: <team-X-key>
  - name: 'team-Y-mails'
    email_configs:
      - to: 'team-Y+alerts@example.org'
        send_resolved: true
  - name: 'team-Y-pager'
    pagerduty_configs:
      - service_key: <team-Y-key>
        send_resolved: false
  - name: 'team-DB-pager'
    webhook_configs:
      - url: 'http://127.0.0.1:9/hook'
  - name: catch-all
time_intervals:
  - name: business
    time_intervals:
      - weekdays: ['monday:friday']
        times:
          - start_time: '09:00'
            end_time: '17:00'
        location: 'Europe/Amsterdam'
mute_time_intervals:
  - name: offhours
    time_intervals:
      - weekdays: ['saturday', 'sunday']
      - days_of_month: ['-1']
        months: ['december']
"#;

#[test]
fn parses_realistic_config() {
    let c = AlertmanagerConfig::from_yaml(REALISTIC).unwrap();
    assert_eq!(c.resolve_timeout, Some(PromDuration(300 * 1_000_000_000)));
    assert_eq!(c.receivers.len(), 6);
    // email defaults to no resolved notifications, pagerduty/webhook to yes.
    assert!(!c.receivers["team-X-mails"].send_resolved);
    assert!(c.receivers["team-X-pager"].send_resolved);
    assert_eq!(c.receivers["team-X-pager"].integrations, 2);
    assert!(c.receivers["team-Y-mails"].send_resolved);
    assert!(!c.receivers["team-Y-pager"].send_resolved);
    assert_eq!(c.receivers["catch-all"].integrations, 0);
    assert_eq!(c.route.routes.len(), 4);
    assert_eq!(c.route.timings.repeat_interval.0, 3 * 3600 * 1_000_000_000);
    let db = &c.route.routes[2];
    assert_eq!(db.matchers[0].op, MatchOp::Regex);
    assert_eq!(db.mute_time_intervals, vec!["offhours".to_string()]);
    assert_eq!(db.routes[0].matchers.len(), 2);
    assert!(db.routes[0].continue_matching);
    assert_eq!(db.routes[1].matchers[0].value, "team-Y");
    assert_eq!(c.route.routes[3].group_by, GroupBy::All);
    assert_eq!(c.inhibit_rules.len(), 2);
    assert_eq!(c.inhibit_rules[1].target[0].op, MatchOp::Regex);
    assert_eq!(c.time_intervals.len(), 2);
    assert_eq!(c.time_intervals["offhours"].time_intervals.len(), 2);
}

#[test]
fn legacy_regex_with_anchors_still_works() {
    let c = AlertmanagerConfig::from_yaml(REALISTIC).unwrap();
    let m = &c.route.routes[2].matchers[0];
    assert!(m.matches_value("db"));
    assert!(!m.matches_value("dbx"));
}

#[test]
fn rejects_invalid_configs() {
    let cases = [
        "route: {}\nreceivers: [{name: a}]",
        "route: {receiver: b}\nreceivers: [{name: a}]",
        "route: {receiver: a, matchers: ['x=y']}\nreceivers: [{name: a}]",
        "route: {receiver: a, routes: [{mute_time_intervals: [nope]}]}\nreceivers: [{name: a}]",
        "route: {receiver: a, group_wait: 5x}\nreceivers: [{name: a}]",
        "route: {receiver: a, group_by: ['...', x]}\nreceivers: [{name: a}]",
        "route: {receiver: a}\nreceivers: [{name: a}, {name: a}]",
        "route: {receiver: a, routes: [{matchers: ['x=~\"(\"']}]}\nreceivers: [{name: a}]",
        "receivers: [{name: a}]",
        "route: [",
    ];
    for y in cases {
        assert!(AlertmanagerConfig::from_yaml(y).is_err(), "{y}");
    }
}

#[test]
fn defaults_match_alertmanager() {
    let c = AlertmanagerConfig::from_yaml("route: {receiver: a}\nreceivers: [{name: a}]").unwrap();
    assert_eq!(c.route.timings.group_wait, DEFAULT_GROUP_WAIT);
    assert_eq!(c.route.timings.group_interval, DEFAULT_GROUP_INTERVAL);
    assert_eq!(c.route.timings.repeat_interval, DEFAULT_REPEAT_INTERVAL);
    assert_eq!(c.route.group_by, GroupBy::Labels(vec![]));
    assert_eq!(c.route.id, "{}");
    assert_eq!(c.resolve_timeout, None);
}
