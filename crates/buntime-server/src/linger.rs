//! Lingering close: a connection the runtime closes keeps reading (and discarding) what the
//! client still sends for a moment, so an early answer such as a 403 to an upload is not lost.
//!
//! Why: when a server answers before reading the whole request body (an upload refused for its
//! role or its size) and then closes, the kernel answers the client's next bytes with a TCP RST,
//! and the RST can discard the answer from the client's receive buffer before it reads it: the
//! client sees "connection reset" instead of the 403. Servers such as nginx (`lingering_close`)
//! avoid it by half-closing and draining for a bounded time; this does the same.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;

/// Longest wait for the client's next bytes while draining.
const QUIET: Duration = Duration::from_secs(1);
/// Longest drain in all, however fast the client keeps sending.
const TOTAL: Duration = Duration::from_secs(5);

/// A TCP stream that, when dropped, half-closes and drains what is still arriving.
pub(crate) struct Lingering {
    stream: Option<TcpStream>,
}

impl Lingering {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self { stream: Some(stream) }
    }

    fn inner(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.stream.as_mut().expect("the stream is only taken on drop"))
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let (Some(stream), Ok(handle)) = (self.stream.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        handle.spawn(drain(stream));
    }
}

/// Sends FIN (if hyper has not already), then reads until the client closes, goes quiet for
/// [`QUIET`], or [`TOTAL`] has passed; the socket is closed when this returns.
async fn drain(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 16 * 1024];
    let _ = tokio::time::timeout(TOTAL, async {
        while let Ok(Ok(n)) = tokio::time::timeout(QUIET, stream.read(&mut sink)).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

impl AsyncRead for Lingering {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.inner().poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inner().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner().poll_shutdown(cx)
    }
}
