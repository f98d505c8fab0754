//! `map['key']` over a batch of attribute maps: tocsin's `get_field`
//! (one comparison kernel and one `take`) against DataFusion's (a copy call
//! per row), on the shape the lake's `attributes` column has.
//!
//! ```sh
//! cargo bench --workspace --bench map_access
//! ```

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, MapBuilder, StringViewBuilder};
use arrow::datatypes::Field;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::common::ScalarValue;
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF};
use tocsin_queries::udf::MapGetField;

const ROWS: usize = 8_192;
const ROUTES: [&str; 4] = ["checkout", "cart", "search", "users"];

/// A batch of `{http.status, route}` maps, as the benchmark lake holds.
fn attributes() -> ArrayRef {
    let mut m = MapBuilder::new(None, StringViewBuilder::new(), StringViewBuilder::new());
    for i in 0..ROWS {
        m.keys().append_value("http.status");
        m.values()
            .append_value(if i % 50 == 0 { "500" } else { "200" });
        m.keys().append_value("route");
        m.values().append_value(ROUTES[i % ROUTES.len()]);
        m.append(true).expect("entries are balanced");
    }
    Arc::new(m.finish())
}

fn args(map: &ArrayRef, key: &ScalarValue, udf: &ScalarUDF) -> ScalarFunctionArgs {
    let arg_fields = vec![
        Arc::new(Field::new("attributes", map.data_type().clone(), true)),
        Arc::new(Field::new("key", key.data_type(), false)),
    ];
    let return_field = udf
        .return_field_from_args(ReturnFieldArgs {
            arg_fields: &arg_fields,
            scalar_arguments: &[None, Some(key)],
        })
        .expect("a map value field");
    ScalarFunctionArgs {
        args: vec![
            ColumnarValue::Array(map.clone()),
            ColumnarValue::Scalar(key.clone()),
        ],
        arg_fields,
        number_rows: map.len(),
        return_field,
        config_options: Arc::new(ConfigOptions::default()),
    }
}

fn bench(c: &mut Criterion) {
    let map = attributes();
    let key = ScalarValue::Utf8View(Some("route".into()));
    let ours = ScalarUDF::from(MapGetField::new());
    let datafusion = datafusion::functions::core::get_field();
    let mut g = c.benchmark_group("map_get");
    g.throughput(Throughput::Elements(ROWS as u64));
    for (name, udf) in [("tocsin", &ours), ("datafusion", datafusion.as_ref())] {
        g.bench_function(name, |b| {
            b.iter(|| {
                udf.invoke_with_args(args(&map, &key, udf))
                    .expect("lookup succeeds")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
