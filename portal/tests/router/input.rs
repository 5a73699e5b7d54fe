//! Bad input refused with a reason: a foreign return URL dropped, a wrong password, a duration
//! past the policy's limit, an oversized body.

use crate::harness::{PASSWORD, Site, csrf_of, field};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_reason() {
    let site = Site::start().await;
    let bob = site.browser();
    let html = bob.get("/auth/sign-in?rd=http%3A%2F%2Fevil.example.com%2F").await.body;
    assert!(!html.contains("evil.example.com"), "a foreign rd is dropped: {html}");
    assert_eq!(field(&html, "rd"), "http://access.localhost:8080/", "the portal's home instead");
    let wrong = bob.sign_in("bob@example.com", "wrong", &html).await;
    assert_eq!(wrong.status, 303, "back to the form: {wrong:?}");
    let wrong = bob.get(&wrong.location()).await;
    assert!(wrong.body.contains("do not match"), "{wrong:?}");
    let home = bob.sign_in("bob@example.com", PASSWORD, &html).await;
    assert!((300..400).contains(&home.status), "{home:?}");
    assert_eq!(home.location(), "/", "signed in, a foreign rd lands on the portal home");

    let form = bob.get("/request/app").await.body;
    let csrf = csrf_of(&form);
    let too_long = bob
        .post_form(
            "/request/app",
            &[("csrf", &csrf), ("duration", "custom"), ("custom", "9h"), ("reason", "x")],
        )
        .await;
    assert_eq!(too_long.status, 303, "back to the form: {too_long:?}");
    let too_long = bob.get(&too_long.location()).await;
    assert!(
        too_long.body.contains("9h is longer than the 1h you may ask for here"),
        "{too_long:?}"
    );
    let huge = "x".repeat(64 * 1024);
    let oversized = bob
        .post_form("/request/app", &[("csrf", &csrf), ("duration", "3600"), ("reason", &huge)])
        .await;
    assert_eq!(oversized.status, 413, "bodies are capped: {oversized:?}");
}
