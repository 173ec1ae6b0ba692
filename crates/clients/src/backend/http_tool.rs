//! [`HttpTool`]: a tool reached over HTTP, its arguments `POST`ed as JSON.

use serde::Deserialize;

use metrics::ErrorKind;

use super::credentials::Extras;
use super::{Attempted, Failure, Measured, StatusError, ToolBackend};
use crate::tool::ToolResult;
use crate::transport::{Transport, classify_reqwest};

/// A tool at a URL.
#[derive(Debug)]
pub struct HttpTool {
    transport: Transport,
    /// The URL the arguments are posted to, its query parameters included.
    url: reqwest::Url,
    /// The key, headers and query its scenario names.
    extras: Extras,
    /// The embedded mock answers `{"output", "tokens"}`; other tools answer text.
    mock_shape: bool,
}

/// The mock's tool answer.
#[derive(Deserialize)]
struct MockToolBody {
    output: String,
    tokens: u32,
}

impl HttpTool {
    /// The tool at `url` (valid: the scenario checked it), reached with `extras`;
    /// `mock_shape` when the embedded mock serves it.
    pub(crate) fn new(
        transport: Transport,
        url: &str,
        extras: Extras,
        mock_shape: bool,
    ) -> Result<Self, url::ParseError> {
        let mut url = reqwest::Url::parse(url)?;
        extras.add_query(&mut url);
        Ok(Self {
            transport,
            url,
            extras,
            mock_shape,
        })
    }
}

impl ToolBackend for HttpTool {
    async fn attempt(&self, args: &serde_json::Value) -> Attempted<ToolResult> {
        let body = serde_json::to_vec(args).map_err(|_| Failure::new(ErrorKind::ClientError))?;
        let mut request = reqwest::Request::new(reqwest::Method::POST, self.url.clone());
        self.extras.apply(request.headers_mut());
        request.headers_mut().insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        *request.body_mut() = Some(body.into());
        let response = self
            .transport
            .send(request)
            .await
            .map_err(|e| Failure::new(e.kind))?;
        if !response.status().is_success() {
            return Err(StatusError::from_response(response).await.failure());
        }
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Failure::new(classify_reqwest(&e)))?;
        let result = if self.mock_shape {
            let body: MockToolBody =
                serde_json::from_slice(&bytes).map_err(|_| Failure::new(ErrorKind::Malformed))?;
            ToolResult {
                output: body.output.into(),
                tokens: body.tokens,
            }
        } else {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let tokens = u32::try_from(text.len().div_ceil(4)).unwrap_or(u32::MAX);
            ToolResult {
                output: text.into(),
                tokens,
            }
        };
        let measured = Measured {
            status: Some(status),
            tokens_out: result.tokens,
            ..Measured::default()
        };
        Ok((result, measured))
    }
}
