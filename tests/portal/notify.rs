//! Notifications end to end: the real binary mails reviewers through a real SMTP server
//! (aiosmtpd) and calls a real webhook endpoint, through the durable outbox: an SMTP outage
//! delays mail without losing it, and a crash with mail undelivered sends each exactly once.

use std::time::Duration;

use hmac::{Hmac, Mac};
use jitgate_testkit::notify::{Received, SmtpServer, SmtpTls, WebhookReceiver};
use jitgate_testkit::wait_until;
use reqwest::Client;
use sha2::Sha256;

use crate::site::{Site, csrf_of};

const SECRET: &str = "webhook-test-secret";
/// How old a webhook timestamp may be before the receiver refuses it as a replay.
const TOLERANCE_SECS: i64 = 300;

async fn site(smtp: &SmtpServer, hook: &WebhookReceiver) -> Site {
    site_with(smtp, hook, "").await
}

async fn site_with(smtp: &SmtpServer, hook: &WebhookReceiver, extra: &str) -> Site {
    Site::start_with_extra(&format!(
        "{extra}\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"jitgate <jitgate@example.com>\"\n\n\
         [[webhook]]\nname = \"siem\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\nevents = [\"request.created\", \"request.approved\"]\n\n\
         [[webhook]]\nname = \"chat\"\nurl = \"{}\"\nformat = \"slack\"\nevents = [\"request.created\"]\n",
        smtp.port,
        hook.url("/hooks/jitgate"),
        hook.url("/slack"),
    ))
    .await
}

/// What a receiver does with a delivery: the signature must cover this timestamp and body,
/// and the timestamp must be recent.
fn verify(received: &Received, now: i64) -> Result<(), &'static str> {
    let timestamp: i64 =
        received.headers["x-jitgate-timestamp"].parse().map_err(|_| "timestamp")?;
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err("stale timestamp: a replay");
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", received.body).as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    if received.headers["x-jitgate-signature"] == format!("sha256={expected}") {
        Ok(())
    } else {
        Err("bad signature")
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn to(message: &str) -> &str {
    message.lines().find_map(|l| l.strip_prefix("To: ")).unwrap_or("")
}

fn mails_to<'a>(messages: &'a [String], who: &str, subject: &str) -> Vec<&'a String> {
    messages.iter().filter(|m| to(m).contains(who) && m.contains(subject)).collect()
}

async fn arrives(smtp: &SmtpServer, what: &str, count: usize, pick: impl Fn(&[String]) -> usize) {
    wait_until(what, Duration::from_secs(30), || {
        let n = pick(&smtp.messages());
        async move { n >= count }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewers_are_mailed_each_request_and_the_requester_each_decision() {
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    let site = site(&smtp, &hook).await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the <b>certs</b>").await;

    // The reviewers of `app` are the global reviewers: carol and dave (not alice, not bob).
    arrives(&smtp, "the reviewers' mail", 2, |m| mails_to(m, "", "Access request").len()).await;
    let messages = smtp.messages();
    for reviewer in ["carol@example.com", "dave@example.com"] {
        let mine = mails_to(&messages, reviewer, "Access request: alice@example.com");
        assert_eq!(mine.len(), 1, "one mail to {reviewer}");
        let mail = mine[0];
        assert!(mail.contains(&format!("#r-{id}")), "a direct link to the request: {mail}");
        assert!(mail.contains("rotate the <b>certs</b>"), "the reason, in the text part");
        assert!(
            mail.contains("rotate the &lt;b&gt;certs&lt;/b&gt;") || mail.contains("&#60;b&#62;"),
            "escaped in HTML: {mail}"
        );
        assert!(mail.contains("Message-ID: <"), "an idempotency key");
    }
    assert!(mails_to(&messages, "alice@example.com", "").is_empty(), "the requester is not asked");

    let carol = site.signed_in("carol@example.com").await;
    assert_eq!(site.decide(&carol, &id, "approve", "").await.status(), 200);
    arrives(&smtp, "alice's approval mail", 1, |m| {
        mails_to(m, "alice@example.com", "Approved").len()
    })
    .await;
    let approval =
        smtp.messages().into_iter().find(|m| to(m).contains("alice@example.com")).unwrap();
    assert!(approval.contains("carol@example.com"), "who approved: {approval}");

    assert_eq!(site.decide(&carol, &id, "revoke", "work is done").await.status(), 200);
    arrives(&smtp, "alice's revocation mail", 1, |m| {
        mails_to(m, "alice@example.com", "Revoked").len()
    })
    .await;
    let revocation = smtp.messages().into_iter().find(|m| m.contains("Revoked:")).unwrap();
    assert!(revocation.contains("work is done") && revocation.contains("carol@example.com"));

    let second = site.ask(&alice, "app", "again").await;
    assert_eq!(site.decide(&carol, &second, "deny", "not twice").await.status(), 200);
    arrives(&smtp, "alice's denial mail", 1, |m| mails_to(m, "alice@example.com", "Denied").len())
        .await;
    let denial = smtp.messages().into_iter().find(|m| m.contains("Denied:")).unwrap();
    assert!(denial.contains("not twice"), "the note: {denial}");

    // The webhook got what it subscribed to, signed.
    wait_until("five webhook deliveries", Duration::from_secs(30), || {
        let n = hook.received().len();
        async move { n >= 5 }
    })
    .await;
    let (received, chat): (Vec<Received>, Vec<Received>) =
        hook.received().into_iter().partition(|r| r.path == "/hooks/jitgate");
    assert_eq!(chat.len(), 2, "the Slack-format hook hears of both new requests");
    let slack: serde_json::Value = serde_json::from_str(&chat[0].body).unwrap();
    let text = slack["text"].as_str().unwrap();
    assert!(text.contains("Access request: alice@example.com → app"), "{text}");
    assert!(text.contains(&format!("#r-{id}")), "a link to review it: {text}");
    assert!(!chat[0].headers.contains_key("x-jitgate-signature"), "no secret, no signature");
    let kinds: Vec<String> = received
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        ["request.created", "request.approved", "request.created"],
        "denials are not subscribed"
    );
    let first: serde_json::Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(first["request"]["id"], id.as_str());
    assert_eq!(first["user"], "alice@example.com");
    assert_eq!(
        first["id"],
        received[0].headers["x-jitgate-delivery"].as_str(),
        "idempotency key in the header"
    );
    for delivery in &received {
        assert_eq!(verify(delivery, unix_now()), Ok(()), "{delivery:?}");
    }
    let mut altered = received[0].clone();
    altered.body = altered.body.replace("alice@example.com", "mallory@example.com");
    assert_eq!(verify(&altered, unix_now()), Err("bad signature"));
    assert_eq!(
        verify(&received[0], unix_now() + TOLERANCE_SECS + 60),
        Err("stale timestamp: a replay")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_out_an_smtp_outage_and_a_crash_and_goes_out_once() {
    let mut smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    let mut site = site(&smtp, &hook).await;
    smtp.stop().await;
    hook.answer(503);
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "during the outage").await;

    // jitgate crashes with the mail still undelivered, and comes back.
    site.restart().await;
    smtp.resume().await;
    hook.answer(200);
    arrives(&smtp, "the mail after the outage", 2, |m| mails_to(m, "", "Access request").len())
        .await;
    wait_until("the webhook after the outage", Duration::from_secs(30), || {
        let n = hook.received().len();
        async move { n >= 1 }
    })
    .await;

    // A later event goes through the same queue behind them; by the time it arrives, any
    // duplicate of the earlier mail would have too.
    let carol = site.signed_in("carol@example.com").await;
    assert_eq!(site.decide(&carol, &id, "deny", "later").await.status(), 200);
    arrives(&smtp, "the denial", 1, |m| mails_to(m, "alice@example.com", "Denied").len()).await;
    let messages = smtp.messages();
    for reviewer in ["carol@example.com", "dave@example.com"] {
        assert_eq!(
            mails_to(&messages, reviewer, "Access request").len(),
            1,
            "exactly once to {reviewer}"
        );
    }
    let created: Vec<_> =
        hook.received().into_iter().filter(|r| r.body.contains("request.created")).collect();
    assert_eq!(created.len(), 1, "the webhook too, exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_keeps_failing_is_given_up_audited_and_shown_to_admins() {
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    hook.answer(500);
    let retries = "[notifications]\nmax_attempts = 2\nfirst_retry = \"1s\"\n";
    let site = site_with(&smtp, &hook, retries).await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "needs a webhook").await;

    let erin = site.signed_in("erin@example.com").await;
    let failed_page = site.url("access", "/notifications");
    wait_until("the failure on the admin page", Duration::from_secs(30), || {
        let (erin, url) = (erin.clone(), failed_page.clone());
        async move {
            let page = erin.get(url).send().await.unwrap().text().await.unwrap();
            page.contains("webhook siem")
        }
    })
    .await;
    let page = erin.get(&failed_page).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("/requests/{id}")) && page.contains("answered 500"), "{page}");
    assert!(page.contains("request.created"));
    let audit: serde_json::Value = erin
        .get(site.url("access", &format!("/api/v1/audit?request={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failure = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["action"] == "notification_failed"
                && e["note"].as_str().is_some_and(|n| n.contains("webhook siem"))
        })
        .unwrap_or_else(|| panic!("audited: {audit}"));
    assert!(failure["note"].as_str().unwrap().contains("webhook siem"), "{failure}");
    assert!(hook.received().is_empty(), "nothing was accepted");
    // Mail is a separate target: it went out regardless.
    assert!(!mails_to(&smtp.messages(), "carol@example.com", "Access request").is_empty());
    let others = alice.get(&failed_page).send().await.unwrap();
    assert_eq!(others.status(), 403, "admins only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_send_each_mail_once() {
    let redis = jitgate_testkit::RedisServer::start().await;
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    let config = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"jitgate@example.com\"\nnotify_admins = false\n\n\
         [[webhook]]\nname = \"siem\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\n",
        smtp.port,
        hook.url("/hooks/jitgate"),
    );
    let first = Site::start_on_redis(&redis.url(), &config).await;
    let second = Site::start_on_redis(&redis.url(), &config).await;
    // Requests made on both instances; both instances' workers drain the one outbox.
    let mut ids = Vec::new();
    for (i, site) in [&first, &second, &first, &second].into_iter().enumerate() {
        let user = ["alice@example.com", "carol@example.com"][i % 2];
        let browser = site.signed_in(user).await;
        let resource = if i < 2 { "app" } else { "vault" };
        ids.push(site.ask(&browser, resource, "x").await);
    }
    // Reviewers: carol and dave for alice's two requests, dave for carol's two (never herself).
    arrives(&smtp, "every reviewer's mail", 6, |m| mails_to(m, "", "Access request").len()).await;
    wait_until("every webhook call", Duration::from_secs(30), || {
        let n = hook.received().len();
        async move { n >= 4 }
    })
    .await;
    // One more event through the same queue: anything sent twice would be in by then.
    let dave = first.signed_in("dave@example.com").await;
    let dashboard =
        dave.get(first.url("access", "/review")).send().await.unwrap().text().await.unwrap();
    let denied = dave
        .post(first.url("access", &format!("/review/{}/deny", ids[0])))
        .form(&[("csrf", csrf_of(&dashboard).as_str()), ("note", "no"), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 200);
    arrives(&smtp, "the denial", 1, |m| mails_to(m, "alice@example.com", "Denied").len()).await;
    wait_until("the denial's webhook", Duration::from_secs(30), || {
        let n = hook.received().len();
        async move { n >= 5 }
    })
    .await;

    let messages = smtp.messages();
    assert_eq!(mails_to(&messages, "dave@example.com", "Access request").len(), 4, "once each");
    assert_eq!(mails_to(&messages, "carol@example.com", "Access request").len(), 2, "once each");
    assert_eq!(messages.len(), 7, "six requests to review and one denial, nothing twice");
    let deliveries: std::collections::BTreeSet<String> =
        hook.received().iter().map(|r| r.headers["x-jitgate-delivery"].clone()).collect();
    assert_eq!(deliveries.len(), 5, "five events, five distinct deliveries");
    assert_eq!(hook.received().len(), 5, "and no repeats");
}

/// The ops port's value of the metric line starting with `series`, 0 when absent.
async fn metric(site: &Site, series: &str) -> i64 {
    let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", site.ops_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0)
}

/// Bob asks for 15 minutes of `app` (approved automatically); the request id.
async fn bob_asks(site: &Site, bob: &Client) -> String {
    let token: serde_json::Value =
        bob.get(site.url("access", "/api/v1/me")).send().await.unwrap().json().await.unwrap();
    let created: serde_json::Value = bob
        .post(site.url("access", "/api/v1/requests"))
        .header("x-csrf-token", token["csrf_token"].as_str().unwrap())
        .json(&serde_json::json!({ "resource": "app", "reason": "deploy", "duration": "15m" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["status"], "active", "{created}");
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holders_are_reminded_before_expiry_unless_the_grant_ended() {
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    // Bob's grants last 15 minutes: the reminder is due 3 seconds after each approval.
    let site = site_with(&smtp, &hook, "[notifications]\nremind_before = \"14m57s\"\n").await;
    let bob = site.signed_in("bob@example.com").await;
    let skipped = "jitgate_notifications_total{channel=\"email\",outcome=\"skipped\"}";
    let delivered = "jitgate_notifications_total{channel=\"email\",outcome=\"delivered\"}";

    // Bob ends his access at once: the reminder, when due, is dropped.
    let ended = bob_asks(&site, &bob).await;
    let token: serde_json::Value =
        bob.get(site.url("access", "/api/v1/me")).send().await.unwrap().json().await.unwrap();
    let revoked = bob
        .post(site.url("access", &format!("/api/v1/requests/{ended}/revoke")))
        .header("x-csrf-token", token["csrf_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    wait_until("the stale reminder to be dropped", Duration::from_secs(30), || {
        let site = &site;
        async move { metric(site, skipped).await == 1 }
    })
    .await;
    assert!(mails_to(&smtp.messages(), "bob@example.com", "Ending soon").is_empty());

    // A grant that runs on gets its reminder.
    let running = bob_asks(&site, &bob).await;
    arrives(&smtp, "the reminder", 1, |m| mails_to(m, "bob@example.com", "Ending soon").len())
        .await;
    let reminder = smtp.messages().into_iter().find(|m| m.contains("Ending soon")).unwrap();
    assert!(reminder.contains(&format!("/requests/{running}")), "{reminder}");
    assert_eq!(mails_to(&smtp.messages(), "bob@example.com", "Ending soon").len(), 1);
    assert_eq!(metric(&site, skipped).await, 1);
    assert!(metric(&site, delivered).await >= 1, "deliveries are counted");
    wait_until("the queue to drain", Duration::from_secs(30), || {
        let site = &site;
        async move { metric(site, "jitgate_notification_queue").await == 0 }
    })
    .await;
}

/// A private CA and a certificate it signed for 127.0.0.1, as PEM files in `dir`:
/// (ca, cert, key).
fn private_ca(dir: &std::path::Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let (ca, relay) = jitgate_testkit::tls::private_ca(dir, "smtp", &["127.0.0.1"]);
    (ca.to_string_lossy().into_owned(), relay.cert, relay.key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_over_starttls_and_implicit_tls_with_a_login_to_a_relay_with_a_private_ca() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(certs.path());
    let modes = [
        ("starttls", SmtpTls::StartTls { cert: cert.clone(), key: key.clone() }),
        ("tls", SmtpTls::Implicit { cert, key }),
    ];
    for (mode, tls) in modes {
        // The relay demands a login, which jitgate gives once TLS is up.
        let smtp = SmtpServer::start_with(tls, Some(("jitgate", "mail-pass"))).await;
        let site = Site::start_with_extra(&format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"{mode}\"\nca_file = \"{ca}\"\n\
             username = \"jitgate\"\npassword = \"mail-pass\"\n\
             from = \"jitgate@example.com\"\nnotify_admins = false\n",
            smtp.port
        ))
        .await;
        let alice = site.signed_in("alice@example.com").await;
        site.ask(&alice, "app", &format!("over {mode}")).await;
        arrives(&smtp, &format!("mail over {mode}"), 2, |m| {
            mails_to(m, "", "Access request").len()
        })
        .await;
        assert!(smtp.messages().iter().all(|m| m.contains(&format!("over {mode}"))));
    }
}

/// Carol (a reviewer) pauses and resumes Bob's grant, then Bob pauses it himself: Bob is
/// mailed of what someone else did to his access and not of what he did, and a webhook
/// subscribed to `grant.paused` and `grant.resumed` hears all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pauses_and_resumptions_by_others_are_mailed_and_all_go_to_webhooks() {
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    let lifecycle = format!(
        "[[webhook]]\nname = \"lifecycle\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\nevents = [\"grant.paused\", \"grant.resumed\"]\n",
        hook.url("/hooks/lifecycle")
    );
    let site = site_with(&smtp, &hook, &lifecycle).await;
    let bob = site.signed_in("bob@example.com").await;
    let id = bob_asks(&site, &bob).await;
    let carol = site.signed_in("carol@example.com").await;
    lifecycle_step(&site, &carol, &id, "pause", "unusual queries").await;
    lifecycle_step(&site, &carol, &id, "resume", "explained").await;
    lifecycle_step(&site, &bob, &id, "pause", "lunch").await;

    let kinds = signed_kinds(&hook, "/hooks/lifecycle", 3).await;
    assert_eq!(kinds, ["grant.paused", "grant.resumed", "grant.paused"]);

    arrives(&smtp, "bob's pause and resume mail", 2, |m| {
        mails_to(m, "bob@example.com", "Paused").len()
            + mails_to(m, "bob@example.com", "Resumed").len()
    })
    .await;
    wait_until("the queue to drain", Duration::from_secs(30), || {
        let site = &site;
        async move { metric(site, "jitgate_notification_queue").await == 0 }
    })
    .await;
    let messages = smtp.messages();
    let paused = mails_to(&messages, "bob@example.com", "Paused: bob@example.com");
    assert_eq!(paused.len(), 1, "his own pause is not mailed to him");
    assert!(paused[0].contains("unusual queries") && paused[0].contains("carol@example.com"));
    assert_eq!(mails_to(&messages, "bob@example.com", "Resumed: bob@example.com").len(), 1);
}

/// `who` pauses or resumes (`action`) request `id` through the API, with `note`.
async fn lifecycle_step(site: &Site, who: &Client, id: &str, action: &str, note: &str) {
    let path = format!("/api/v1/requests/{id}/{action}");
    let answer = api_post(site, who, &path, serde_json::json!({ "note": note })).await;
    assert_eq!(answer["grant"]["request_id"], id, "{path}: {answer}");
}

/// A successful POST of `body` to the API at `path` as `who`; the answer's body.
async fn api_post(
    site: &Site,
    who: &Client,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let me: serde_json::Value =
        who.get(site.url("access", "/api/v1/me")).send().await.unwrap().json().await.unwrap();
    let answer = who
        .post(site.url("access", path))
        .header("x-csrf-token", me["csrf_token"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    answer.json().await.unwrap()
}

/// The event types of the first `count` deliveries to the webhook at `path`, once they came,
/// each checked for its signature.
async fn signed_kinds(hook: &WebhookReceiver, path: &str, count: usize) -> Vec<String> {
    let ours =
        || -> Vec<Received> { hook.received().into_iter().filter(|r| r.path == path).collect() };
    wait_until("the webhook's deliveries", Duration::from_secs(30), || {
        let n = ours().len();
        async move { n >= count }
    })
    .await;
    ours()
        .iter()
        .map(|r| {
            assert_eq!(verify(r, unix_now()), Ok(()), "{r:?}");
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            body["type"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Alice asks for more time on her grant: the reviewers are mailed an extension request with
/// her original reason, she is mailed when it is approved, and a webhook subscribed to
/// `extension.requested` and `grant.extended` hears both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extension_requests_reach_reviewers_and_the_extension_its_holder() {
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    let extensions = format!(
        "[[webhook]]\nname = \"extensions\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\nevents = [\"extension.requested\", \"grant.extended\"]\n",
        hook.url("/hooks/extensions")
    );
    let site = site_with(&smtp, &hook, &extensions).await;
    let alice = site.signed_in("alice@example.com").await;
    let id = site.ask(&alice, "app", "rotate the certs").await;
    let carol = site.signed_in("carol@example.com").await;
    assert_eq!(site.decide(&carol, &id, "approve", "").await.status(), 200);

    let more = serde_json::json!({ "duration": "30m", "reason": "one more host" });
    let asked = api_post(&site, &alice, &format!("/api/v1/requests/{id}/extend"), more).await;
    assert_eq!(asked["status"], "pending", "{asked}");
    let extension = asked["id"].as_str().unwrap().to_owned();
    arrives(&smtp, "the reviewers' extension mail", 2, |m| {
        mails_to(m, "", "Extension request: alice@example.com").len()
    })
    .await;
    let messages = smtp.messages();
    for reviewer in ["carol@example.com", "dave@example.com"] {
        let mine = mails_to(&messages, reviewer, "Extension request: alice@example.com");
        assert_eq!(mine.len(), 1, "one mail to {reviewer}");
        assert!(mine[0].contains("rotate the certs") && mine[0].contains("one more host"));
        assert!(mine[0].contains(&format!("#r-{extension}")), "a link to review it");
    }

    assert_eq!(site.decide(&carol, &extension, "approve", "").await.status(), 200);
    arrives(&smtp, "alice's extension mail", 1, |m| {
        mails_to(m, "alice@example.com", "Extended: your access to app").len()
    })
    .await;
    let kinds = signed_kinds(&hook, "/hooks/extensions", 2).await;
    assert_eq!(kinds, ["extension.requested", "grant.extended"]);
}

/// Alice breaks glass on vault: every reviewer and every admin is mailed at once (admins
/// although `notify_admins` is off), she is not; she is mailed when Dave acknowledges it, and
/// a webhook subscribed to `grant.break_glass` and `break_glass.acknowledged` hears both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_reaches_every_reviewer_and_admin_and_its_review_the_holder() {
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    // Admins are not mailed requests here, yet must hear of broken glass.
    let site = Site::start_with_extra(&format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"jitgate <jitgate@example.com>\"\nnotify_admins = false\n\n\
         [[webhook]]\nname = \"glass\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\nevents = [\"grant.break_glass\", \"break_glass.acknowledged\"]\n",
        smtp.port,
        hook.url("/hooks/glass"),
    ))
    .await;
    let alice = site.signed_in("alice@example.com").await;
    let ask = serde_json::json!({ "resource": "vault", "reason": "vault sealed", "duration": "30m", "break_glass": true });
    let broke = api_post(&site, &alice, "/api/v1/requests", ask).await;
    assert_eq!(broke["status"], "active", "{broke}");
    let id = broke["id"].as_str().unwrap().to_owned();
    let subject = "Break glass: alice@example.com";
    arrives(&smtp, "the break-glass mail", 3, |m| mails_to(m, "", subject).len()).await;
    let messages = smtp.messages();
    for who in ["carol@example.com", "dave@example.com", "erin@example.com"] {
        let mine = mails_to(&messages, who, subject);
        assert_eq!(mine.len(), 1, "one mail to {who}");
        assert!(mine[0].contains("vault sealed") && mine[0].contains(&format!("/requests/{id}")));
    }
    assert!(mails_to(&messages, "alice@example.com", subject).is_empty(), "not the holder");
    // An ordinary request on the same site goes to reviewers only: notify_admins is off.
    let asked = site.ask(&alice, "app", "look").await;
    arrives(&smtp, "the request mail", 2, |m| mails_to(m, "", "Access request: alice").len()).await;
    let requested = mails_to(&smtp.messages(), "erin@example.com", "Access request: alice").len();
    assert_eq!(requested, 0, "request {asked}: no admin mail with notify_admins = false");

    let dave = site.signed_in("dave@example.com").await;
    let path = format!("/api/v1/requests/{id}/acknowledge");
    let acknowledged = api_post(&site, &dave, &path, serde_json::json!({ "note": "ok" })).await;
    assert_eq!(acknowledged["break_glass"]["unreviewed"], false, "{acknowledged}");
    arrives(&smtp, "alice's review mail", 1, |m| {
        mails_to(m, "alice@example.com", "Reviewed: your break-glass access to vault").len()
    })
    .await;
    let kinds = signed_kinds(&hook, "/hooks/glass", 2).await;
    assert_eq!(kinds, ["grant.break_glass", "break_glass.acknowledged"]);
}

/// A reload changes where notifications go: a webhook moved to another URL gets the next
/// request's event there, and nothing more at the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_moves_a_webhook_for_the_next_event() {
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    let site = site(&smtp, &hook).await;
    let path = site.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let (old, new) = (hook.url("/slack"), hook.url("/reloaded"));
    std::fs::write(&path, text.replace(&old, &new)).unwrap();
    site.reload();
    wait_until("the reload to take", Duration::from_secs(10), || async {
        let metrics = jitgate_testkit::http::get(site.ops_port, "localhost", "/metrics", &[]).await;
        metrics.body.lines().any(|line| line == "jitgate_config_generation 2")
    })
    .await;

    let alice = site.signed_in("alice@example.com").await;
    site.ask(&alice, "app", "after the reload").await;
    wait_until("the moved webhook's delivery", Duration::from_secs(30), || {
        let moved = hook.received().iter().any(|r| r.path == "/reloaded");
        async move { moved }
    })
    .await;
    let received = hook.received();
    assert!(received.iter().all(|r| r.path != "/slack"), "nothing at the old URL");
    assert!(received.iter().any(|r| r.path == "/hooks/jitgate"), "the other hook unchanged");
}

/// Bob schedules access to app a few seconds ahead (approved at once: his approval is
/// automatic). Nothing is announced as started until the start; then the sweeper records it
/// and he is mailed, and a webhook subscribed to `grant.started` hears it, signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_grant_is_announced_to_its_holder_when_it_starts() {
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    let site = Site::start_with_extra(&format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"jitgate <jitgate@example.com>\"\n\n\
         [[webhook]]\nname = \"starts\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\nevents = [\"grant.started\"]\n",
        smtp.port,
        hook.url("/hooks/starts"),
    ))
    .await;
    let bob = site.signed_in("bob@example.com").await;
    let start = std::time::SystemTime::now() + std::time::Duration::from_secs(4);
    let starts_at = humantime::format_rfc3339_millis(start).to_string();
    let ask = serde_json::json!({ "resource": "app", "reason": "deploy", "duration": "1h", "starts_at": starts_at });
    let scheduled = api_post(&site, &bob, "/api/v1/requests", ask).await;
    assert_eq!(scheduled["status"], "scheduled", "{scheduled}");
    let subject = "Started: your access to app";
    assert!(mails_to(&smtp.messages(), "", subject).is_empty(), "not before its start");
    arrives(&smtp, "the started mail", 1, |m| mails_to(m, "bob@example.com", subject).len()).await;
    assert!(std::time::SystemTime::now() >= start, "announced at its start, not before");
    let kinds = signed_kinds(&hook, "/hooks/starts", 1).await;
    assert_eq!(kinds, ["grant.started"]);
}

/// Fay's approved access to vault starts on first use: her first request through the proxy
/// claims it, she is mailed when it started (and so until when it runs), and a webhook
/// subscribed to `grant.claimed` and `grant.lapsed` hears the claim, signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_on_first_use_is_mailed_to_its_holder_and_sent_to_webhooks() {
    let smtp = SmtpServer::start().await;
    let hook = WebhookReceiver::start().await;
    let first_use = format!(
        "[[webhook]]\nname = \"first-use\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\nevents = [\"grant.claimed\", \"grant.lapsed\"]\n",
        hook.url("/hooks/first-use")
    );
    let site = site_with(&smtp, &hook, &first_use).await;
    let fay = site.signed_in("fay@example.com").await;
    let id = site.ask(&fay, "vault", "rotate the root token").await;
    let dave = site.signed_in("dave@example.com").await;
    assert!(site.decide(&dave, &id, "approve", "").await.status().is_success());
    let waiting = site.page(&fay, "/").await;
    assert!(waiting.contains("waiting for first use — claim by"), "{waiting}");

    let used = fay.get(site.url("vault", "/")).send().await.unwrap();
    assert_eq!(used.status(), 200, "the first request claims and passes");
    let kinds = signed_kinds(&hook, "/hooks/first-use", 1).await;
    assert_eq!(kinds, ["grant.claimed"]);
    arrives(&smtp, "fay's start mail", 1, |m| {
        mails_to(m, "fay@example.com", "Started: your access to vault").len()
    })
    .await;
    let started = mails_to(&smtp.messages(), "fay@example.com", "Started: your access to vault")
        .first()
        .map(|mail| (*mail).clone())
        .unwrap();
    assert!(started.contains("Until") && started.contains(&format!("/requests/{id}")), "{started}");
    let again = fay.get(site.url("vault", "/")).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(signed_kinds(&hook, "/hooks/first-use", 1).await.len(), 1, "claimed once");
}
