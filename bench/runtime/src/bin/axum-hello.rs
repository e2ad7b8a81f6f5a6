//! A second baseline: `axum::serve` with one fallback answering the hello JSON (the server stack
//! buntime uses, without buntime).

use axum::Router;
use axum::http::header::CONTENT_TYPE;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8101".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let app = Router::new().fallback(|| async { ([(CONTENT_TYPE, "application/json")], r#"{"message":"Hello from Buntime"}"#) });
    axum::serve(listener, app).await
}
