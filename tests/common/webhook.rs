//! A webhook receiver that records what it is sent.

use super::*;

// ---------------------------------------------------------------------------
// Webhook receiver

/// A local HTTP server that records every JSON body POSTed to it.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    /// The bodies received, in order.
    pub received: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Starts the receiver on a free loopback port; it answers 200 to valid JSON.
    pub async fn start() -> WebhookReceiver {
        use axum::Router;
        use axum::body::Bytes;
        use axum::http::StatusCode;
        use axum::routing::post;
        let received: Arc<Mutex<Vec<Value>>> = Arc::default();
        let seen = received.clone();
        let app = Router::new().route(
            "/hook",
            post(move |body: Bytes| {
                let seen = seen.clone();
                async move {
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(v) => {
                            seen.lock().unwrap().push(v);
                            (StatusCode::OK, "ok")
                        }
                        Err(_) => (StatusCode::BAD_REQUEST, "not JSON"),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("binding the webhook receiver");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver {
            url: format!("http://{addr}/hook"),
            received,
            task,
        }
    }

    /// A copy of what was received so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
