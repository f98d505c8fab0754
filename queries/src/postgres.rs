//! The PostgreSQL wire-protocol front end, so psql, drivers and Grafana's
//! PostgreSQL data source query the lake unchanged.
//!
//! The protocol, `pg_catalog` (what `\dt` and `\d` read) and the mapping of
//! Arrow types to PostgreSQL types come from `datafusion-postgres`; tocsin
//! adds what makes it safe to expose: a read-only statement guard, the same
//! memory pool as the HTTP API, a default statement timeout, password
//! authentication with the API token, and a connection limit.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::DfSessionService;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire;
use futures::Sink;
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::results::Response;
use pgwire::api::{ClientInfo, ConnectionManager, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::engine::{QueryEngine, QueryError};

/// Configuration of the PostgreSQL front end (`[postgres]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Whether to listen at all.
    pub enabled: bool,
    /// Address to listen on; unset means 127.0.0.1:5432 on a best-effort
    /// basis (a port taken by a real PostgreSQL is a warning, not a failure).
    /// Not loopback requires the API token, which clients send as the password.
    pub listen: Option<SocketAddr>,
    /// Most connections served at once; more are refused.
    pub max_connections: usize,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            enabled: true,
            listen: None,
            max_connections: 64,
        }
    }
}

impl PostgresConfig {
    /// PostgreSQL's own port on loopback.
    pub const DEFAULT_LISTEN: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5432);

    /// The address to listen on.
    pub fn address(&self) -> SocketAddr {
        self.listen.unwrap_or(Self::DEFAULT_LISTEN)
    }
}

/// The SQLSTATE PostgreSQL uses for a write in a read-only transaction.
const READ_ONLY_SQLSTATE: &str = "25006";
/// The client metadata key `datafusion-postgres` reads the statement timeout from.
const STATEMENT_TIMEOUT_KEY: &str = "statement_timeout_ms";

/// Whether `statement` only reads (or only sets session state).
fn is_read_only(statement: &Statement) -> bool {
    match statement {
        Statement::Query(_)
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowStatus { .. }
        | Statement::Set(_)
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Declare { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::Deallocate { .. }
        | Statement::Discard { .. } => true,
        // EXPLAIN ANALYZE runs its statement.
        Statement::Explain { statement, .. } => is_read_only(statement),
        Statement::ExplainTable { .. } => true,
        _ => false,
    }
}

fn read_only_error(statement: &Statement) -> PgWireError {
    let sql = statement.to_string();
    let head: String = sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        READ_ONLY_SQLSTATE.into(),
        format!("refused `{head} …`: tocsin's SQL is read-only (SELECT, WITH, EXPLAIN, SHOW, SET)"),
    )))
}

/// Refuses every statement that could write, and gives each client the
/// configured statement timeout unless it set its own.
#[derive(Debug)]
struct ReadOnlyGuard {
    default_timeout: Duration,
}

impl ReadOnlyGuard {
    fn apply_default_timeout(&self, client: &mut dyn HookClient) {
        client
            .metadata_mut()
            .entry(STATEMENT_TIMEOUT_KEY.to_string())
            .or_insert_with(|| self.default_timeout.as_millis().to_string());
    }
}

#[async_trait]
impl QueryHook for ReadOnlyGuard {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.apply_default_timeout(client);
        (!is_read_only(statement)).then(|| Err(read_only_error(statement)))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        (!is_read_only(statement)).then(|| Err(read_only_error(statement)))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.apply_default_timeout(client);
        (!is_read_only(statement)).then(|| Err(read_only_error(statement)))
    }
}

/// The API token as the password of every user.
#[derive(Debug)]
struct TokenSource {
    token: Arc<str>,
}

#[async_trait]
impl AuthSource for TokenSource {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(None, self.token.as_bytes().to_vec()))
    }
}

/// Startup without authentication (loopback without a token).
struct OpenStartup {
    connections: Arc<ConnectionManager>,
}

impl NoopStartupHandler for OpenStartup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

/// Startup with or without a password, decided by whether a token is set.
enum Startup {
    Open(OpenStartup),
    Token(Box<CleartextPasswordAuthStartupHandler<TokenSource, DefaultServerParameterProvider>>),
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Open(h) => h.on_startup(client, message).await,
            Startup::Token(h) => h.on_startup(client, message).await,
        }
    }
}

/// Everything one connection needs, shared by all connections.
struct Handlers {
    service: Arc<DfSessionService>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}

/// Builds the handlers over a fresh session of `engine` with `pg_catalog`.
fn handlers(engine: &QueryEngine, token: Option<Arc<str>>) -> Result<Handlers, QueryError> {
    let ctx = engine.new_session()?;
    setup_pg_catalog(&ctx, "tocsin", EmptyContextProvider).map_err(|e| QueryError::Plan(*e))?;
    let hooks: Vec<Arc<dyn QueryHook>> = vec![
        Arc::new(ReadOnlyGuard {
            default_timeout: engine.timeout(),
        }),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ];
    let service = Arc::new(DfSessionService::new_with_hooks(Arc::new(ctx), hooks));
    let connections = Arc::new(ConnectionManager::new());
    let startup = match token {
        None => Startup::Open(OpenStartup {
            connections: connections.clone(),
        }),
        Some(token) => Startup::Token(Box::new(
            CleartextPasswordAuthStartupHandler::new(
                TokenSource { token },
                DefaultServerParameterProvider::default(),
            )
            .with_connection_manager(connections.clone()),
        )),
    };
    Ok(Handlers {
        service,
        startup: Arc::new(startup),
        cancel: Arc::new(DefaultCancelHandler::new(connections)),
    })
}

/// Serves PostgreSQL clients on `listener` until `shutdown` turns true.
///
/// With a `token`, clients must send it as their password (any user name).
pub async fn serve_postgres(
    listener: TcpListener,
    engine: &QueryEngine,
    token: Option<Arc<str>>,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), QueryError> {
    let handlers = Arc::new(handlers(engine, token)?);
    let limit = Arc::new(Semaphore::new(max_connections.max(1)));
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "postgres: accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => return Ok(()),
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max_connections, "postgres: connection refused, at the limit");
            drop(socket);
            continue;
        };
        let handlers = handlers.clone();
        tokio::spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                tracing::debug!(%peer, error = %e, "postgres: connection ended with an error");
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests;
