//! The `container` broker backend: Mosquitto in a container (testcontainers), with the
//! configuration the `mosquitto` backend uses ([`super::mosquitto_config`]).
//!
//! The configuration is copied into the container (not bind-mounted, so a remote Docker
//! engine works too) under [`CONFIG_DIR`], the server key at mode 0600. Mosquitto runs as
//! root inside the container (`user root`): the container is the boundary, and the key
//! needs no owner from the image. Port 8883 is published on a free host port, reached on
//! 127.0.0.1 with a local engine. The engine is the one `DOCKER_HOST` names (the local
//! socket by default); when none answers, the error says so. With a remote engine
//! (`tcp://host:2375`) the boards and the observer connect to that host, which the test
//! PKI's server certificate does not name: only local engines work today. The container
//! is removed when the broker is dropped.

use super::mosquitto_config::config_files;
use super::observed::{Host, ObservedBroker};
use crate::errors::BrokerError;
use crate::pki::TestPki;
use crate::timeline::Timeline;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use testcontainers::core::client::ClientError;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{
    ContainerAsync, CopyTargetOptions, GenericImage, ImageExt, TestcontainersError,
};

/// Where the configuration goes in the container (the official image's folder).
pub const CONFIG_DIR: &str = "/mosquitto/config";
/// The port Mosquitto listens on inside the container.
pub const CONTAINER_PORT: u16 = 8883;
/// How long the container may take to start and log that Mosquitto runs.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Mosquitto's container, removed when dropped.
pub struct MosquittoContainer {
    container: ContainerAsync<GenericImage>,
}

/// Mosquitto in a container, seen through the observer.
pub type ContainerBroker = ObservedBroker<MosquittoContainer>;

fn start_error(reason: impl std::fmt::Display) -> BrokerError {
    BrokerError::Start {
        kind: "container",
        reason: reason.to_string(),
    }
}

/// `name[:tag]` split into name and tag (`latest` when absent); a registry port
/// (`host:5000/name`) is not a tag.
pub fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

/// Where the Docker engine is looked for, for error messages.
fn engine() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// What to do about a failed start, in words.
fn hint(error: &TestcontainersError, image: &str) -> String {
    let no_engine = format!(
        "no Docker engine answers at {} (start dockerd, or set DOCKER_HOST)",
        engine()
    );
    match error {
        TestcontainersError::Client(
            ClientError::Init(_)
            | ClientError::Configuration(_)
            | ClientError::InvalidDockerHost(_),
        ) => no_engine,
        TestcontainersError::Client(ClientError::PullImage { .. }) => format!(
            "image {image} is neither here nor pullable (build it with ci/build-mosquitto-image, or pull it where a registry is reachable)"
        ),
        other => {
            let text = other.to_string();
            if ["hyper", "Connect", "connection refused", "Socket"]
                .iter()
                .any(|needle| text.contains(needle))
            {
                no_engine
            } else {
                format!("the Docker engine is {}", engine())
            }
        }
    }
}

/// Where the published port is reached. A local engine (a Unix socket) publishes on the
/// host's interfaces, so 127.0.0.1, which the server certificate names, whatever
/// testcontainers reports (it may be the bridge gateway); a remote engine's host as it
/// resolves (the server certificate must name it).
async fn engine_address(
    container: &ContainerAsync<GenericImage>,
    port: u16,
) -> Result<IpAddr, BrokerError> {
    let local = std::env::var("DOCKER_HOST").map_or(true, |host| host.starts_with("unix://"));
    if local {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    let host = container
        .get_host()
        .await
        .map_err(|e| start_error(format!("no host for the container: {e}")))?
        .to_string();
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| start_error(format!("cannot resolve {host}: {e}")))?
        .map(|a| a.ip())
        .find(IpAddr::is_ipv4)
        .ok_or_else(|| start_error(format!("{host} has no IPv4 address")))
}

impl ObservedBroker<MosquittoContainer> {
    /// Starts `image` with the configuration for `endpoint` and connects the observer.
    pub async fn start(
        image: &str,
        endpoint: &str,
        pki: &TestPki,
        timeline: Arc<Timeline>,
    ) -> Result<Self, BrokerError> {
        let (name, tag) = split_image(image);
        let mut request = GenericImage::new(name, tag)
            .with_exposed_port(CONTAINER_PORT.tcp())
            .with_wait_for(WaitFor::message_on_stderr(" running"))
            .with_cmd([
                "/usr/sbin/mosquitto".to_owned(),
                "-c".to_owned(),
                format!("{CONFIG_DIR}/mosquitto.conf"),
            ])
            .with_startup_timeout(START_TIMEOUT);
        for file in config_files(pki, CONFIG_DIR, "0.0.0.0", CONTAINER_PORT, "user root\n") {
            let target = CopyTargetOptions::new(format!("{CONFIG_DIR}/{}", file.name))
                .with_mode(if file.private { 0o600 } else { 0o644 });
            request = request.with_copy_to(target, file.text.into_bytes());
        }
        let container = request
            .start()
            .await
            .map_err(|e| start_error(format!("cannot start {image}: {e}; {}", hint(&e, image))))?;
        let port = container
            .get_host_port_ipv4(CONTAINER_PORT)
            .await
            .map_err(|e| start_error(format!("no published port: {e}")))?;
        let address = engine_address(&container, port).await?;
        ObservedBroker::observe(
            MosquittoContainer { container },
            endpoint,
            address,
            port,
            pki,
            timeline,
        )
        .await
    }

    /// The container's id.
    pub fn container_id(&self) -> &str {
        self.host().container.id()
    }
}

#[async_trait::async_trait]
impl Host for MosquittoContainer {
    const KIND: &'static str = "container";

    fn describe(&self) -> String {
        format!("the container is {}", self.container.id())
    }

    async fn stop(self) {
        let _ = self.container.rm().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_into_name_and_tag() {
        assert_eq!(
            split_image("eclipse-mosquitto:2"),
            ("eclipse-mosquitto", "2")
        );
        assert_eq!(split_image("hil-mosquitto"), ("hil-mosquitto", "latest"));
        assert_eq!(
            split_image("registry.lab:5000/mosquitto"),
            ("registry.lab:5000/mosquitto", "latest")
        );
        assert_eq!(
            split_image("registry.lab:5000/mosquitto:2.0"),
            ("registry.lab:5000/mosquitto", "2.0")
        );
    }
}
