//! The JSON API v1 against the real binary: session callers need the CSRF header, errors are
//! JSON with stable codes, reviewers cannot approve their own requests, and the audit trail
//! and exports show what happened (CSV cells that would run as formulas neutralised). The
//! OpenAPI document the API serves is checked against what every handler answers.

mod contract;
mod openapi;

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
