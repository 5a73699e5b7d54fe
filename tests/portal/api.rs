//! The JSON API v1 against the real binary: session callers need the CSRF header, errors are
//! JSON with stable codes, reviewers cannot approve their own requests, and the audit trail
//! and exports show what happened (CSV cells that would run as formulas neutralised). The
//! OpenAPI document the API serves is checked against what every handler answers.

use serde_json::{Value, json};

use crate::site::{self, Site};

/// The CSRF token the API hands a session caller.
async fn csrf(site: &Site, browser: &reqwest::Client) -> String {
    let me: Value =
        browser.get(site.url("access", "/api/v1/me")).send().await.unwrap().json().await.unwrap();
    me["csrf_token"].as_str().expect("a session caller gets a CSRF token").to_owned()
}

async fn post(
    site: &Site,
    browser: &reqwest::Client,
    path: &str,
    csrf: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = browser.post(site.url("access", path)).json(&body);
    if let Some(token) = csrf {
        request = request.header("X-CSRF-Token", token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json",
        "{path} answers JSON"
    );
    (status, response.json().await.unwrap())
}

async fn get(site: &Site, browser: &reqwest::Client, path: &str) -> (u16, Value) {
    let response = browser.get(site.url("access", path)).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_runs_request_review_and_revoke_with_csrf_and_stable_errors() {
    let site = Site::start().await;
    let anonymous = site.browser();
    let (status, body) = get(&site, &anonymous, "/api/v1/requests").await;
    assert_eq!((status, code(&body)), (401, "unauthenticated"));

    let alice = site.signed_in("alice@example.com").await;
    let token = csrf(&site, &alice).await;
    let ask = json!({ "resource": "app", "reason": "=HYPERLINK(\"http://x\") <b>bold</b>", "duration": "1h" });
    let (status, body) = post(&site, &alice, "/api/v1/requests", None, ask.clone()).await;
    assert_eq!((status, code(&body)), (403, "csrf_failed"), "a cookie alone changes nothing");
    let (status, body) = post(&site, &alice, "/api/v1/requests", Some("forged"), ask.clone()).await;
    assert_eq!((status, code(&body)), (403, "csrf_failed"));
    let too_long = json!({ "resource": "app", "reason": "x", "duration": "9h" });
    let (status, body) = post(&site, &alice, "/api/v1/requests", Some(&token), too_long).await;
    assert_eq!((status, code(&body)), (400, "duration_not_allowed"), "{body}");
    let (status, body) =
        post(&site, &alice, "/api/v1/requests", Some(&token), json!({ "resource": 1 })).await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");

    let (status, created) = post(&site, &alice, "/api/v1/requests", Some(&token), ask).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["user"], "alice@example.com");
    assert_eq!(created["requested_duration_seconds"], 3600);
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, body) = post(
        &site,
        &alice,
        "/api/v1/requests",
        Some(&token),
        json!({ "resource": "app", "reason": "again", "duration": 3600 }),
    )
    .await;
    assert_eq!((status, code(&body)), (409, "already_pending"));
    let (status, body) =
        post(&site, &alice, &format!("/api/v1/requests/{id}/approve"), Some(&token), json!({}))
            .await;
    assert_eq!(status, 403, "alice reviews nothing: {body}");

    // Carol reviews, and asked for access herself: she may not approve her own.
    let carol = site.signed_in("carol@example.com").await;
    let carol_token = csrf(&site, &carol).await;
    let (_, own) = post(
        &site,
        &carol,
        "/api/v1/requests",
        Some(&carol_token),
        json!({ "resource": "app", "reason": "mine", "duration": "1h" }),
    )
    .await;
    let own_id = own["id"].as_str().unwrap();
    let (status, body) = post(
        &site,
        &carol,
        &format!("/api/v1/requests/{own_id}/approve"),
        Some(&carol_token),
        json!({}),
    )
    .await;
    assert_eq!((status, code(&body)), (403, "self_review"));
    let (_, listed) = get(&site, &carol, "/api/v1/requests?status=pending").await;
    let ids: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![own_id, id.as_str()], "a reviewer lists the resources she reviews");
    let (_, mine) = get(&site, &alice, "/api/v1/requests").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "alice sees only her own: {mine}");
    let (status, _) = get(&site, &alice, &format!("/api/v1/requests/{own_id}")).await;
    assert_eq!(status, 404, "nor can she read carol's by id");

    let (status, approved) = post(
        &site,
        &carol,
        &format!("/api/v1/requests/{id}/approve"),
        Some(&carol_token),
        json!({ "duration": 1800, "note": "ok" }),
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "active");
    assert_eq!(approved["decision"]["by"], "carol@example.com");
    assert_eq!(approved["approvals"][0]["duration_seconds"], 1800);
    let (_, grants) = get(&site, &alice, "/api/v1/grants").await;
    assert_eq!(grants["items"][0]["resource"], "app", "{grants}");
    assert_eq!(grants["items"][0]["active"], true);
    let echo: Value = alice.get(site.url("app", "/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        echo["headers"]["x-jitgate-email"],
        json!(["alice@example.com"]),
        "the grant opens the app"
    );

    let (status, revoked) = post(
        &site,
        &carol,
        &format!("/api/v1/requests/{id}/revoke"),
        Some(&carol_token),
        json!({ "note": "done" }),
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["grant"]["ended"]["by"], "carol@example.com");
    let (status, body) = post(
        &site,
        &carol,
        &format!("/api/v1/requests/{id}/revoke"),
        Some(&carol_token),
        json!({}),
    )
    .await;
    assert_eq!((status, code(&body)), (409, "not_active"));
    let locked = alice.get(site.url("app", "/")).send().await.unwrap();
    assert_eq!(locked.url().host_str(), Some("access.localhost"), "revoked: back to the portal");

    let (status, audit) = get(&site, &carol, &format!("/api/v1/audit?request={id}")).await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["grant_revoked", "request_approved", "request_created"]);
    let (status, body) = get(&site, &carol, "/api/v1/audit?from=yesterday").await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, body) = get(&site, &alice, "/api/v1/audit").await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, body) = get(&site, &carol, "/api/v1/nothing-here").await;
    assert_eq!((status, code(&body)), (404, "not_found"));

    // The same history in the audit export and the resource's access summary.
    let csv = carol
        .get(site.url("access", &format!("/audit?request={id}&format=csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(csv.headers()["x-content-type-options"], "nosniff");
    let text = csv.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,at,actor,action,user,resource,request_id,note,break_glass"));
    let created_line = text.lines().find(|l| l.contains("request_created")).unwrap();
    assert!(
        created_line.ends_with(r#","'=HYPERLINK(""http://x"") <b>bold</b>","#),
        "formula neutralised: {created_line}"
    );
    assert_eq!(text.lines().count(), 4, "a header and three events: {text}");
    let json_export: Value = carol
        .get(site.url("access", &format!("/audit?request={id}&format=json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json_export.as_array().unwrap().len(), 3);
    assert_eq!(json_export[0]["action"], "grant_revoked");

    let summary = site.page(&carol, "/access/resources/app?format=csv").await;
    let mut rows = summary.lines();
    assert_eq!(
        rows.next(),
        Some("user,resource,group,mode,status,granted_by,expires_at,last_reason")
    );
    let rows: Vec<&str> = rows.collect();
    assert!(rows.contains(&r#"alice@example.com,app,dev,jit (manual),locked,,,"'=HYPERLINK(""http://x"") <b>bold</b>""#), "{summary}");
    assert!(rows.contains(&"bob@example.com,app,sre,jit (auto),locked,,,"), "{summary}");
    assert!(rows.contains(&"carol@example.com,app,dev,jit (manual),pending,,,mine"), "{summary}");
    let page = site.page(&carol, "/access/resources/app").await;
    assert!(
        site::escaped(&page, "<b>bold</b>") && !page.contains("<b>bold</b>"),
        "escaped on the page"
    );
    let group = site.page(&carol, "/access/groups/sre?format=csv").await;
    assert_eq!(group.lines().count(), 2, "one member of sre, one resource: {group}");
    let user =
        carol.get(site.url("access", "/access/users/alice%40example.com")).send().await.unwrap();
    assert_eq!(user.status(), 200);
    let audit_page = site.page(&carol, "/audit").await;
    assert!(site::escaped(&audit_page, "<b>bold</b>") && !audit_page.contains("<b>bold</b>"));
    let row = format!("id=\"r-{id}\"");
    let narrowed = |query: &'static str| {
        let carol = carol.clone();
        let url = site.url("access", &format!("/review?{query}"));
        async move { carol.get(url).send().await.unwrap() }
    };
    let hers = narrowed("tab=ended&user=alice%40example.com").await.text().await.unwrap();
    assert!(hers.contains(&row) && hers.contains("For user alice@example.com"), "{hers}");
    let his = narrowed("tab=ended&user=bob%40example.com").await.text().await.unwrap();
    assert!(!his.contains(&row), "narrowed to bob, alice's request is not listed");
    assert!(narrowed("tab=ended&resource=app").await.text().await.unwrap().contains(&row));
    assert_eq!(narrowed("resource=elsewhere").await.status(), 403);
    let denied = alice.get(site.url("access", "/access")).send().await.unwrap();
    assert_eq!(denied.status(), 403, "the directory is for reviewers and admins");
}
/// The API as its OpenAPI document describes it, checked against what the handlers answer:
/// each call is looked up in the served document by path template, method and status, and
/// its body validated against the documented schema (error bodies must also carry a code the
/// response's description names). Every documented response is exercised except those
/// listed in [`UNTRIGGERABLE`], and every documented path answers 405 to the methods it does
/// not document.
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

/// Responses the test cannot provoke against a healthy deployment, with why.
const UNTRIGGERABLE: &[(&str, &str, u16, &str)] =
    &[("*", "*", 503, "needs the store or the IdP's keys to fail")];

/// How a call sends its body and credentials.
enum Send {
    Nothing,
    /// One extra header.
    Header(&'static str, &'static str),
    /// JSON, with the CSRF header when given.
    Json(Option<String>, Value),
    /// These bytes as application/json, with the CSRF header when given.
    Raw(Option<String>, String),
}

struct Answer {
    status: u16,
    body: Value,
    location: Option<String>,
    what: String,
}

impl Answer {
    fn ok(&self) -> Value {
        assert!((200..300).contains(&self.status), "{}: {} {}", self.what, self.status, self.body);
        self.body.clone()
    }

    fn code(&self, expected: &str) {
        assert_eq!(
            self.body["error"]["code"], expected,
            "{}: {} {}",
            self.what, self.status, self.body
        );
    }
}

struct Contract<'a> {
    site: &'a Site,
    doc: Value,
    /// (path template, method, status) seen.
    seen: std::collections::BTreeSet<(String, String, u16)>,
}

impl<'a> Contract<'a> {
    fn new(site: &'a Site, doc: Value) -> Self {
        Self { site, doc, seen: Default::default() }
    }

    /// Calls `method path` (under `/api/v1`) and checks the answer against the document's
    /// entry for `template`.
    async fn call(
        &mut self,
        client: &reqwest::Client,
        method: &str,
        template: &str,
        path: &str,
        send: Send,
    ) -> Answer {
        let url = self.site.url("access", &format!("/api/v1{path}"));
        let mut request = client.request(method.parse().unwrap(), url);
        request = match send {
            Send::Nothing => request,
            Send::Header(name, value) => request.header(name, value),
            Send::Json(csrf, body) => {
                let request = request.json(&body);
                if let Some(token) = csrf { request.header("X-CSRF-Token", token) } else { request }
            }
            Send::Raw(csrf, body) => {
                let request = request.header("content-type", "application/json").body(body);
                if let Some(token) = csrf { request.header("X-CSRF-Token", token) } else { request }
            }
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let what = format!("{method} {path}");
        let content_type =
            response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{what}: {status} is not JSON ({content_type:?}): {text}"));
        assert_eq!(content_type.as_deref(), Some("application/json"), "{what}: {status}");

        let operation = self.doc["paths"][template][method.to_lowercase()].clone();
        assert!(operation.is_object(), "{method} {template} is not documented");
        let documented = &operation["responses"][status.to_string()];
        assert!(documented.is_object(), "{what} answered {status} {body}, which is not documented");
        let schema = &documented["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{what}: {status} has no documented JSON body");
        let mut errors = Vec::new();
        self.validate(schema, &body, "$", &mut errors);
        assert!(
            errors.is_empty(),
            "{what}: {status} {body} does not match its schema: {errors:#?}"
        );
        if status >= 400 {
            let code = body["error"]["code"].as_str().unwrap();
            let description = documented["description"].as_str().unwrap();
            assert!(
                description.contains(&format!("`{code}`")),
                "{what}: {status} `{code}` is not among the documented codes: {description}"
            );
        }
        if let Some(headers) = documented["headers"].as_object() {
            for name in headers.keys() {
                assert!(
                    name != "Location" || location.is_some(),
                    "{what}: the documented {name} header is missing"
                );
            }
        }
        self.seen.insert((template.to_owned(), method.to_lowercase(), status));
        Answer { status, body, location, what }
    }

    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let target = self
                    .doc
                    .pointer(reference.trim_start_matches('#'))
                    .unwrap_or_else(|| panic!("{reference} does not resolve"));
                self.resolve(target)
            }
            None => schema,
        }
    }

    /// The subset of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that utoipa emits for
    /// these types: `$ref`, `oneOf`, `allOf`, `type` (one or several), `enum`, `properties`,
    /// `required`, `additionalProperties: false`, `items`, `minimum`, `maxLength` and the
    /// `date-time` format. Stricter than JSON Schema in one way: a response object may not
    /// carry a property its schema does not list, since that would be undocumented output.
    fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        let known = [
            "$ref",
            "oneOf",
            "allOf",
            "type",
            "enum",
            "properties",
            "required",
            "additionalProperties",
            "items",
            "minimum",
            "maxLength",
            "format",
            "description",
            "examples",
            "example",
            "title",
            "default",
        ];
        for keyword in schema.as_object().unwrap().keys() {
            assert!(
                known.contains(&keyword.as_str()),
                "{at}: the validator does not know `{keyword}`"
            );
        }
        if let Some(options) = schema["oneOf"].as_array() {
            let matching = options
                .iter()
                .filter(|option| {
                    let mut inner = Vec::new();
                    self.validate(option, value, at, &mut inner);
                    inner.is_empty()
                })
                .count();
            if matching != 1 {
                errors.push(format!("{at}: {matching} of oneOf match {value}"));
            }
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.validate(part, value, at, errors);
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(several) => several.iter().map(|t| t.as_str().unwrap()).collect(),
                other => panic!("{at}: type {other}"),
            };
            let fits = |name: &str| match name {
                "null" => value.is_null(),
                "boolean" => value.is_boolean(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                other => panic!("{at}: unknown type {other}"),
            };
            if !types.iter().any(|t| fits(t)) {
                errors.push(format!("{at}: {value} is not {types:?}"));
                return;
            }
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
        if let (Some(minimum), Some(number)) = (schema["minimum"].as_f64(), value.as_f64())
            && number < minimum
        {
            errors.push(format!("{at}: {number} < {minimum}"));
        }
        if let (Some(max), Some(text)) = (schema["maxLength"].as_u64(), value.as_str())
            && text.chars().count() as u64 > max
        {
            errors.push(format!("{at}: longer than {max}"));
        }
        if schema["format"] == "date-time"
            && let Some(text) = value.as_str()
        {
            let b = text.as_bytes();
            let shaped = b.len() >= 20
                && b[4] == b'-'
                && b[7] == b'-'
                && b[10] == b'T'
                && b[13] == b':'
                && text.ends_with('Z');
            if !shaped {
                errors.push(format!("{at}: {text:?} is not an RFC 3339 UTC time"));
            }
        }
        if let Some(object) = value.as_object() {
            let properties = schema["properties"].as_object();
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                if !object.contains_key(name) {
                    errors.push(format!("{at}: required `{name}` is missing"));
                }
            }
            for (name, item) in object {
                match properties.and_then(|p| p.get(name)) {
                    Some(property) => {
                        self.validate(property, item, &format!("{at}.{name}"), errors)
                    }
                    None if schema["additionalProperties"] == json!(true) => {}
                    None if properties.is_some()
                        || schema["additionalProperties"] == json!(false) =>
                    {
                        errors.push(format!("{at}: `{name}` is not documented"))
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.validate(items, item, &format!("{at}[{i}]"), errors);
            }
        }
    }

    /// Every documented response was seen (bar [`UNTRIGGERABLE`]), every documented path
    /// refuses the methods it does not document, and an undocumented path is the API's 404.
    async fn finish(&mut self, client: &reqwest::Client, id: &str) {
        // The validator refuses what it should: a missing field, an unknown code, an
        // undocumented field.
        let mut errors = Vec::new();
        let error = json!({ "$ref": "#/components/schemas/Error" });
        let wrong = json!({ "error": { "code": "oops", "extra": 1 } });
        self.validate(&error, &wrong, "$", &mut errors);
        assert_eq!(errors.len(), 3, "{errors:#?}");

        let mut missing = Vec::new();
        let paths = self.doc["paths"].as_object().unwrap().clone();
        for (template, item) in &paths {
            for (method, operation) in item.as_object().unwrap() {
                for status in operation["responses"].as_object().unwrap().keys() {
                    let status: u16 = status.parse().unwrap();
                    let excused = UNTRIGGERABLE.iter().any(|(p, m, s, _)| {
                        (*p == "*" || p == template) && (*m == "*" || m == method) && *s == status
                    });
                    if !excused && !self.seen.contains(&(template.clone(), method.clone(), status))
                    {
                        missing.push(format!("{method} {template} {status}"));
                    }
                }
            }
            let concrete = template.replace("{id}", id).replace("{user}", "bob%40example.com");
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                if item.get(method.to_lowercase()).is_some() {
                    continue;
                }
                let url = self.site.url("access", &format!("/api/v1{concrete}"));
                let response = client.request(method.parse().unwrap(), url).send().await.unwrap();
                assert_eq!(
                    response.status(),
                    405,
                    "{method} {template} is served but not documented"
                );
            }
        }
        assert!(missing.is_empty(), "documented but never exercised: {missing:#?}");
        let url = self.site.url("access", "/api/v1/requests/x/y");
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "an undocumented path is not served");
    }
}
