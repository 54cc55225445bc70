//! The connection side of the server edge: the accept loop, the TLS handshake (the
//! ClientHello read first, so the tap can name the cipher suites offered), and one
//! task per connection that reads bytes, frames them with [`crate::mqtt::codec`], hands
//! packets to the core under the lock, writes what the core sends, and sleeps until the
//! core's keep-alive deadline (or the CONNECT timeout before the first packet).

use super::server::{Outgoing, Shared};
use crate::mqtt::codec;
use crate::mqtt::errors::CloseReason;
use crate::mqtt::session::ConnId;
use crate::mqtt::tap::EventKind;
use crate::mqtt::tls;
use crate::mqtt::tls_policy::suite_name;
use bytes::BytesMut;
use rustls::server::Acceptor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) -> TcpListener {
    loop {
        let accepted = tokio::select! {
            // Stopping first: a client connecting during a restart stays in the backlog
            // for the restarted broker rather than being accepted and dropped by this one.
            biased;
            _ = cancel.cancelled() => return listener,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                tracker.spawn(serve_connection(tcp, peer, shared.clone(), cancel.clone()));
            }
            Err(error) => {
                // Out of descriptors and the like: wait a moment rather than spin.
                tracing::warn!(%error, "accept failed");
                tokio::select! {
                    _ = cancel.cancelled() => return listener,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let accepted = Instant::now();
    let connect_deadline = accepted + shared.connect_timeout;
    // The suites the ClientHello offered, kept for the tap whatever the outcome.
    let mut offered = Vec::new();
    let handshake =
        tokio::time::timeout_at(connect_deadline, handshake(tcp, &shared, &mut offered));
    let result = tokio::select! {
        _ = cancel.cancelled() => return,
        result = handshake => result,
    };
    let stream = match result {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            let reason = tls::describe_handshake_error(&error);
            let handshake = accepted.elapsed();
            shared.emit(EventKind::TlsRejected {
                peer,
                reason,
                certificate_id: None,
                cipher_suites: offered,
                handshake,
            });
            return;
        }
        Err(_) => {
            let reason = "TLS handshake timed out".to_owned();
            let handshake = accepted.elapsed();
            shared.emit(EventKind::TlsRejected {
                peer,
                reason,
                certificate_id: None,
                cipher_suites: offered,
                handshake,
            });
            return;
        }
    };
    let (_, session) = stream.get_ref();
    let chain = session.peer_certificates().unwrap_or_default();
    let identification = shared.hooks.identify(chain);
    shared.run_hook_effects(identification.publish, identification.deferred);
    let identity = match identification.outcome {
        Ok(identity) => identity,
        Err(reason) => {
            let certificate_id = chain
                .first()
                .map(|leaf| crate::mqtt::hooks::certificate_id(leaf));
            shared.emit(EventKind::TlsRejected {
                peer,
                reason,
                certificate_id,
                cipher_suites: offered,
                handshake: accepted.elapsed(),
            });
            return;
        }
    };
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (outbox, inbox) = mpsc::unbounded_channel();
    {
        let mut state = shared.lock();
        let now = shared.now();
        state.outboxes.insert(conn, outbox);
        shared.tap.emit(
            now,
            EventKind::TlsAccepted {
                conn,
                peer,
                sni: session.server_name().map(str::to_owned),
                certificate_id: identity.certificate_id.clone(),
                tls_version: session
                    .protocol_version()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default(),
                cipher_suite: session
                    .negotiated_cipher_suite()
                    .map(|s| suite_name(u16::from(s.suite())))
                    .unwrap_or_default(),
                cipher_suites: offered,
                handshake: accepted.elapsed(),
            },
        );
        state.core.open(conn, now, identity);
    }
    let reason = run_connection(conn, stream, inbox, &shared, connect_deadline, &cancel).await;
    // Idempotent: a no-op when the core closed the connection itself.
    shared.run(|core, now| core.handle_close(conn, now, reason));
    shared.lock().outboxes.remove(&conn);
}

/// Reads the ClientHello, notes the suites it offers in `offered`, and completes the
/// handshake with the configuration new connections get now.
async fn handshake(
    tcp: TcpStream,
    shared: &Shared,
    offered: &mut Vec<String>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let start = LazyConfigAcceptor::new(Acceptor::default(), tcp).await?;
    offered.extend(
        start
            .client_hello()
            .cipher_suites()
            .iter()
            .map(|s| suite_name(u16::from(*s))),
    );
    start.into_stream(shared.tls_config()).await
}

/// Most bytes of encoded packets gathered for one write: enough to fill a few TLS records,
/// small enough that one busy subscriber does not hold its task for long.
const MAX_WRITE_BATCH: usize = 64 * 1024;

/// Pumps one connection until it ends; returns why, as far as the edge can tell.
///
/// Writes are coalesced: every packet already queued in the outbox (up to
/// [`MAX_WRITE_BATCH`] bytes) is encoded into one buffer and written and flushed once, so a
/// subscriber receiving thousands of messages a second costs a few TLS records and
/// syscalls, not one per packet. Reads are batched the same way: the packets framed from
/// one read are handed to the core under one lock.
async fn run_connection(
    conn: ConnId,
    mut stream: TlsStream<TcpStream>,
    mut inbox: mpsc::UnboundedReceiver<Outgoing>,
    shared: &Shared,
    connect_deadline: Instant,
    cancel: &CancellationToken,
) -> CloseReason {
    let mut input = BytesMut::with_capacity(4096);
    let mut output = BytesMut::with_capacity(4096);
    let mut packets = Vec::new();
    let mut got_connect = false;
    // The core's deadline for this connection. It moves only when this task hands the core
    // a packet or a timeout (keep-alive from CONNECT and each packet; an unstable-connection
    // fault from CONNECT), so it is read back then, under the same lock.
    let mut keep_alive: Option<Instant> = None;
    loop {
        let deadline = match (got_connect, keep_alive) {
            (false, _) => Some(connect_deadline),
            (true, at) => at,
        };
        // Not biased: a subscriber flooded with messages still reads its PUBACKs, and a
        // client flooding the broker still gets what it is sent.
        tokio::select! {
            _ = cancel.cancelled() => return CloseReason::ServerShutdown,
            command = inbox.recv() => {
                output.clear();
                // A closed outbox (the core forgot the connection) ends it like a Close.
                let mut close = command.is_none();
                let mut next = command;
                while let Some(command) = next.take() {
                    match command {
                        Outgoing::Packet(packet, delay) => {
                            if !delay.is_zero() {
                                // A fault's delay: what came before goes out on time.
                                if let Err(error) = write_out(&mut stream, &mut output).await {
                                    return CloseReason::Io { error: error.to_string() };
                                }
                                tokio::time::sleep(delay).await;
                            }
                            if let Err(error) = codec::encode(&packet, &mut output) {
                                tracing::error!(%error, "cannot encode a broker packet");
                            }
                        }
                        Outgoing::Close => {
                            close = true;
                            break;
                        }
                    }
                    if output.len() < MAX_WRITE_BATCH {
                        next = inbox.try_recv().ok();
                    }
                }
                if let Err(error) = write_out(&mut stream, &mut output).await {
                    return CloseReason::Io { error: error.to_string() };
                }
                if close {
                    let _ = stream.shutdown().await;
                    return CloseReason::ServerInitiatedDisconnect;
                }
            },
            read = stream.read_buf(&mut input) => match read {
                Ok(0) => return end_of_stream(&input),
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return end_of_stream(&input);
                }
                Ok(_) => {
                    let framed = loop {
                        match codec::decode(&mut input) {
                            Ok(Some(packet)) => packets.push(packet),
                            Ok(None) => break None,
                            Err(violation) => break Some(violation),
                        }
                    };
                    if !packets.is_empty() {
                        got_connect = true;
                        keep_alive = shared.with_core(|core, now| {
                            let mut actions = Vec::new();
                            for packet in packets.drain(..) {
                                actions.extend(core.handle_packet(conn, now, packet));
                            }
                            (core.poll_at(conn), actions)
                        }).map(|at| shared.started + at);
                    }
                    if let Some(violation) = framed {
                        return violation.into();
                    }
                }
                Err(error) => return CloseReason::Io { error: error.to_string() },
            },
            _ = sleep_until(deadline) => {
                if !got_connect {
                    return CloseReason::ConnectTimeout;
                }
                keep_alive = shared.with_core(|core, now| {
                    let actions = core.handle_timeout(conn, now);
                    (core.poll_at(conn), actions)
                }).map(|at| shared.started + at);
            }
        }
    }
}

/// The client closed its side: a clean end between packets, or in the middle of one.
fn end_of_stream(input: &BytesMut) -> CloseReason {
    if input.is_empty() {
        CloseReason::ConnectionLost
    } else {
        crate::mqtt::errors::Violation::Truncated(input.len()).into()
    }
}

/// Writes and flushes what `output` holds, if anything, and empties it.
async fn write_out(
    stream: &mut TlsStream<TcpStream>,
    output: &mut BytesMut,
) -> std::io::Result<()> {
    if output.is_empty() {
        return Ok(());
    }
    stream.write_all(output).await?;
    output.clear();
    stream.flush().await
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
