//! The `small-tls-buffer` flaw ([`Flaw::SmallTlsBuffer`]): a device whose TLS stack holds
//! an incoming record in a 4 KiB buffer, as a stack built with a 4 KiB input buffer does
//! (mbedTLS with `MBEDTLS_SSL_IN_CONTENT_LEN` set to 4096, say), and so cannot take the
//! 16 KiB records a server may send.
//!
//! rustls has no setting for the size of records it accepts, so [`RecordLimit`] sits
//! under it, on the TCP stream: it follows the headers of the TLS records the server
//! sends (type, version, length) and fails the read that brings a record longer than
//! [`LIMIT`], which closes the connection, handshake or not. Without the flaw it passes
//! bytes through untouched. Everything above it, TLS and MQTT, is unchanged.
//!
//! [`Flaw::SmallTlsBuffer`]: firmware_under_test::flaws::Flaw::SmallTlsBuffer

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest record body the flawed board takes, in bytes: 4 KiB of plaintext plus the
/// 256 bytes TLS lets encryption add (RFC 8446, section 5.2).
pub const LIMIT: usize = 4096 + 256;

/// A stream whose incoming TLS records may be limited in length; see the module docs.
#[derive(Debug)]
pub struct RecordLimit<S> {
    inner: S,
    limit: Option<usize>,
    /// The header of the record under way, as far as it came.
    header: [u8; 5],
    header_len: usize,
    /// Body bytes of the current record still to come.
    body_left: usize,
}

impl<S> RecordLimit<S> {
    /// `inner`, with incoming records refused over `limit` bytes when there is one.
    pub fn new(inner: S, limit: Option<usize>) -> Self {
        RecordLimit {
            inner,
            limit,
            header: [0; 5],
            header_len: 0,
            body_left: 0,
        }
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Follows `bytes` through the record headers; the length of a record over `limit`
    /// is the error.
    fn follow(&mut self, mut bytes: &[u8], limit: usize) -> Result<(), usize> {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let take = self.body_left.min(bytes.len());
                self.body_left -= take;
                bytes = &bytes[take..];
                continue;
            }
            self.header[self.header_len] = bytes[0];
            self.header_len += 1;
            bytes = &bytes[1..];
            if self.header_len == self.header.len() {
                self.header_len = 0;
                let length = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                if length > limit {
                    return Err(length);
                }
                self.body_left = length;
            }
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for RecordLimit<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Some(limit) = this.limit
            && let Err(length) = this.follow(&buf.filled()[before..], limit)
        {
            // A failed read hands over nothing.
            buf.set_filled(before);
            eprintln!("emulated-board: flaw: a TLS record of {length} bytes overflows the buffer");
            return Poll::Ready(Err(io::Error::other(format!(
                "a TLS record of {length} bytes does not fit the 4 KiB receive buffer"
            ))));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for RecordLimit<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A record header and `length` body bytes.
    fn record(length: u16) -> Vec<u8> {
        let mut bytes = vec![23, 3, 3];
        bytes.extend(length.to_be_bytes());
        bytes.extend(std::iter::repeat_n(0xAA, usize::from(length)));
        bytes
    }

    #[test]
    fn records_are_followed_across_reads_and_a_long_one_is_caught() {
        let mut wire = record(100);
        wire.extend(record(4352));
        wire.extend(record(4353));
        let mut limit = RecordLimit::new((), Some(LIMIT));
        // Three bytes at a time: headers and bodies split anywhere.
        let mut caught = None;
        for chunk in wire.chunks(3) {
            if let Err(length) = limit.follow(chunk, LIMIT) {
                caught = Some(length);
                break;
            }
        }
        assert_eq!(caught, Some(4353));
    }

    #[tokio::test]
    async fn without_a_limit_bytes_pass_untouched_and_with_one_a_long_record_fails_the_read() {
        let wire = [record(16_401), record(10)].concat();
        let mut open = RecordLimit::new(&wire[..], None);
        let mut read = Vec::new();
        open.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, wire);
        let mut limited = RecordLimit::new(&wire[..], Some(LIMIT));
        let error = limited.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert!(error.to_string().contains("16401 bytes"), "{error}");
    }
}
