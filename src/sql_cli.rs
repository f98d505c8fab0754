//! `tocsin sql`: asks the running server (so hot, unflushed rows are seen)
//! and falls back to reading the lake directly when no server answers.

use std::sync::Arc;

use anyhow::{Context, bail};
use arrow::ipc::reader::StreamReader;
use tocsin_ingest::LakeLayout;
use tocsin_queries::{HotStore, QueryEngine, QueryOutput, output};

use crate::config::Config;
use crate::server::ARROW_STREAM;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned table.
    Table,
    /// A JSON array of row objects.
    Json,
}

/// Runs `query` and prints the result.
pub async fn run_sql(
    cfg: &Config,
    query: &str,
    url: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let base = url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("http://{}", cfg.http.listen));
    let out = match query_server(&base, cfg.http.token()?.as_deref(), query).await {
        Ok(Some(out)) => out,
        Ok(None) => {
            eprintln!(
                "note: no tocsin server at {base}; reading the lake at {} directly (rows from the last seconds may be missing)",
                cfg.lake_dir().display()
            );
            let layout = LakeLayout::new(cfg.lake_dir());
            let engine = QueryEngine::try_new(&layout, Arc::new(HotStore::new()), &cfg.query)?;
            engine.query(query).await?
        }
        Err(e) => return Err(e),
    };
    let text = match format {
        OutputFormat::Table => output::to_pretty(&out)?,
        OutputFormat::Json => String::from_utf8(output::to_json_rows(&out)?)?,
    };
    println!("{text}");
    Ok(())
}

/// `Ok(None)` when nothing listens at `base`.
async fn query_server(
    base: &str,
    token: Option<&str>,
    query: &str,
) -> anyhow::Result<Option<QueryOutput>> {
    let client = reqwest::Client::new();
    let mut req = client
        .post(format!("{}/v1/sql", base.trim_end_matches('/')))
        .header(reqwest::header::ACCEPT, ARROW_STREAM)
        .header(reqwest::header::CONTENT_TYPE, "text/plain")
        .body(query.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Ok(None),
        Err(e) => return Err(e).context("querying the tocsin server"),
    };
    let status = resp.status();
    let body = resp.bytes().await.context("reading the server's answer")?;
    if !status.is_success() {
        let msg = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        bail!("{msg}");
    }
    let reader = StreamReader::try_new(std::io::Cursor::new(body), None)
        .context("the server's answer is not an Arrow stream")?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(Some(QueryOutput { schema, batches }))
}
