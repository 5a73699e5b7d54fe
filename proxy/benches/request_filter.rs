//! The proxy's whole per-request filter on a warm cache, as `request_filter` and
//! `upstream_request_filter` run it, without the network: the client's header in (Host, the
//! session cookie) → canonical path, route, cookie, session, policy, grant → verdict, then the
//! upstream's header out (identity values and the signed assertion from their cache, forwarding
//! headers, jitgate's cookie taken out). `proxy_decision_cache_hit` in `access_decision.rs` is
//! the decision alone.

mod common;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jitgate_proxy::{Decision, RequestCtx};

fn request_filter(c: &mut Criterion) {
    let bench = common::Bench::new();
    let (_, cookie) = bench.signed_in_user(1);
    let client = common::request(&cookie);
    let peer = Some("127.0.0.1".parse().unwrap());
    let filter = || async {
        let mut ctx = RequestCtx::default();
        bench.proxy.decide(&client, &mut ctx).await.unwrap();
        assert_eq!(ctx.decision, Decision::AllowGrant);
        ctx
    };
    // Warm: the session, the grant, the verified cookie and the assertion are cached.
    let ctx = bench.runtime.block_on(filter());
    let mut upstream = client.clone();
    bench.proxy.upstream_headers(peer, &mut upstream, &ctx).unwrap();

    c.bench_function("request_filter_decide", |b| b.to_async(&bench.runtime).iter(filter));
    c.bench_function("request_filter_upstream_headers", |b| {
        b.iter_batched_ref(
            || client.clone(),
            |upstream| bench.proxy.upstream_headers(peer, upstream, &ctx).unwrap(),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("request_filter_whole", |b| {
        b.to_async(&bench.runtime).iter_batched(
            || client.clone(),
            |mut upstream| async {
                let ctx = filter().await;
                bench.proxy.upstream_headers(peer, &mut upstream, &ctx).unwrap();
                // Dropped outside the measurement.
                (upstream, ctx)
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, request_filter);
criterion_main!(benches);
