//! The control channel: a Unix socket speaking JSON lines, the emulated board's stand-in
//! for the debug probe, the power switch and the lab's Wi-Fi. `EMULATED_BOARD.md` is the
//! contract.
//!
//! Each line is a request object with a `cmd`; each gets one reply line (`{"ok":true,...}`
//! or `{"ok":false,"error":...}`). After `subscribe_gpio` the connection also receives
//! every LED edge as an `{"event":"edge",...}` line. Requests are carried out by the
//! board's main loop; this module only parses, forwards and writes.
//!
//! Every edge the board made before answering a request is written before that answer,
//! so an answer is a barrier: once a client reads it, it has every edge up to then.

use crate::gpio::Edge;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};

/// A register address, as a number or a `0x...` string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Address {
    Number(u32),
    Text(String),
}

impl Address {
    pub fn value(&self) -> Option<u32> {
        match self {
            Address::Number(n) => Some(*n),
            Address::Text(t) => {
                let t = t.trim();
                match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => t.parse().ok(),
                }
            }
        }
    }
}

/// A request on the control channel.
#[derive(Debug, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    ReadRegister {
        address: Address,
    },
    SubscribeGpio,
    Press {
        button: String,
    },
    WifiDown {
        ssid: String,
    },
    WifiUp {
        ssid: String,
    },
    SetSensors {
        light: Option<u32>,
        temp: Option<f64>,
    },
    ClearSensors,
    Reset,
    PowerOff,
    PowerOn,
    State,
}

/// A request with the way back to its connection.
pub struct Envelope {
    pub request: Request,
    pub reply: oneshot::Sender<Value>,
}

/// Serves the control socket at `path` until the board exits.
pub fn serve(
    path: &Path,
    requests: mpsc::UnboundedSender<Envelope>,
    edges: broadcast::Sender<Edge>,
) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(connection(stream, requests.clone(), edges.clone()));
        }
    });
    Ok(())
}

async fn connection(
    stream: UnixStream,
    requests: mpsc::UnboundedSender<Envelope>,
    edges: broadcast::Sender<Edge>,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut subscription: Option<broadcast::Receiver<Edge>> = None;
    loop {
        let line = tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => line,
                _ => return,
            },
            edge = next_edge(&mut subscription) => {
                let Ok(text) = serde_json::to_string(&edge) else { continue };
                if write_line(&mut write, &text).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Request>(&line) {
            Err(e) => json!({"ok": false, "error": format!("bad request: {e}")}),
            Ok(request) => {
                if matches!(request, Request::SubscribeGpio) {
                    subscription = Some(edges.subscribe());
                }
                let (tx, rx) = oneshot::channel();
                if requests.send(Envelope { request, reply: tx }).is_err() {
                    return;
                }
                rx.await
                    .unwrap_or_else(|_| json!({"ok": false, "error": "the board is shutting down"}))
            }
        };
        // The edges made before the answer go first.
        while let Some(edge) = subscription.as_mut().and_then(pending_edge) {
            let Ok(text) = serde_json::to_string(&edge) else {
                continue;
            };
            if write_line(&mut write, &text).await.is_err() {
                return;
            }
        }
        if write_line(&mut write, &reply.to_string()).await.is_err() {
            return;
        }
    }
}

async fn next_edge(subscription: &mut Option<broadcast::Receiver<Edge>>) -> Edge {
    let Some(receiver) = subscription else {
        return std::future::pending().await;
    };
    loop {
        match receiver.recv().await {
            Ok(edge) => return edge,
            // A reader this far behind missed edges; carry on with the next ones.
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

/// An edge already made and not yet written, if any.
fn pending_edge(receiver: &mut broadcast::Receiver<Edge>) -> Option<Edge> {
    loop {
        match receiver.try_recv() {
            Ok(edge) => return Some(edge),
            Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
            Err(_) => return None,
        }
    }
}

async fn write_line(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    text: &str,
) -> std::io::Result<()> {
    write.write_all(text.as_bytes()).await?;
    write.write_all(b"\n").await
}
