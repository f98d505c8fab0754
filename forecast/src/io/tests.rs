use super::*;

#[test]
fn timestamps_both_formats() {
    assert_eq!(parse_timestamp("1970-01-01 00:01:00"), Some(60));
    assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
    assert_eq!(
        parse_timestamp("2014-02-14T14:30:00Z"),
        parse_timestamp("2014-02-14 14:30:00")
    );
    assert_eq!(parse_timestamp("14/02/2014"), None);
    assert_eq!(format_timestamp(60), "1970-01-01T00:01:00Z");
}

#[test]
fn step_is_the_most_common_spacing() {
    assert_eq!(infer_step(&[0, 300, 600, 1200, 1500]), Some(300));
    assert_eq!(infer_step(&[0]), None);
}

#[test]
fn long_csv_groups_sorts_and_infers_step() {
    let csv = "series_id,timestamp,value\n\
               b,2020-01-01 01:00:00,2\n\
               a,2020-01-01T00:05:00Z,1.5\n\
               a,2020-01-01 00:00:00,1\n\
               b,2020-01-01 00:00:00,1\n";
    let s = read_long_csv(csv.as_bytes()).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].id, "a");
    assert_eq!(s[0].values, vec![1.0, 1.5]);
    assert_eq!(s[0].step_seconds, Some(300));
    assert_eq!(s[1].step_seconds, Some(3600));
}

#[test]
fn malformed_rows_name_row_and_reason() {
    let err = |csv: &str| read_long_csv(csv.as_bytes()).unwrap_err().to_string();
    let e = err("series_id,timestamp,value\na,2020-01-01 00:00:00,1\na,yesterday,2\n");
    assert!(e.starts_with("row 2:") && e.contains("yesterday"), "{e}");
    let e = err("series_id,timestamp,value\na,2020-01-01 00:00:00,abc\n");
    assert!(e.starts_with("row 1:") && e.contains("not a number"), "{e}");
    let e = err("series_id,timestamp,value\na,2020-01-01 00:00:00,NaN\n");
    assert!(e.contains("not finite"), "{e}");
    let e = err("series_id,timestamp,value\na,2020-01-01 00:00:00\n");
    assert!(e.starts_with("row 1:"), "{e}");
    let e = err("id,timestamp,value\n");
    assert!(e.contains("series_id"), "{e}");
    let e = err("series_id,timestamp,value\n,2020-01-01 00:00:00,1\n");
    assert!(e.contains("empty series_id"), "{e}");
}

#[test]
fn duplicate_timestamps_are_averaged() {
    let csv = "series_id,timestamp,value\na,2020-01-01 00:00:00,1\na,2020-01-01 00:00:00,2\n\
               a,2020-01-01 00:00:00,6\na,2020-01-01 00:05:00,4\n";
    let s = read_long_csv(csv.as_bytes()).unwrap();
    assert_eq!(s[0].values, vec![3.0, 4.0]);
    assert_eq!(s[0].timestamps.len(), 2);
}

#[test]
fn nab_file_and_round_trips() {
    let s = read_series_csv(
        "timestamp,value\n2014-02-14 14:30:00,0.132\n2014-02-14 14:35:00,0.134\n".as_bytes(),
        "x",
    )
    .unwrap();
    assert_eq!(s.values, vec![0.132, 0.134]);
    assert_eq!(s.step_seconds, Some(300));
    let mut buf = Vec::new();
    write_long_csv(&mut buf, std::slice::from_ref(&s)).unwrap();
    let back = read_long_csv(buf.as_slice()).unwrap();
    assert_eq!(back, vec![s]);
}

#[test]
fn forecast_csv_layout() {
    let f = Forecast {
        point: vec![1.0, 2.0],
        lower: vec![0.5, 1.0],
        upper: vec![1.5, 3.0],
        model: "ses".into(),
        season: None,
    };
    let mut buf = Vec::new();
    let rec = ForecastRecord {
        series_id: "s",
        start: 3600,
        step_seconds: 3600,
        forecast: &f,
    };
    write_forecasts_csv(&mut buf, &[rec]).unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert_eq!(
        text,
        "series_id,timestamp,point,lower,upper,model\n\
         s,1970-01-01T01:00:00Z,1,0.5,1.5,ses\n\
         s,1970-01-01T02:00:00Z,2,1,3,ses\n"
    );
}
