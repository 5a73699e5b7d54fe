//! Allocations the proxy makes per request, and the memory it holds per cached user, counted
//! by a global allocator that wraps the system's: deterministic, unlike req/s on a shared
//! machine. Not a criterion benchmark; it prints a small report.
//!
//! ```sh
//! cargo bench -p jitgate-proxy --bench request_allocations            # USERS=20000 by default
//! ```
//!
//! Per request: `decide` + `upstream_headers` (the whole request filter, as in
//! `request_filter.rs`) on a warm cache, over prebuilt client headers, so only the filter's
//! own allocations count (not Pingora's parsing or I/O). Per user: the bytes still allocated
//! after USERS users have each made one request (session, grant entry, verified-cookie memo,
//! upstream identity values with the signed assertion), measured stage by stage; requested
//! bytes, so the allocator's own overhead per allocation comes on top (see the count).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use jitgate_access::clock::Clock;
use jitgate_proxy::{Decision, RequestCtx};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> (isize, isize) {
    (LIVE_BYTES.load(Ordering::Relaxed), LIVE_BLOCKS.load(Ordering::Relaxed))
}

/// Runs a future that does not wait (a warm cache never does) on this thread, so no runtime
/// allocates around it; one that would wait is a failed measurement.
fn now_or_never<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the request waited: the cache was not warm"),
    }
}

fn per_request(bench: &common::Bench) {
    const REQUESTS: usize = 10_000;
    let (_, cookie) = bench.signed_in_user(0);
    let peer = Some("127.0.0.1".parse().unwrap());
    let run = |request: &mut pingora::http::RequestHeader| {
        let mut ctx = RequestCtx::default();
        let client = request.clone();
        now_or_never(bench.proxy.decide(&client, &mut ctx)).unwrap();
        assert_eq!(ctx.decision, Decision::AllowGrant);
        bench.proxy.upstream_headers(peer, request, &ctx).unwrap();
    };
    // Warm the cache and the memos through the runtime (the first lookups go to the store).
    let mut warm = common::request(&cookie);
    let mut ctx = RequestCtx::default();
    bench.runtime.block_on(bench.proxy.decide(&warm.clone(), &mut ctx)).unwrap();
    bench.proxy.upstream_headers(peer, &mut warm, &ctx).unwrap();
    run(&mut common::request(&cookie));

    let mut requests: Vec<_> = (0..REQUESTS).map(|_| common::request(&cookie)).collect();
    // `run` copies each header first, as Pingora does for the upstream's: counted apart.
    let clone_cost = {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let copies: Vec<_> = requests.to_vec();
        let cost = ALLOCATIONS.load(Ordering::Relaxed) - before - 1;
        drop(copies);
        cost as f64 / REQUESTS as f64
    };
    let start = ALLOCATIONS.load(Ordering::Relaxed);
    for request in &mut requests {
        run(request);
    }
    let total = (ALLOCATIONS.load(Ordering::Relaxed) - start) as f64 / REQUESTS as f64;
    println!(
        "per request (decide + upstream_headers, warm cache): {:.1} allocations \
         (not counting the {clone_cost:.1} of copying the client's header)",
        total - clone_cost
    );
}

fn per_user(bench: &common::Bench, users: usize) {
    eprintln!("signing in {users} users with grants (the store, not measured)");
    let signed_in: Vec<_> = (1..=users).map(|n| bench.signed_in_user(n)).collect();
    let now = bench.clock.now();
    let peer = Some("127.0.0.1".parse().unwrap());
    let mut stages = Vec::new();
    let mut mark = live();
    let mut stage = |name: &str| {
        let now = live();
        stages.push((name.to_owned(), now.0 - mark.0, now.1 - mark.1));
        mark = now;
    };
    for (session, _) in &signed_in {
        bench.runtime.block_on(bench.cache.session(&session.id, now)).unwrap().unwrap();
    }
    stage("session cache");
    for (session, _) in &signed_in {
        let user = &session.identity.user;
        bench.runtime.block_on(bench.cache.grant_expiry(user, &bench.resource.name, now)).unwrap();
    }
    stage("grant cache");
    for (_, cookie) in &signed_in {
        let mut ctx = RequestCtx::default();
        bench.runtime.block_on(bench.proxy.decide(&common::request(cookie), &mut ctx)).unwrap();
        assert_eq!(ctx.decision, Decision::AllowGrant);
    }
    stage("verified-cookie memo");
    for (_, cookie) in &signed_in {
        let mut request = common::request(cookie);
        let mut ctx = RequestCtx::default();
        bench.runtime.block_on(bench.proxy.decide(&request.clone(), &mut ctx)).unwrap();
        bench.proxy.upstream_headers(peer, &mut request, &ctx).unwrap();
    }
    stage("upstream identity values and assertions");
    let (mut bytes, mut blocks) = (0, 0);
    println!("held per cached user ({users} users; requested bytes, live allocations):");
    for (name, b, n) in &stages {
        println!(
            "  {name}: {:.0} B in {:.1} allocations",
            *b as f64 / users as f64,
            *n as f64 / users as f64
        );
        bytes += b;
        blocks += n;
    }
    println!(
        "  all: {:.0} B in {:.1} allocations per user; with 16 B of malloc overhead per allocation, \
         {:.1} MiB for 100 000 users",
        bytes as f64 / users as f64,
        blocks as f64 / users as f64,
        (bytes + 16 * blocks) as f64 / users as f64 * 100_000.0 / (1 << 20) as f64
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let users = std::env::var("USERS").ok().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let bench = common::Bench::new();
    per_request(&bench);
    per_user(&bench, users);
}
