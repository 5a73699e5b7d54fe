//! Scenario 6: jitgate split into two `--role proxy` instances and one `--role portal` on one
//! Redis. Each browser is pinned to one proxy (Chromium's host resolver rules, as a sticky load
//! balancer would: the public `Host` stays the same). Alice asks through one proxy, a reviewer
//! approves through the other, she gets in through both; a revocation locks both pages within
//! 100 ms of the moment jitgate recorded it.

use jitgate_testkit::browser::{Browser, Locator, PAGE_LIMIT};
use jitgate_testkit::free_port;
use serde_json::{Value, json};

use crate::deployment::{ALICE, DAVE, Deployment, Peers, config};
use crate::flows::{
    Asking, Undo, ask, confirm, expect_echo_app, expect_flash, expect_locked, expect_waiting,
    sign_in_at_idp,
};

const REASON: &str = "OPS-77: check both edge sites";

/// Polls the app from the page as fast as it answers and notes when it first stops answering
/// 200 (a redirect to the portal, or a refusal): `window.lock.lockedAt`, in ms since the epoch.
const WATCH_LOCK: &str = r#"
const state = { lockedAt: null, checks: 0, status: null, since: Date.now() };
window.lock = state;
(async () => {
  while (state.lockedAt === null) {
    try {
      const response = await fetch('/', { redirect: 'manual', cache: 'no-store' });
      state.checks += 1;
      state.status = response.type === 'opaqueredirect' ? 'redirect' : response.status;
      if (state.status !== 200) { state.lockedAt = Date.now(); }
    } catch (error) {
      state.status = String(error);
      state.lockedAt = Date.now();
    }
  }
})();
"#;

/// A browser whose `app.localhost` and `access.localhost` connections all go to `proxy`.
async fn pinned(name: &str, shots: &jitgate_testkit::browser::Screenshots, proxy: u16) -> Browser {
    let rules = format!(
        "--host-resolver-rules=MAP app.localhost 127.0.0.1:{proxy},MAP access.localhost 127.0.0.1:{proxy}"
    );
    Browser::start_with(name, shots, &[rules]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_and_one_portal_on_redis_grant_and_revoke_together() {
    let shots = crate::screenshots("split_roles");
    // `public` is the port in every URL, as the load balancer's would be; nothing listens on
    // it. The proxies listen on their own ports, the portal on a third.
    let (public, proxy_a, proxy_b, portal) = (free_port(), free_port(), free_port(), free_port());
    let peers = Peers::start(public).await;
    let mut deployment = Deployment::new();
    let portal_config = config(&peers, free_port(), free_port())
        .server(&format!("portal_listen = \"127.0.0.1:{portal}\""))
        .build();
    deployment.serve("portal.toml", &portal_config, &["--role", "portal"], portal).await;
    for (name, port) in [("proxy-a.toml", proxy_a), ("proxy-b.toml", proxy_b)] {
        let config = config(&peers, port, free_port())
            .server(&format!("portal_upstream = \"127.0.0.1:{portal}\""))
            .build();
        deployment.serve(name, &config, &["--role", "proxy"], port).await;
    }
    let url = |host: &str, path: &str| format!("http://{host}.localhost:{public}{path}");

    // Alice asks through proxy A; the reviewer approves through proxy B.
    let alice_a = pinned("alice-a", &shots, proxy_a).await;
    alice_a.goto(&url("app", "/")).await;
    sign_in_at_idp(&alice_a, ALICE).await;
    expect_locked(&alice_a, "app").await;
    ask(&alice_a, Asking::Preset("1h"), REASON).await;
    let id = expect_waiting(&alice_a, REASON).await;

    let dave = pinned("dave", &shots, proxy_b).await;
    dave.goto(&url("access", "/review")).await;
    sign_in_at_idp(&dave, DAVE).await;
    dave.wait_for_text("access.localhost", &["Requests", ALICE, REASON]).await;
    dave.screenshot("review-through-proxy-b").await;
    dave.click(Locator::Css(&format!("form[action='/review/{id}/approve'] button[type=submit]")))
        .await;
    dave.wait_for_page("the dashboard after approving", PAGE_LIMIT, |page| {
        page.path() == "/review" && !page.shows(REASON)
    })
    .await;

    // Alice's waiting page moves on through proxy A; a second browser of hers, pinned to
    // proxy B, goes straight from signing in to the app.
    expect_echo_app(&alice_a, ALICE).await;
    alice_a.screenshot("app-through-proxy-a").await;
    let alice_b = pinned("alice-b", &shots, proxy_b).await;
    alice_b.goto(&url("app", "/")).await;
    sign_in_at_idp(&alice_b, ALICE).await;
    expect_echo_app(&alice_b, ALICE).await;
    alice_b.screenshot("app-through-proxy-b").await;

    // Both pages watch the app; the reviewer revokes through proxy B.
    for alice in [&alice_a, &alice_b] {
        alice.execute(WATCH_LOCK, vec![]).await;
        alice
            .wait_for_script(
                "the page to reach the app",
                PAGE_LIMIT,
                "return window.lock.checks > 0 && window.lock.lockedAt === null;",
            )
            .await;
    }
    dave.goto(&url("access", "/review?tab=active")).await;
    dave.wait_for_text("access.localhost", &["Approved / Active", ALICE]).await;
    confirm(&dave, &id, Undo::Revoke, "").await;
    expect_flash(&dave, &format!("Revoked {ALICE}'s access to app.")).await;
    dave.wait_for_page("the dashboard after revoking", PAGE_LIMIT, |page| {
        page.path() == "/review" && !page.shows(REASON)
    })
    .await;
    let request = dave
        .execute(
            "return fetch(arguments[0]).then((response) => response.json());",
            vec![json!(format!("/api/v1/requests/{id}"))],
        )
        .await;
    let ended_at = request["grant"]["ended"]["at"].as_str().unwrap_or_default().to_owned();
    let ended_ms = dave.execute("return Date.parse(arguments[0]);", vec![json!(ended_at)]).await;
    let ended_ms = ended_ms.as_f64().unwrap_or_else(|| panic!("the revocation's time: {request}"));
    assert_eq!(request["status"], "revoked", "{request}");

    for (alice, proxy) in [(&alice_a, "A"), (&alice_b, "B")] {
        alice
            .wait_for_script(
                "the page to see the app locked",
                PAGE_LIMIT,
                "return window.lock.lockedAt !== null;",
            )
            .await;
        let lock: Value = alice.execute("return window.lock;", vec![]).await;
        let locked_ms = lock["lockedAt"].as_f64().unwrap_or_default();
        let after = locked_ms - ended_ms;
        eprintln!("proxy {proxy}: locked {after} ms after the revocation was recorded ({lock})");
        assert!(after >= 0.0, "proxy {proxy} refused alice before the revocation: {lock}");
        assert!(after < 100.0, "proxy {proxy} took {after} ms to lock: {lock}");
        alice.goto(&url("app", "/")).await;
        expect_locked(alice, "app").await;
    }
    alice_a.screenshot("locked-through-proxy-a").await;
    alice_b.screenshot("locked-through-proxy-b").await;
    alice_a.close().await;
    alice_b.close().await;
    dave.close().await;
}
