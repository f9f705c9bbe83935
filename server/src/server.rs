//! The HTTP server: hyper with the timers and caps `axum::serve` leaves off.
//!
//! - A client has `header_read_timeout` to send a request's headers, from the moment it
//!   connects or its previous answer went out (slowloris, idle keep-alive connections).
//! - A connection whose client takes no byte of an answer for `idle_timeout` is closed (a
//!   client that stopped reading a download). Reads have no such timeout: a client waiting
//!   quietly for a slow answer is not idle; a body that stops arriving is given up by the
//!   handler reading it (`vitrine_ingest::spool::IDLE`, the tus PATCH's own) or by the request
//!   deadline.
//! - At most `max_connections` are open; the next ones get a short 503 and are closed, so the
//!   process never runs out of file descriptors for its database and store.
//!
//! Per-request limits (in-flight cap, request timeout, rate limits) are in `admission`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{extract::Request, Router};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::{io::AsyncWriteExt, net::TcpListener, sync::Semaphore};
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceExt};

#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// How long in-flight requests may finish after shutdown starts.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets in-flight requests
/// finish (for at most [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let max_connections = limits.max_connections.min(descriptor_budget());
    let open = Arc::new(Semaphore::new(max_connections));
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, remote) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before it was accepted: wait a
                    // moment instead of spinning, as `axum::serve` does.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            metrics::counter!("vitrine_connections_refused_total").increment(1);
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = match make_service.call(remote).await {
            Ok(service) => service,
            Err(never) => match never {},
        };
        let hyper_service = hyper::service::service_fn(move |request: Request<Incoming>| {
            service.clone().oneshot(request)
        });
        let (builder, watcher, limits) = (builder.clone(), graceful.watcher(), limits.clone());
        tokio::spawn(async move {
            // hyper's header timer starts with a request's first byte: a client that connects
            // and says nothing gets the same time to start.
            let mut first = [0u8; 1];
            let said = tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut first));
            if !matches!(said.await, Ok(Ok(1..))) {
                drop(permit);
                return;
            }
            let mut io = TimeoutStream::new(stream);
            io.set_write_timeout(Some(limits.idle_timeout));
            let connection = watcher.watch(
                builder
                    .serve_connection_with_upgrades(TokioIo::new(Box::pin(io)), hyper_service)
                    .into_owned(),
            );
            // Errors here are the client's (reset, timed out, bad HTTP): nothing to report.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %remote, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running {DRAIN:?} after shutdown began; closing them");
    }
    Ok(())
}

/// One connection too many: a short 503 (so a client or load balancer knows to retry
/// elsewhere), then close.
async fn refuse(mut stream: tokio::net::TcpStream) {
    const BODY: &str =
        r#"{"error":{"code":"overloaded","message":"too many open connections; retry shortly"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Connections the open-file limit leaves room for (raised to its hard ceiling first), keeping
/// 256 descriptors for the database, the store, spool files and logs.
fn descriptor_budget() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return usize::MAX;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    usize::try_from(limit.rlim_cur)
        .unwrap_or(usize::MAX)
        .saturating_sub(256)
        .max(16)
}
