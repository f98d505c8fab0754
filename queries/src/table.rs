//! A table of the catalog as DataFusion sees it: the lake's Parquet files
//! united with the hot batches.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use tocsin_ingest::{LakeLayout, Table};

use crate::hot::HotStore;

/// The lake files and hot batches of one table.
#[derive(Debug)]
pub struct TelemetryTable {
    table: Table,
    lake: Arc<ListingTable>,
    hot: Arc<HotStore>,
}

impl TelemetryTable {
    /// The table `table` of the lake at `layout`, plus `hot`.
    pub fn try_new(table: Table, layout: &LakeLayout, hot: Arc<HotStore>) -> Result<Self> {
        let dir = layout.table_dir(table);
        let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(table.schema());
        Ok(TelemetryTable {
            table,
            lake: Arc::new(ListingTable::try_new(config)?),
            hot,
        })
    }
}

#[async_trait]
impl TableProvider for TelemetryTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters prune Parquet row groups, but hot batches are not filtered
        // at the scan, so DataFusion must still apply them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let hot = self.hot.read().await;
        let lake = self.lake.scan(state, projection, filters, limit).await?;
        let batches = hot.batches(self.table);
        drop(hot);
        let memory =
            MemorySourceConfig::try_new_exec(&[batches], self.table.schema(), projection.cloned())?;
        let union = UnionExec::try_new(vec![lake, memory])?;
        Ok(union)
    }
}
