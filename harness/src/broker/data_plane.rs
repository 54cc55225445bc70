//! Publishing through the embedded broker's HTTP data plane, as cloud-side code does with
//! boto3's `iot-data` client: `POST /topics/{topic}?qos=&retain=` on the broker's API
//! ([`EmbeddedBroker::api_url`]).
//!
//! The HTTP client is hyper's (already in the build for the container backend); an answer
//! other than 200 is a [`BrokerError::Http`] carrying AWS's exception name and message.

use super::embedded::EmbeddedBroker;
use crate::errors::BrokerError;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rumqttc::mqttbytes::QoS;
use std::time::Duration;

/// How long a data-plane request may take before it is a failure.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Percent-encodes a topic for the path, as botocore encodes a URI label: everything but
/// unreserved characters.
fn encode_label(topic: &str) -> String {
    topic
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl EmbeddedBroker {
    /// Publishes `payload` on `topic` through the data plane's Publish API.
    pub async fn publish_over_http(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), BrokerError> {
        let uri = format!(
            "{}/topics/{}?qos={}&retain={retain}",
            self.api_url(),
            encode_label(topic),
            qos as u8
        );
        let failed = |reason: String| BrokerError::Http {
            operation: "Publish",
            reason,
        };
        let request = hyper::Request::post(&uri)
            .header("content-type", "application/octet-stream")
            .body(Full::new(bytes::Bytes::copy_from_slice(payload)))
            .map_err(|e| failed(e.to_string()))?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = response.status();
            let error_type = response
                .headers()
                .get("x-amzn-ErrorType")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| failed(e.to_string()))?
                .to_bytes();
            if status.is_success() {
                return Ok(());
            }
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            Err(failed(format!(
                "{status} {}: {message}",
                error_type.unwrap_or_default()
            )))
        };
        tokio::time::timeout(HTTP_TIMEOUT, exchange)
            .await
            .map_err(|_| failed(format!("no answer within {HTTP_TIMEOUT:?}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_encoded_as_uri_labels() {
        assert_eq!(encode_label("a/b"), "a%2Fb");
        assert_eq!(
            encode_label("$aws/things/x-1/shadow/update"),
            "%24aws%2Fthings%2Fx-1%2Fshadow%2Fupdate"
        );
        assert_eq!(encode_label("ok_.~"), "ok_.~");
    }
}
