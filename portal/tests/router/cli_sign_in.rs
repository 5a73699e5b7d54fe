//! The command line's browser sign-in (`/cli/sign-in`): sign-in first, a damaged link refused
//! without echoing it, the token made only by a same-session form, and the one page allowed to
//! post to the CLI's loopback address carrying the token in a form, never in a URL.

use jitgate_access::cli_sign_in::{code, new_state};

use crate::harness::{Site, csrf_of};

#[tokio::test]
async fn the_cli_sign_in_asks_checks_and_hands_the_token_on_only_by_form() {
    let site = Site::start().await;
    let state = new_state();
    let ask = format!("/cli/sign-in?port=4321&state={state}");

    let stranger = site.browser();
    let redirect = stranger.get(&ask).await;
    assert_eq!(redirect.status, 303, "sign in first: {redirect:?}");
    assert!(
        redirect.location().contains("%2Fcli%2Fsign%2Din%3Fport%3D4321"),
        "and come back: {redirect:?}"
    );

    let alice = site.signed_in("alice@example.com").await;
    let page = alice.get(&ask).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains(&code(&state)), "the code the terminal shows: {page:?}");
    let csp = page.headers["content-security-policy"].to_str().unwrap().to_owned();
    assert!(!csp.contains("127.0.0.1"), "no loopback target before she allows it: {csp}");

    for (what, query) in [
        ("a privileged port", format!("port=80&state={state}")),
        ("no port", format!("state={state}")),
        ("a port that is not a number", format!("port=4321x&state={state}")),
        ("a short state", "port=4321&state=abc".to_owned()),
        ("markup as the state", "port=4321&state=%3Cscript%3E".to_owned()),
    ] {
        let refused = alice.get(&format!("/cli/sign-in?{query}")).await;
        assert_eq!(refused.status, 400, "{what}: {refused:?}");
        assert!(!refused.body.contains("<script>"), "{what}: nothing echoed");
    }

    let csrf = csrf_of(&page.body);
    let fields = |csrf: &'static str| [("csrf", csrf), ("port", "4321")];
    let forged = alice
        .post_form("/cli/sign-in", &[&fields("forged")[..], &[("state", state.as_str())]].concat())
        .await;
    assert_eq!(forged.status, 403, "a form from elsewhere makes no token: {forged:?}");
    assert!(!forged.body.contains("jgt_"));

    let handed = alice
        .post_form(
            "/cli/sign-in",
            &[("csrf", csrf.as_str()), ("port", "4321"), ("state", state.as_str())],
        )
        .await;
    assert_eq!(handed.status, 200, "{handed:?}");
    assert!(handed.body.contains("action=\"http://127.0.0.1:4321/callback\""), "{handed:?}");
    assert!(handed.body.contains("name=\"token\" value=\"jgt_"), "in the form's body: {handed:?}");
    assert_eq!(handed.headers["cache-control"], "no-store", "a secret is never cached");
    let csp = handed.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self' http://127.0.0.1:4321"), "{csp}");
    let tokens = alice.get("/tokens").await;
    assert!(tokens.body.contains("jitgate CLI (browser sign-in)"), "listed for revoking");
}
