//! `map['key']` over maps whose keys are `Utf8View`.
//!
//! Queries see labels, attributes and annotations as maps of views
//! ([`crate::table::query_schema`]). DataFusion plans `attributes['route']`
//! as `get_field(attributes, 'route')` and compares the key as given, so a
//! plain string literal against view keys fails at execution ("Invalid
//! comparison operation: Utf8 == Utf8View"). [`MapAccessPlanner`] runs
//! before DataFusion's own field-access planner and hands `get_field` the
//! key in the map's key type.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawFieldAccessExpr};
use datafusion::logical_expr::{Expr, ExprSchemable, GetFieldAccess, cast};

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
        if key.get_type(schema)? == key_type {
            return Ok(PlannerResult::Original(access));
        }
        let key = match (key, &key_type) {
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
                datafusion::functions::core::get_field(),
                vec![access.expr, key],
            ),
        )))
    }
}
