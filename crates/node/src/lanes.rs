//! Two lanes per node, so a missile warning never waits for a core behind
//! item traffic (issue: warnings never wait behind bulk transfers).
//!
//! - The **warning lane**: a runtime of its own (threads `gsomia-warn-PARTY`)
//!   at the normal priority. It accepts every connection of both listeners
//!   and runs TLS and HTTP framing for all of them, the warning routes
//!   (publish, track, impact, the subscribers' event streams, partners'
//!   warning updates, `/healthz`), and the senders of warning updates to
//!   partners, over clients of their own whose connections live here too.
//! - The **item lane**: the runtime the node was started on. Every other
//!   route's handler runs there (dispatched by [`on_item_lane`]), and so do
//!   delivery, receipts, checkpoints and store reads. Whoever builds that
//!   runtime lowers its threads to [`ITEM_NICE`] with [`item_thread`]
//!   (`gsomia serve` does), and the cryptography of item transfers runs on
//!   them ([`compute`]); the store's own threads (writer, checkpointer)
//!   lower themselves.
//!
//! On Linux a nice value belongs to a thread and a new thread inherits its
//! creator's, and an unprivileged process cannot raise one again: so a node
//! is started from a thread at the normal priority (the thread that calls
//! `block_on`, not a worker of a lowered runtime), and the warning lane's
//! threads, created from it, keep that priority.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use tokio::runtime::Handle;

/// The nice value of item-lane threads (0 is normal, 19 the lowest).
pub const ITEM_NICE: i32 = 10;

/// Content up to this size is opened, sealed or checked where the request
/// runs (well under a millisecond of cryptography); more first hands the
/// thread's other tasks to another worker ([`compute`]).
pub const INLINE_BYTES: usize = 64 * 1024;

/// Runs CPU-bound item work (opening, sealing, signing, checking envelopes)
/// on the calling item-lane thread, over `bytes` bytes of content. Up to
/// [`INLINE_BYTES`] it runs in place: a hand-over to another thread would
/// cost more than the work. Beyond, the thread's other tasks are handed to
/// another worker first (`block_in_place`), so requests and receipts do
/// not wait behind a large item or a batch of envelope checks. On a
/// current-thread runtime (as in tests) it runs in place.
pub fn compute<T>(bytes: usize, f: impl FnOnce() -> T) -> T {
    let threaded = Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if bytes > INLINE_BYTES && threaded {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Lowers the calling thread to `nice` ([`gsomia_store::lower_this_thread`]).
/// Failing to lower it costs only the preference, so the thread runs on
/// regardless (and it is said once).
pub fn lower_this_thread(nice: i32) {
    if let Err(e) = gsomia_store::lower_this_thread(nice) {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| tracing::warn!(error = %e, "cannot lower a thread's priority"));
    }
}

/// For `tokio::runtime::Builder::on_thread_start` of the runtime a node's
/// item lane runs on: lowers each of its threads to [`ITEM_NICE`].
pub fn item_thread() {
    lower_this_thread(ITEM_NICE);
}

/// A node's lanes: handles to both runtimes.
#[derive(Debug, Clone)]
pub struct Lanes {
    /// The warning lane.
    pub warning: Handle,
    /// The item lane.
    pub item: Handle,
}

/// How many threads the warning lane has: the cores, at most four (it
/// fans each update out to every local subscriber).
fn warning_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

/// Why the warning lane did not start.
#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    /// Not called from inside a runtime (the item lane).
    #[error("a node starts inside an async runtime (its item lane)")]
    NoRuntime,
    /// The lane's thread or runtime could not be made.
    #[error("cannot start the warning lane: {0}")]
    Start(String),
}

impl Lanes {
    /// Starts the warning lane for `party`, beside the runtime this is
    /// called on (the item lane). The warning lane stops when that runtime
    /// shuts down: a task there holds the lane's stop signal.
    pub fn start(party: &str) -> Result<Lanes, LaneError> {
        let item = Handle::try_current().map_err(|_| LaneError::NoRuntime)?;
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let name = format!("gsomia-warn-{}", party.to_ascii_lowercase());
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(warning_threads())
                    .thread_name(name)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(LaneError::Start(e.to_string())));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(rt.handle().clone()));
                // Until the item lane's runtime drops the stop signal.
                let _ = stop_rx.recv();
                // Dropped here, outside any runtime; tasks still running
                // (connections, partner senders) are cancelled.
                rt.shutdown_background();
            })
            .map_err(|e| LaneError::Start(e.to_string()))?;
        let warning = handle_rx
            .recv()
            .map_err(|_| LaneError::Start("the lane's thread ended".into()))??;
        item.spawn(async move {
            let _stop = stop_tx;
            std::future::pending::<()>().await;
        });
        Ok(Lanes { warning, item })
    }
}

/// Middleware for every route but the warning routes: runs the handler on
/// the item lane, while the connection stays on the warning lane.
pub async fn on_item_lane(State(item): State<Handle>, req: Request, next: Next) -> Response {
    match item.spawn(next.run(req)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "request handler on the item lane");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(gsomia_api::ErrorBody {
                    error: "the node is stopping or failed; try again".into(),
                    request_id: None,
                }),
            )
                .into_response()
        }
    }
}

/// The routes `items` run on the item lane, the routes `warnings` where
/// their connection is (the warning lane), both with state `node`.
pub fn split<S: Clone + Send + Sync + 'static>(
    item: &Handle,
    items: axum::Router<S>,
    warnings: axum::Router<S>,
) -> axum::Router<S> {
    items
        .route_layer(axum::middleware::from_fn_with_state(
            item.clone(),
            on_item_lane,
        ))
        .merge(warnings)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    /// The nice value of the calling thread.
    fn this_thread_nice() -> i32 {
        rustix::process::getpriority_process(None).unwrap()
    }

    /// Which thread answered, and at what nice value.
    async fn who() -> String {
        let t = std::thread::current();
        format!("{} {}", t.name().unwrap_or("?"), this_thread_nice())
    }

    fn threads_named(prefix: &str) -> usize {
        std::fs::read_dir("/proc/self/task")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("comm"))
                            .is_ok_and(|c| c.starts_with(prefix))
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    #[test]
    fn item_routes_run_on_the_lowered_item_lane_and_warning_routes_on_the_warning_lane() {
        let normal = this_thread_nice();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("item-lane-test")
            .on_thread_start(item_thread)
            .enable_all()
            .build()
            .unwrap();
        // Started from this thread (normal priority), as `gsomia serve` does.
        let lanes = rt.block_on(async { Lanes::start("LNT") }).unwrap();
        let app: axum::Router = split(
            &lanes.item,
            axum::Router::new().route("/item", axum::routing::get(who)),
            axum::Router::new().route("/warning", axum::routing::get(who)),
        );
        let ask = |path: &'static str| {
            let app = app.clone();
            // Requests arrive on the warning lane, where connections are served.
            let answer = rt.block_on(lanes.warning.spawn(async move {
                let req = axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap();
                let resp = app.oneshot(req).await.unwrap();
                let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
                String::from_utf8(body.to_vec()).unwrap()
            }));
            answer.unwrap()
        };
        assert_eq!(
            ask("/item"),
            format!("item-lane-test {}", ITEM_NICE.max(normal))
        );
        assert_eq!(ask("/warning"), format!("gsomia-warn-lnt {normal}"));
        assert!(threads_named("gsomia-warn-lnt") >= 1);

        // The warning lane ends with the item lane's runtime.
        drop(rt);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while threads_named("gsomia-warn-lnt") > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the warning lane outlived its item lane"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
