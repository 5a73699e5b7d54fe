//! Local sign-in under attack: repeated wrong passwords pause the account.

use crate::harness::{PASSWORD, Site};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_pause_the_account_even_for_the_right_one() {
    let site = Site::start().await;
    let guesser = site.browser();
    let form = guesser.get("/auth/sign-in").await.body;
    for _ in 0..4 {
        let refused = guesser.sign_in("alice@example.com", "wrong", &form).await;
        assert_eq!(refused.status, 401, "{refused:?}");
    }
    let paused = guesser.sign_in("alice@example.com", "wrong", &form).await;
    assert_eq!(paused.status, 429, "the fifth failure pauses the account: {paused:?}");
    assert!(paused.headers.contains_key("retry-after"));
    assert!(paused.body.contains("Too many failed sign-ins"), "{paused:?}");
    let right = guesser.sign_in("alice@example.com", PASSWORD, &form).await;
    assert_eq!(right.status, 429, "even the right password waits out the pause: {right:?}");

    // Other accounts are not affected.
    site.signed_in("bob@example.com").await;
}
