//! A small client for the IDaaS admin REST API, shared by the CLI commands and by `gatehouse up`
//! (which seeds its demo through the same API a user would script).

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or the body could not be read.
    #[error("cannot reach {url}: {source}")]
    Transport {
        /// The URL called.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The server answered something the caller cannot use.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// The server answered with an error status.
    #[error("{method} {path} failed with {status}: {body}")]
    Status {
        /// The method called.
        method: Method,
        /// The path called.
        path: String,
        /// The HTTP status.
        status: StatusCode,
        /// The error body (the API's JSON error, or text).
        body: String,
    },
}

/// An authenticated admin API client.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base_url: String,
    token: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client for the server at `base_url` using the bearer API `token`.
    pub fn new(base_url: &str, token: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Body<'_>>,
    ) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{}", self.base_url, path);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token);
        match body {
            Some(Body::Json(v)) => req = req.json(v),
            Some(Body::Text(content_type, text)) => {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(text.to_owned())
            }
            None => {}
        }
        let resp = req.send().await.map_err(|source| ClientError::Transport {
            url: url.clone(),
            source,
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Err(ClientError::Status {
            method,
            path: path.to_owned(),
            status,
            body,
        })
    }

    /// Sends a request and parses the JSON answer (`null` for an empty body).
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let resp = self.send(method, path, body.map(Body::Json)).await?;
        self.read_json(resp).await
    }

    /// Sends a text body (CSV, XML) with the given content type and parses the JSON answer.
    pub async fn text_body(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        text: &str,
    ) -> Result<Value, ClientError> {
        let resp = self
            .send(method, path, Some(Body::Text(content_type, text)))
            .await?;
        self.read_json(resp).await
    }

    /// Fetches a path and returns the raw body text (metadata downloads).
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let url = format!("{}{}", self.base_url, path);
        let resp = self.send(Method::GET, path, None).await?;
        resp.text()
            .await
            .map_err(|source| ClientError::Transport { url, source })
    }

    async fn read_json(&self, resp: reqwest::Response) -> Result<Value, ClientError> {
        let url = resp.url().to_string();
        let text = resp.text().await.map_err(|source| ClientError::Transport {
            url: url.clone(),
            source,
        })?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

enum Body<'a> {
    Json(&'a Value),
    Text(&'a str, &'a str),
}
