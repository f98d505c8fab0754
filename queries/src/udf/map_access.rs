//! `map['key']` over maps whose keys are `Utf8View`.
//!
//! Queries see labels, attributes and annotations as maps of views
//! ([`crate::table::query_schema`]). DataFusion plans `attributes['route']`
//! as `get_field(attributes, 'route')` and compares the key as given, so a
//! plain string literal against view keys fails at execution ("Invalid
//! comparison operation: Utf8 == Utf8View"). [`MapAccessPlanner`] runs
//! before DataFusion's own field-access planner and hands `get_field` the
//! key in the map's key type.
//!
//! It also plans [`MapGetField`] in place of DataFusion's `get_field`:
//! the same function, with a vectorised path for a map column looked up by
//! a constant key. DataFusion copies the matching value of every row into
//! the result one `MutableArrayData::extend` call at a time; on the SQL
//! benchmark's `attributes` query those calls were a fifth of the profile.

use std::sync::Arc;

use arrow::array::{Array, AsArray, UInt32Array};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::compute::kernels::cmp::eq;
use arrow::datatypes::FieldRef;
use datafusion::arrow::array::Scalar;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawFieldAccessExpr};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExprSchemable, ExpressionPlacement, GetFieldAccess,
    ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, cast,
};

/// Plans `map[key]` with the key cast to the map's key type; leaves every
/// other field access to the planners after it.
#[derive(Debug, Default)]
pub struct MapAccessPlanner;

impl ExprPlanner for MapAccessPlanner {
    fn plan_field_access(
        &self,
        access: RawFieldAccessExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawFieldAccessExpr>> {
        // `m['k']` arrives as a named field, `m[expr]` as an index.
        let key = match &access.field_access {
            GetFieldAccess::ListIndex { key } => key.as_ref().clone(),
            GetFieldAccess::NamedStructField { name } => Expr::Literal(name.clone(), None),
            GetFieldAccess::ListRange { .. } => return Ok(PlannerResult::Original(access)),
        };
        let DataType::Map(entries, _) = access.expr.get_type(schema)? else {
            return Ok(PlannerResult::Original(access));
        };
        let key_type = match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => fields[0].data_type().clone(),
            _ => return Ok(PlannerResult::Original(access)),
        };
        let key = match (key, &key_type) {
            (key, _) if key.get_type(schema)? == key_type => key,
            // A literal becomes a literal of the key type, so the function
            // still sees a constant (and can be pushed to the scan).
            (
                Expr::Literal(ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s), _),
                DataType::Utf8View,
            ) => Expr::Literal(ScalarValue::Utf8View(s), None),
            (other, _) => cast(other, key_type),
        };
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(
                Arc::new(ScalarUDF::from(MapGetField::new())),
                vec![access.expr, key],
            ),
        )))
    }
}

/// DataFusion's `get_field` (same name, planning and results), computing
/// `map[constant key]` with one comparison kernel over all keys and one
/// `take` of the values instead of a copy call per row.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MapGetField {
    inner: Arc<ScalarUDF>,
}

impl MapGetField {
    /// Wraps DataFusion's `get_field`.
    pub fn new() -> Self {
        MapGetField {
            inner: datafusion::functions::core::get_field(),
        }
    }
}

impl Default for MapGetField {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for MapGetField {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn placement(&self, args: &[ExpressionPlacement]) -> ExpressionPlacement {
        self.inner.inner().placement(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let [ColumnarValue::Array(map), ColumnarValue::Scalar(key)] = args.args.as_slice()
            && let Some(values) = lookup(map, key)?
        {
            return Ok(ColumnarValue::Array(values));
        }
        self.inner.invoke_with_args(args)
    }
}

/// The value under `key` in each row of `map` (null where the row is null
/// or lacks the key; the first match where a key repeats, as DataFusion
/// picks). `None` when `map` is not a map or `key` not of its key type, so
/// the caller falls back to DataFusion's general path.
fn lookup(map: &dyn Array, key: &ScalarValue) -> Result<Option<Arc<dyn Array>>> {
    let Some(map) = map.as_map_opt() else {
        return Ok(None);
    };
    if key.is_null() || key.data_type() != *map.key_type() {
        return Ok(None);
    }
    // Keys are never null in a valid map; should one be, it does not match.
    let matches = eq(map.keys(), &Scalar::new(key.to_array()?))?;
    let hit = match matches.nulls() {
        Some(nulls) => matches.values() & nulls.inner(),
        None => matches.values().clone(),
    };
    let offsets = map.value_offsets();
    let mut index = Vec::with_capacity(map.len());
    let mut found = Vec::with_capacity(map.len());
    for (row, w) in offsets.windows(2).enumerate() {
        let hit_at = if map.is_valid(row) {
            (w[0] as usize..w[1] as usize).find(|&i| hit.value(i))
        } else {
            None
        };
        index.push(hit_at.map_or(0, |i| i as u32));
        found.push(hit_at.is_some());
    }
    let index = UInt32Array::new(ScalarBuffer::from(index), Some(NullBuffer::from(found)));
    Ok(Some(arrow::compute::take(map.values(), &index, None)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, MapBuilder, StringViewBuilder};
    use arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;

    /// Rows: {a: 1, b: 2}, null, {}, {b: 3, b: 4}, {a: 5}, {c: 6}.
    fn maps() -> ArrayRef {
        let mut m = MapBuilder::new(None, StringViewBuilder::new(), StringViewBuilder::new());
        let rows: [Option<&[(&str, &str)]>; 6] = [
            Some(&[("a", "1"), ("b", "2")]),
            None,
            Some(&[]),
            Some(&[("b", "3"), ("b", "4")]),
            Some(&[("a", "5")]),
            Some(&[("c", "6")]),
        ];
        for row in rows {
            match row {
                Some(entries) => {
                    for (k, v) in entries {
                        m.keys().append_value(k);
                        m.values().append_value(v);
                    }
                    m.append(true).unwrap();
                }
                None => m.append(false).unwrap(),
            }
        }
        Arc::new(m.finish())
    }

    /// What DataFusion's own `get_field` returns for `map[key]`.
    fn datafusion_get_field(map: &ArrayRef, key: &ScalarValue) -> ArrayRef {
        let udf = datafusion::functions::core::get_field();
        let arg_fields = vec![
            Arc::new(Field::new("m", map.data_type().clone(), true)),
            Arc::new(Field::new("k", key.data_type(), false)),
        ];
        let return_field = udf
            .return_field_from_args(ReturnFieldArgs {
                arg_fields: &arg_fields,
                scalar_arguments: &[None, Some(key)],
            })
            .unwrap();
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![
                    ColumnarValue::Array(map.clone()),
                    ColumnarValue::Scalar(key.clone()),
                ],
                arg_fields,
                number_rows: map.len(),
                return_field,
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap();
        out.into_array(map.len()).unwrap()
    }

    #[test]
    fn lookup_matches_datafusion_on_missing_null_empty_and_repeated_keys() {
        let map = maps();
        for key in ["a", "b", "c", "zz"] {
            let key = ScalarValue::Utf8View(Some(key.into()));
            let ours = lookup(map.as_ref(), &key).unwrap().unwrap();
            assert_eq!(&ours, &datafusion_get_field(&map, &key), "key {key}");
        }
        let b = lookup(map.as_ref(), &ScalarValue::Utf8View(Some("b".into())))
            .unwrap()
            .unwrap();
        let b = b.as_string_view();
        // The first of a repeated key wins, as in DataFusion.
        assert_eq!(b.value(3), "3");
        assert!(b.is_null(1) && b.is_null(2) && b.is_null(4));
    }

    #[test]
    fn lookup_reads_a_sliced_map_at_its_own_rows() {
        let map = maps();
        let sliced = map.slice(3, 3);
        let key = ScalarValue::Utf8View(Some("a".into()));
        let ours = lookup(sliced.as_ref(), &key).unwrap().unwrap();
        assert_eq!(&ours, &datafusion_get_field(&sliced, &key));
        assert_eq!(ours.len(), 3);
        assert_eq!(ours.as_string_view().value(1), "5");
    }

    #[test]
    fn lookup_matches_datafusion_on_generated_maps() {
        // A fixed pseudo-random mix of null, empty and 1–5-entry rows over
        // four keys, repeats included, read whole and sliced.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut m = MapBuilder::new(None, StringViewBuilder::new(), StringViewBuilder::new());
        for row in 0..2_000 {
            match next(10) {
                0 => m.append(false).unwrap(),
                1 => m.append(true).unwrap(),
                _ => {
                    for e in 0..=next(5) {
                        m.keys().append_value(format!("k{}", next(4)));
                        m.values().append_value(format!("row {row} entry {e}"));
                    }
                    m.append(true).unwrap();
                }
            }
        }
        let map: ArrayRef = Arc::new(m.finish());
        for array in [map.clone(), map.slice(17, 1_500)] {
            for key in ["k0", "k1", "k2", "k3", "k9"] {
                let key = ScalarValue::Utf8View(Some(key.into()));
                let ours = lookup(array.as_ref(), &key).unwrap().unwrap();
                assert_eq!(&ours, &datafusion_get_field(&array, &key), "key {key}");
            }
        }
    }

    #[test]
    fn other_key_types_and_non_maps_take_the_general_path() {
        let map = maps();
        assert!(
            lookup(map.as_ref(), &ScalarValue::Utf8(Some("a".into())))
                .unwrap()
                .is_none()
        );
        assert!(
            lookup(map.as_ref(), &ScalarValue::Utf8View(None))
                .unwrap()
                .is_none()
        );
        let not_a_map: ArrayRef = Arc::new(UInt32Array::from(vec![1, 2]));
        assert!(
            lookup(not_a_map.as_ref(), &ScalarValue::Utf8View(Some("a".into())))
                .unwrap()
                .is_none()
        );
    }
}
