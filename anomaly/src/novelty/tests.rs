use super::*;

/// A member over [0, 70] (levels of width 10) with no silence.
fn declared() -> LevelNovelty {
    LevelNovelty::new(Some([0.0, 70.0]))
}

#[test]
fn a_repeating_pattern_stops_scoring_and_a_new_level_scores_high() {
    let mut m = declared();
    let pattern = [5.0, 15.0, 25.0, 15.0];
    let mut last_round = Vec::new();
    for round in 0..50 {
        let scores: Vec<f64> = pattern.iter().map(|&v| m.update(v, 0, 0)).collect();
        if round == 49 {
            last_round = scores;
        }
    }
    assert!(last_round.iter().all(|&s| s < 0.35), "{last_round:?}");
    // A level never visited, reached by a transition never seen.
    let s = m.update(65.0, 0, 0);
    assert!(s > 0.9, "{s}");
}

#[test]
fn the_predicted_level_scores_zero() {
    let mut m = declared();
    for _ in 0..20 {
        m.update(5.0, 0, 0);
    }
    assert_eq!(m.update(5.0, 0, 0), 0.0);
}

#[test]
fn a_loud_score_silences_the_rest_period_then_scoring_resumes() {
    let mut m = declared();
    // Silenced from the start for `rest` points.
    for i in 0..10 {
        assert_eq!(m.update(if i % 2 == 0 { 5.0 } else { 35.0 }, 0, 10), 0.0);
    }
    for _ in 0..200 {
        m.update(5.0, 0, 10);
    }
    assert!(m.update(65.0, 0, 10) > LOUD, "first new level is loud");
    // Another never-seen level within the rest period is silenced...
    assert_eq!(m.update(45.0, 0, 10), 0.0);
    // (the way back down is new too, and restarts the silence)
    for _ in 0..30 {
        m.update(5.0, 0, 10);
    }
    // ...and once the series has been quiet for the rest period, a new
    // level is reported again.
    assert!(m.update(25.0, 0, 10) > LOUD);
}

#[test]
fn the_range_is_learned_from_the_first_points_when_not_declared() {
    let mut m = LevelNovelty::new(None);
    for i in 0..100 {
        assert_eq!(m.update(f64::from(i % 10), 100, 0), 0.0);
        assert_eq!(m.is_scoring(), i == 99);
    }
    for _ in 0..20 {
        m.update(5.0, 100, 0);
    }
    // Far beyond the learned range: an overflow level, never seen.
    assert!(m.update(1_000.0, 100, 0) > 0.9);
}

#[test]
fn counts_fade_by_halving_instead_of_overflowing() {
    let mut m = declared();
    for _ in 0..10_000 {
        m.update(5.0, 0, 0);
    }
    let sym = OVERFLOW; // level 0
    assert!(m.levels[sym] > 127, "{}", m.levels[sym]);
    assert_eq!(m.update(5.0, 0, 0), 0.0);
}

#[test]
fn a_constant_declared_range_still_scores_moves() {
    let mut m = LevelNovelty::new(Some([3.0, 3.0]));
    for _ in 0..50 {
        m.update(3.0, 0, 0);
    }
    assert!(m.update(6.0, 0, 0) > 0.9);
}

#[test]
fn a_member_that_has_seen_nothing_round_trips_through_json() {
    let m = LevelNovelty::new(None);
    let back: LevelNovelty = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert!(!back.is_scoring());
}

#[test]
fn a_declared_range_is_adopted_on_restore_but_does_not_replace_one_in_use() {
    let mut m = LevelNovelty::default();
    m.declare(Some([0.0, 70.0]));
    assert!(m.is_scoring());
    for _ in 0..20 {
        m.update(5.0, 0, 0);
    }
    m.declare(Some([0.0, 7_000.0]));
    // Still levels of 10: 65 is a new level, not level 0 of the wider range.
    assert!(m.update(65.0, 0, 0) > 0.9);
}

#[test]
fn state_round_trips_through_json() {
    let mut m = declared();
    for i in 0..300 {
        m.update(f64::from(i % 70), 0, 5);
    }
    let json = serde_json::to_string(&m).unwrap();
    let mut back: LevelNovelty = serde_json::from_str(&json).unwrap();
    for i in 0..100 {
        let v = f64::from((i * 7) % 90);
        assert_eq!(m.update(v, 0, 5), back.update(v, 0, 5));
    }
}

#[test]
fn without_a_declared_range_or_learning_the_member_is_silent() {
    let mut m = LevelNovelty::new(None);
    for i in 0..1_000 {
        assert_eq!(m.update(f64::from(i % 10) * 1e3, 0, 0), 0.0);
    }
    assert!(!m.is_scoring());
}

#[test]
fn tables_exist_only_once_a_range_is_known() {
    let mut m = LevelNovelty::new(None);
    assert_eq!(m.heap_bytes(), 0);
    for i in 0..10 {
        m.update(f64::from(i), 10, 0);
    }
    assert_eq!(m.heap_bytes(), SYMBOLS + SYMBOLS * SYMBOLS);
}

#[test]
fn a_damaged_checkpoint_restarts_the_counts_instead_of_panicking() {
    let mut m = declared();
    for i in 0..50 {
        m.update(f64::from(i % 3) * 10.0, 0, 0);
    }
    let mut json: serde_json::Value = serde_json::to_value(&m).unwrap();
    json["prev"] = serde_json::json!(200);
    json["transitions"] = serde_json::json!([1, 2, 3]);
    let mut back: LevelNovelty = serde_json::from_value(json).unwrap();
    let s = back.update(5.0, 0, 0);
    assert!((0.0..=1.0).contains(&s));
    assert_eq!(back.heap_bytes(), SYMBOLS + SYMBOLS * SYMBOLS);
}
