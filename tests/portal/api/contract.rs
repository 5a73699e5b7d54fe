//! The JSON API against its own OpenAPI document: every documented response provoked and
//! checked against what the handler returns.

use serde_json::{Value, json};

use super::csrf;
use super::openapi::{Contract, Send};
use crate::site::Site;

/// The API as its OpenAPI document describes it, checked against what the handlers answer:
/// each call is looked up in the served document by path template, method and status, and
/// its body validated against the documented schema (error bodies must also carry a code the
/// response's description names). Every documented response is exercised except those
/// listed in [`UNTRIGGERABLE`](super::openapi::UNTRIGGERABLE), and every documented path
/// answers 405 to the methods it does not document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_response_matches_what_the_handler_returns() {
    let site = Site::start().await;
    let anonymous = site.browser();
    let response = anonymous.get(site.url("access", "/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    let mut api = Contract::new(&site, doc);

    // The document itself, and who the caller is.
    api.call(&anonymous, "GET", "/openapi.json", "/openapi.json", Send::Nothing).await.ok();
    api.call(&anonymous, "GET", "/me", "/me", Send::Nothing).await.code("unauthenticated");
    let alice = site.signed_in("alice@example.com").await;
    let me = api.call(&alice, "GET", "/me", "/me", Send::Nothing).await.ok();
    let alice_csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let bearer = api
        .call(&anonymous, "GET", "/me", "/me", Send::Header("authorization", "Bearer x.y.z"))
        .await;
    bearer.code("invalid_token");
    let basic = api
        .call(&anonymous, "GET", "/me", "/me", Send::Header("authorization", "Basic YTpi"))
        .await;
    basic.code("invalid_token");

    let carol = site.signed_in("carol@example.com").await;
    let carol_csrf = csrf(&site, &carol).await;
    let dave = site.signed_in("dave@example.com").await;
    let dave_csrf = csrf(&site, &dave).await;
    let bob = site.signed_in("bob@example.com").await;
    let bob_csrf = csrf(&site, &bob).await;
    let erin = site.signed_in("erin@example.com").await;
    let erin_csrf = csrf(&site, &erin).await;

    // Opening requests.
    let ask = |resource: &str, reason: &str, duration: Value| json!({ "resource": resource, "reason": reason, "duration": duration });
    let create = "/requests";
    let post = |token: &str, body: Value| Send::Json(Some(token.to_owned()), body);
    let app_1h = ask("app", "deploy", json!("1h"));
    api.call(&anonymous, "POST", create, create, post("x", app_1h.clone()))
        .await
        .code("unauthenticated");
    api.call(&alice, "POST", create, create, Send::Json(None, app_1h.clone()))
        .await
        .code("csrf_failed");
    api.call(&alice, "POST", create, create, post(&alice_csrf, ask("app", "x", json!("9h"))))
        .await
        .code("duration_not_allowed");
    api.call(&alice, "POST", create, create, post(&alice_csrf, ask("app", "x", json!("soon"))))
        .await
        .code("invalid_request");
    // A start must carry its zone, and may not lie in the past.
    let mut naive = ask("app", "x", json!("1h"));
    naive["starts_at"] = json!("2030-01-01T09:00:00");
    api.call(&alice, "POST", create, create, post(&alice_csrf, naive))
        .await
        .code("invalid_request");
    let mut past = ask("app", "x", json!("1h"));
    past["starts_at"] = json!("2020-01-01T09:00:00Z");
    api.call(&alice, "POST", create, create, post(&alice_csrf, past))
        .await
        .code("start_not_allowed");
    api.call(&alice, "POST", create, create, post(&alice_csrf, json!({ "resource": "app" })))
        .await
        .code("invalid_request");
    api.call(
        &alice,
        "POST",
        create,
        create,
        post(&alice_csrf, ask("app", &"x".repeat(2001), json!(3600))),
    )
    .await
    .code("too_long");
    api.call(&alice, "POST", create, create, post(&alice_csrf, ask("ghost", "x", json!(3600))))
        .await
        .code("not_found");
    let huge = Send::Raw(
        Some(alice_csrf.clone()),
        format!(
            r#"{{"resource": "app", "reason": "{}", "duration": 3600}}"#,
            "x".repeat(20 * 1024)
        ),
    );
    api.call(&alice, "POST", create, create, huge).await.code("too_large");
    api.call(&dave, "POST", create, create, post(&dave_csrf, app_1h.clone()))
        .await
        .code("forbidden");
    api.call(&erin, "POST", create, create, post(&erin_csrf, app_1h.clone()))
        .await
        .code("standing_access");
    api.call(&bob, "POST", create, create, post(&bob_csrf, ask("app", "", json!("1h"))))
        .await
        .code("reason_required");
    let app_15m = ask("app", "deploy", json!("15m"));
    let auto = api.call(&bob, "POST", create, create, post(&bob_csrf, app_15m)).await;
    assert_eq!(auto.ok()["status"], "active", "sre is approved at once");
    let bob_app = auto.ok()["id"].as_str().unwrap().to_owned();
    let created = api.call(&alice, "POST", create, create, post(&alice_csrf, app_1h.clone())).await;
    let app_id = created.ok()["id"].as_str().unwrap().to_owned();
    assert_eq!(created.location.as_deref(), Some(format!("/api/v1/requests/{app_id}").as_str()));
    api.call(&alice, "POST", create, create, post(&alice_csrf, ask("app", "again", json!(3600))))
        .await
        .code("already_pending");
    let vault_1h = ask("vault", "rotate", json!("1h"));
    let first_vault =
        api.call(&alice, "POST", create, create, post(&alice_csrf, vault_1h.clone())).await;
    let first_vault = first_vault.ok()["id"].as_str().unwrap().to_owned();
    let own = api
        .call(&carol, "POST", create, create, post(&carol_csrf, ask("app", "mine", json!(3600))))
        .await;
    let carol_id = own.ok()["id"].as_str().unwrap().to_owned();

    // Reading them.
    let list = "/requests";
    api.call(&anonymous, "GET", list, list, Send::Nothing).await.code("unauthenticated");
    let mine = api.call(&alice, "GET", list, "/requests", Send::Nothing).await.ok();
    assert_eq!(mine["items"].as_array().unwrap().len(), 2, "{mine}");
    api.call(&carol, "GET", list, "/requests?status=pending&limit=1", Send::Nothing).await.ok();
    api.call(&carol, "GET", list, "/requests?status=sleeping", Send::Nothing)
        .await
        .code("invalid_request");
    api.call(&carol, "GET", list, "/requests?limit=many", Send::Nothing)
        .await
        .code("invalid_request");
    api.call(&alice, "GET", list, "/requests?user=bob%40example.com", Send::Nothing)
        .await
        .code("forbidden");
    let one = "/requests/{id}";
    let app_path = format!("/requests/{app_id}");
    api.call(&alice, "GET", one, &app_path, Send::Nothing).await.ok();
    api.call(&carol, "GET", one, &app_path, Send::Nothing).await.ok();
    api.call(&bob, "GET", one, &app_path, Send::Nothing).await.code("not_found");
    api.call(&alice, "GET", one, "/requests/not-an-id", Send::Nothing).await.code("not_found");
    api.call(&anonymous, "GET", one, &app_path, Send::Nothing).await.code("unauthenticated");

    // Cancelling.
    let cancel = "/requests/{id}/cancel";
    let path = format!("/requests/{first_vault}/cancel");
    api.call(&anonymous, "POST", cancel, &path, Send::Json(None, json!({})))
        .await
        .code("unauthenticated");
    api.call(&alice, "POST", cancel, &path, Send::Json(None, json!({}))).await.code("csrf_failed");
    api.call(&carol, "POST", cancel, &path, post(&carol_csrf, json!({}))).await.code("forbidden");
    api.call(&bob, "POST", cancel, &path, post(&bob_csrf, json!({}))).await.code("not_found");
    let cancelled = api
        .call(&alice, "POST", cancel, &path, Send::Raw(Some(alice_csrf.clone()), String::new()))
        .await;
    assert_eq!(cancelled.ok()["decision"]["outcome"], "cancelled");
    api.call(&alice, "POST", cancel, &path, post(&alice_csrf, json!({}))).await.code("not_pending");

    // Approving.
    let approve = "/requests/{id}/approve";
    let path = format!("/requests/{app_id}/approve");
    api.call(&anonymous, "POST", approve, &path, Send::Json(None, json!({})))
        .await
        .code("unauthenticated");
    api.call(&carol, "POST", approve, &path, Send::Json(None, json!({}))).await.code("csrf_failed");
    api.call(&alice, "POST", approve, &path, post(&alice_csrf, json!({}))).await.code("forbidden");
    let own_approve = format!("/requests/{carol_id}/approve");
    api.call(&carol, "POST", approve, &own_approve, post(&carol_csrf, json!({})))
        .await
        .code("self_review");
    api.call(&bob, "POST", approve, &path, post(&bob_csrf, json!({}))).await.code("not_found");
    api.call(&carol, "POST", approve, &path, post(&carol_csrf, json!({ "bogus": 1 })))
        .await
        .code("invalid_request");
    api.call(&carol, "POST", approve, &path, post(&carol_csrf, json!({ "duration": 999_999 })))
        .await
        .code("duration_not_allowed");
    api.call(
        &carol,
        "POST",
        approve,
        &path,
        post(&carol_csrf, json!({ "note": "n".repeat(2001) })),
    )
    .await
    .code("too_long");
    let huge =
        Send::Raw(Some(carol_csrf.clone()), format!(r#"{{"note": "{}"}}"#, "x".repeat(20 * 1024)));
    api.call(&carol, "POST", approve, &path, huge).await.code("too_large");
    let approved = api
        .call(&carol, "POST", approve, &path, Send::Raw(Some(carol_csrf.clone()), "null".into()))
        .await;
    assert_eq!(approved.ok()["status"], "active");
    api.call(&carol, "POST", approve, &path, post(&carol_csrf, json!({})))
        .await
        .code("not_pending");
    let vault = api.call(&alice, "POST", create, create, post(&alice_csrf, vault_1h.clone())).await;
    let vault_id = vault.ok()["id"].as_str().unwrap().to_owned();
    let path = format!("/requests/{vault_id}/approve");
    let first = api
        .call(
            &carol,
            "POST",
            approve,
            &path,
            post(&carol_csrf, json!({ "duration": "30m", "note": "one" })),
        )
        .await;
    assert_eq!(first.ok()["status"], "pending", "vault needs two approvals");
    api.call(&carol, "POST", approve, &path, post(&carol_csrf, json!({})))
        .await
        .code("already_approved");
    let second = api
        .call(&dave, "POST", approve, &path, post(&dave_csrf, json!({ "duration": null })))
        .await;
    assert_eq!(second.ok()["grant"]["active"], true);

    // Denying.
    let deny = "/requests/{id}/deny";
    let path = format!("/requests/{carol_id}/deny");
    api.call(&anonymous, "POST", deny, &path, Send::Json(None, json!({})))
        .await
        .code("unauthenticated");
    api.call(&dave, "POST", deny, &path, Send::Json(None, json!({}))).await.code("csrf_failed");
    api.call(&carol, "POST", deny, &path, post(&carol_csrf, json!({}))).await.code("self_review");
    api.call(&alice, "POST", deny, &path, post(&alice_csrf, json!({}))).await.code("not_found");
    api.call(&dave, "POST", deny, &path, post(&dave_csrf, json!({ "duration": "1h", "x": 1 })))
        .await
        .code("invalid_request");
    api.call(&dave, "POST", deny, &path, post(&dave_csrf, json!({ "note": "n".repeat(2001) })))
        .await
        .code("too_long");
    let huge =
        Send::Raw(Some(dave_csrf.clone()), format!(r#"{{"note": "{}"}}"#, "x".repeat(20 * 1024)));
    api.call(&dave, "POST", deny, &path, huge).await.code("too_large");
    let denied =
        api.call(&dave, "POST", deny, &path, post(&dave_csrf, json!({ "note": "not now" }))).await;
    assert_eq!(denied.ok()["decision"]["note"], "not now");
    api.call(&dave, "POST", deny, &path, post(&dave_csrf, json!({}))).await.code("not_pending");
    let alice_denies = format!("/requests/{app_id}/deny");
    api.call(&alice, "POST", deny, &alice_denies, post(&alice_csrf, json!({})))
        .await
        .code("forbidden");

    // Grants and the audit trail.
    let grants = "/grants";
    api.call(&anonymous, "GET", grants, grants, Send::Nothing).await.code("unauthenticated");
    let held = api.call(&alice, "GET", grants, "/grants", Send::Nothing).await.ok();
    assert_eq!(held["items"].as_array().unwrap().len(), 2, "app and vault: {held}");
    api.call(&carol, "GET", grants, "/grants?resource=app&limit=1", Send::Nothing).await.ok();
    api.call(&carol, "GET", grants, "/grants?user=nobody", Send::Nothing)
        .await
        .code("invalid_request");
    api.call(&carol, "GET", grants, "/grants?mine=maybe", Send::Nothing)
        .await
        .code("invalid_request");
    api.call(&carol, "GET", grants, "/grants?resource=ghost", Send::Nothing)
        .await
        .code("forbidden");
    let audit = "/audit";
    api.call(&anonymous, "GET", audit, audit, Send::Nothing).await.code("unauthenticated");
    let trail = api.call(&erin, "GET", audit, "/audit", Send::Nothing).await.ok();
    assert!(trail["items"].as_array().unwrap().len() >= 8, "{trail}");
    api.call(&carol, "GET", audit, &format!("/audit?request={app_id}"), Send::Nothing).await.ok();
    api.call(&carol, "GET", audit, "/audit?from=yesterday", Send::Nothing)
        .await
        .code("invalid_request");
    api.call(&alice, "GET", audit, "/audit", Send::Nothing).await.code("forbidden");

    // Pausing and resuming: bob's policy allows it, alice's does not.
    let pause = "/requests/{id}/pause";
    let path = format!("/requests/{bob_app}/pause");
    api.call(&anonymous, "POST", pause, &path, Send::Json(None, json!({})))
        .await
        .code("unauthenticated");
    api.call(&bob, "POST", pause, &path, Send::Json(None, json!({}))).await.code("csrf_failed");
    api.call(&alice, "POST", pause, &path, post(&alice_csrf, json!({}))).await.code("not_found");
    api.call(&bob, "POST", pause, &path, post(&bob_csrf, json!({ "duration": "1h" })))
        .await
        .code("invalid_request");
    api.call(&bob, "POST", pause, &path, post(&bob_csrf, json!({ "note": "n".repeat(2001) })))
        .await
        .code("too_long");
    let huge =
        Send::Raw(Some(bob_csrf.clone()), format!(r#"{{"note": "{}"}}"#, "x".repeat(20 * 1024)));
    api.call(&bob, "POST", pause, &path, huge).await.code("too_large");
    let alice_pause = format!("/requests/{app_id}/pause");
    api.call(&carol, "POST", pause, &alice_pause, post(&carol_csrf, json!({})))
        .await
        .code("pause_not_allowed");
    let paused = api
        .call(&carol, "POST", pause, &path, post(&carol_csrf, json!({ "note": "odd traffic" })))
        .await
        .ok();
    assert_eq!(paused["grant"]["paused"]["by"], "carol@example.com", "{paused}");
    assert_eq!(paused["grant"]["active"], false);
    api.call(&bob, "POST", pause, &path, post(&bob_csrf, json!({}))).await.code("already_paused");
    let resume = "/requests/{id}/resume";
    let path = format!("/requests/{bob_app}/resume");
    api.call(&anonymous, "POST", resume, &path, Send::Json(None, json!({})))
        .await
        .code("unauthenticated");
    api.call(&bob, "POST", resume, &path, Send::Json(None, json!({}))).await.code("csrf_failed");
    api.call(&alice, "POST", resume, &path, post(&alice_csrf, json!({}))).await.code("not_found");
    api.call(&bob, "POST", resume, &path, post(&bob_csrf, json!({}))).await.code("forbidden");
    api.call(&carol, "POST", resume, &path, post(&carol_csrf, json!([])))
        .await
        .code("invalid_request");
    api.call(&carol, "POST", resume, &path, post(&carol_csrf, json!({ "note": "n".repeat(2001) })))
        .await
        .code("too_long");
    let huge =
        Send::Raw(Some(carol_csrf.clone()), format!(r#"{{"note": "{}"}}"#, "x".repeat(20 * 1024)));
    api.call(&carol, "POST", resume, &path, huge).await.code("too_large");
    let resumed = api
        .call(&carol, "POST", resume, &path, Send::Raw(Some(carol_csrf.clone()), String::new()))
        .await
        .ok();
    assert_eq!(resumed["grant"]["active"], true, "{resumed}");
    api.call(&carol, "POST", resume, &path, post(&carol_csrf, json!({}))).await.code("not_paused");

    // Extending: bob's at once (auto), alice's waits for a reviewer; vault allows none.
    let extend = "/requests/{id}/extend";
    let path = format!("/requests/{bob_app}/extend");
    let more = |duration: &str, reason: &str| json!({ "duration": duration, "reason": reason });
    api.call(&anonymous, "POST", extend, &path, Send::Json(None, more("30m", "x")))
        .await
        .code("unauthenticated");
    api.call(&bob, "POST", extend, &path, Send::Json(None, more("30m", "x")))
        .await
        .code("csrf_failed");
    api.call(&alice, "POST", extend, &path, post(&alice_csrf, more("30m", "x")))
        .await
        .code("not_found");
    api.call(&carol, "POST", extend, &path, post(&carol_csrf, more("30m", "x")))
        .await
        .code("forbidden");
    api.call(&bob, "POST", extend, &path, post(&bob_csrf, json!({ "duration": "soon" })))
        .await
        .code("invalid_request");
    api.call(&bob, "POST", extend, &path, post(&bob_csrf, more("30m", "")))
        .await
        .code("reason_required");
    api.call(&bob, "POST", extend, &path, post(&bob_csrf, more("30m", &"x".repeat(2001))))
        .await
        .code("too_long");
    // 15m granted, and at most 1h from now: another hour is too much.
    api.call(&bob, "POST", extend, &path, post(&bob_csrf, more("1h", "x")))
        .await
        .code("duration_not_allowed");
    let huge = Send::Raw(
        Some(bob_csrf.clone()),
        format!(r#"{{"duration": "30m", "reason": "{}"}}"#, "x".repeat(20 * 1024)),
    );
    api.call(&bob, "POST", extend, &path, huge).await.code("too_large");
    let extended = api
        .call(&bob, "POST", extend, &path, post(&bob_csrf, more("30m", "still deploying")))
        .await;
    let body = extended.ok();
    assert_eq!(extended.status, 201);
    assert_eq!(body["status"], "active", "auto: extended at once: {body}");
    assert_eq!(body["extends"]["request_id"], bob_app.as_str());
    assert_eq!(body["extends"]["original_reason"], "deploy");
    let vault_extend = format!("/requests/{vault_id}/extend");
    api.call(&alice, "POST", extend, &vault_extend, post(&alice_csrf, more("30m", "x")))
        .await
        .code("extension_not_allowed");
    let alice_extend = format!("/requests/{app_id}/extend");
    let waiting = api
        .call(&alice, "POST", extend, &alice_extend, post(&alice_csrf, more("1h", "longer")))
        .await
        .ok();
    assert_eq!(waiting["status"], "pending", "manual: reviewers decide: {waiting}");
    api.call(&alice, "POST", extend, &alice_extend, post(&alice_csrf, more("1h", "again")))
        .await
        .code("already_pending");
    let waiting_id = waiting["id"].as_str().unwrap();
    let withdrawn = format!("/requests/{waiting_id}/cancel");
    let cancel_one = "/requests/{id}/cancel";
    api.call(&alice, "POST", cancel_one, &withdrawn, post(&alice_csrf, json!({}))).await.ok();

    // Revoking.
    let revoke = "/requests/{id}/revoke";
    let path = format!("/requests/{app_id}/revoke");
    api.call(&anonymous, "POST", revoke, &path, Send::Json(None, json!({})))
        .await
        .code("unauthenticated");
    api.call(&carol, "POST", revoke, &path, Send::Json(None, json!({}))).await.code("csrf_failed");
    api.call(&bob, "POST", revoke, &path, post(&bob_csrf, json!({}))).await.code("not_found");
    api.call(&carol, "POST", revoke, &path, post(&carol_csrf, json!([])))
        .await
        .code("invalid_request");
    api.call(&carol, "POST", revoke, &path, post(&carol_csrf, json!({ "note": "n".repeat(2001) })))
        .await
        .code("too_long");
    let huge =
        Send::Raw(Some(carol_csrf.clone()), format!(r#"{{"note": "{}"}}"#, "x".repeat(20 * 1024)));
    api.call(&carol, "POST", revoke, &path, huge).await.code("too_large");
    let revoked =
        api.call(&carol, "POST", revoke, &path, post(&carol_csrf, json!({ "note": "done" }))).await;
    assert_eq!(revoked.ok()["grant"]["ended"]["reason"], "revoked");
    api.call(&carol, "POST", revoke, &path, post(&carol_csrf, json!({}))).await.code("not_active");
    let own_end = format!("/requests/{vault_id}/revoke");
    let ended = api
        .call(&alice, "POST", revoke, &own_end, Send::Raw(Some(alice_csrf.clone()), String::new()))
        .await;
    assert_eq!(ended.ok()["grant"]["ended"]["by"], "alice@example.com", "the holder ends her own");
    let ended_pause = format!("/requests/{app_id}/pause");
    api.call(&carol, "POST", pause, &ended_pause, post(&carol_csrf, json!({})))
        .await
        .code("not_active");
    let ended_resume = format!("/requests/{app_id}/resume");
    api.call(&carol, "POST", resume, &ended_resume, post(&carol_csrf, json!({})))
        .await
        .code("not_active");
    api.call(&alice, "POST", extend, &alice_extend, post(&alice_csrf, more("1h", "x")))
        .await
        .code("not_active");

    // Breaking glass on vault (manual, two approvals): alice's is granted at once; dave
    // acknowledges it, alice never can.
    let glass = |resource: &str, reason: &str, duration: &str| json!({ "resource": resource, "reason": reason, "duration": duration, "break_glass": true });
    api.call(&bob, "POST", create, create, post(&bob_csrf, glass("app", "outage", "30m")))
        .await
        .code("break_glass_not_allowed");
    api.call(&alice, "POST", create, create, post(&alice_csrf, glass("vault", " ", "30m")))
        .await
        .code("reason_required");
    api.call(&alice, "POST", create, create, post(&alice_csrf, glass("vault", "outage", "2h")))
        .await
        .code("duration_not_allowed");
    api.call(
        &alice,
        "POST",
        create,
        create,
        post(
            &alice_csrf,
            json!({ "resource": "vault", "reason": "x", "duration": "30m", "break_glass": "yes" }),
        ),
    )
    .await
    .code("invalid_request");
    let broke = api
        .call(&alice, "POST", create, create, post(&alice_csrf, glass("vault", "outage", "30m")))
        .await;
    let body = broke.ok();
    assert_eq!(broke.status, 201);
    assert_eq!(body["status"], "active", "at once, under manual approval: {body}");
    assert_eq!(body["decision"]["outcome"], "break_glass", "not an approval: {body}");
    assert_eq!(body["break_glass"]["unreviewed"], true, "{body}");
    let broke_id = body["id"].as_str().unwrap().to_owned();
    let acknowledge = "/requests/{id}/acknowledge";
    let path = format!("/requests/{broke_id}/acknowledge");
    api.call(&anonymous, "POST", acknowledge, &path, Send::Json(None, json!({})))
        .await
        .code("unauthenticated");
    api.call(&dave, "POST", acknowledge, &path, Send::Json(None, json!({})))
        .await
        .code("csrf_failed");
    api.call(&alice, "POST", acknowledge, &path, post(&alice_csrf, json!({})))
        .await
        .code("self_review");
    api.call(&bob, "POST", acknowledge, &path, post(&bob_csrf, json!({}))).await.code("not_found");
    api.call(&dave, "POST", acknowledge, &path, post(&dave_csrf, json!({ "ok": true })))
        .await
        .code("invalid_request");
    api.call(
        &dave,
        "POST",
        acknowledge,
        &path,
        post(&dave_csrf, json!({ "note": "n".repeat(2001) })),
    )
    .await
    .code("too_long");
    let huge =
        Send::Raw(Some(dave_csrf.clone()), format!(r#"{{"note": "{}"}}"#, "x".repeat(20 * 1024)));
    api.call(&dave, "POST", acknowledge, &path, huge).await.code("too_large");
    let acknowledged = api
        .call(&dave, "POST", acknowledge, &path, post(&dave_csrf, json!({ "note": "seen" })))
        .await
        .ok();
    assert_eq!(acknowledged["break_glass"]["unreviewed"], false, "{acknowledged}");
    assert_eq!(acknowledged["break_glass"]["acknowledged_by"], "dave@example.com");
    api.call(&erin, "POST", acknowledge, &path, post(&erin_csrf, json!({})))
        .await
        .code("already_acknowledged");
    let ordinary = format!("/requests/{app_id}/acknowledge");
    api.call(&dave, "POST", acknowledge, &ordinary, post(&dave_csrf, json!({})))
        .await
        .code("not_break_glass");

    // An admin ends a user's sessions.
    let end = "/users/{user}/sessions/end";
    let path = "/users/bob%40example.com/sessions/end";
    api.call(&anonymous, "POST", end, path, Send::Json(None, json!({})))
        .await
        .code("unauthenticated");
    api.call(&erin, "POST", end, path, Send::Json(None, json!({}))).await.code("csrf_failed");
    api.call(&carol, "POST", end, path, post(&carol_csrf, json!({}))).await.code("forbidden");
    api.call(&erin, "POST", end, "/users/bob/sessions/end", post(&erin_csrf, json!({})))
        .await
        .code("invalid_request");
    let ended = api.call(&erin, "POST", end, path, post(&erin_csrf, json!({}))).await.ok();
    assert_eq!(ended["ended"], 1, "bob's one session");

    api.finish(&erin, &app_id).await;
}
