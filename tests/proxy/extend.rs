//! A grant extended while a response under it is streaming (issue 15): the proxy decided the
//! request with the old end, and must honour the new one instead of cutting at the old.

use std::time::{Duration, Instant};

use jitgate_access::clock::{Clock, SystemClock};

use super::revocation::{read_until_closed, start_response};
use super::short_grant;
use super::stack::{Stack, person};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_outlives_the_old_end_of_a_grant_extended_under_it() {
    let stack = Stack::start(1).await;
    let bob = person("bob@example.com", &["sre"]);
    let (_, cookie) = stack.sign_in(&bob, "app").await;
    let host = stack.host("app");
    let old_end = short_grant(&stack, &bob, Duration::from_secs(3)).await;
    let mut stream =
        start_response(stack.port(), &host, "/stream?ticks=300", &cookie, "tick 2").await;
    let app = "app".parse().unwrap();
    let grant = stack.store.active_grant(&bob.user, &app, SystemClock.now()).await.unwrap();
    let holder = grant.expect("the short grant is active").request_id;
    let extension =
        stack.service.extend(&bob, holder, Duration::from_secs(60), "longer").await.unwrap();
    assert!(extension.grant().is_some_and(|g| g.expires_at > old_end), "extended at once");

    // Read until two seconds past the old end: the stream must still be open then.
    let to_old_end = SystemClock.now().until(old_end);
    let started = Instant::now();
    let (text, closed) = read_until_closed(&mut stream, to_old_end + Duration::from_secs(2)).await;
    assert!(
        closed.is_none(),
        "cut {:?} into the watch, the old end {to_old_end:?} in, though extended: {text}",
        closed.map(|at| at.duration_since(started))
    );
    assert!(SystemClock.now() > old_end.plus(Duration::from_secs(1)), "watched past the old end");
    assert!(text.contains("tick"), "and it kept flowing: {text}");
}
