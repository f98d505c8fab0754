//! Grouping quality on the generated labelled corpus (67 templates, many of
//! them sharing words, differing in one constant, or carrying digit-free
//! variables), scored the Loghub way with the default configuration.

use tocsin_patterns::MinerConfig;
use tocsin_patterns::corpus::generate;
use tocsin_patterns::offline::{InputLine, OutputRow, mine};
use tocsin_patterns::score::score;

#[test]
fn generated_corpus_grouping_accuracy() {
    for (seed, n) in [(11u64, 100_000usize), (12, 5_000)] {
        let corpus = generate(seed, n);
        let lines: Vec<InputLine> = corpus
            .iter()
            .enumerate()
            .map(|(i, l)| InputLine {
                line_id: i.to_string(),
                namespace: l.namespace.to_string(),
                content: l.line.clone(),
                truth: None,
            })
            .collect();
        let truth: Vec<OutputRow> = corpus
            .iter()
            .enumerate()
            .map(|(i, l)| OutputRow {
                line_id: i.to_string(),
                event_id: l.event_id.clone(),
                template: l.template.clone(),
            })
            .collect();
        let res = mine(&lines, MinerConfig::default(), "default").unwrap();
        let s = score(&truth, &res.rows).unwrap();
        println!("seed {seed} lines {n}: {s:?}");
        assert!(s.grouping_accuracy >= 0.98, "{s:?}");
        assert!(s.pairwise_f1 >= 0.98, "{s:?}");
    }
}
