//! Local sign-in under attack: repeated wrong passwords pause the account.

use crate::site::{self, Site};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_pause_the_account_even_for_the_right_one() {
    let site = Site::start().await;
    let guesser = site.browser();
    let form = site.page(&guesser, "/auth/sign-in").await;
    let attempt = |password: &'static str| {
        let csrf = site::csrf_of(&form);
        let guesser = guesser.clone();
        let url = site.url("access", "/auth/sign-in");
        async move {
            guesser
                .post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", "alice@example.com"),
                    ("password", password),
                    ("rd", ""),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..4 {
        assert_eq!(attempt("wrong").await.status(), 401);
    }
    let paused = attempt("wrong").await;
    assert_eq!(paused.status(), 429, "the fifth failure pauses the account");
    assert!(paused.headers().contains_key("retry-after"));
    assert!(paused.text().await.unwrap().contains("Too many failed sign-ins"));
    let right = attempt(site::PASSWORD).await;
    assert_eq!(right.status(), 429, "even the right password waits out the pause");

    // Other accounts are not affected.
    let bob = site.browser();
    let form = site.page(&bob, "/auth/sign-in").await;
    site.sign_in(&bob, "bob@example.com", &form).await;
}
