//! Local sign-in under attack: repeated wrong passwords pause the account.

use crate::harness::{PASSWORD, Site};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_pause_the_account_even_for_the_right_one() {
    let site = Site::start().await;
    let guesser = site.browser();
    let form = guesser.get("/auth/sign-in").await.body;
    for _ in 0..4 {
        let refused = guesser.sign_in("alice@example.com", "wrong", &form).await;
        assert_eq!(refused.status, 303, "{refused:?}");
        let page = guesser.get(&refused.location()).await;
        assert!(page.body.contains("do not match"), "{page:?}");
    }
    let paused = guesser.sign_in("alice@example.com", "wrong", &form).await;
    assert_eq!(paused.status, 303, "{paused:?}");
    assert!(paused.headers.contains_key("retry-after"), "the fifth failure pauses: {paused:?}");
    let page = guesser.get(&paused.location()).await;
    assert!(page.body.contains("Too many failed sign-ins"), "{page:?}");
    let right = guesser.sign_in("alice@example.com", PASSWORD, &form).await;
    assert!(right.headers.contains_key("retry-after"), "even the right password waits: {right:?}");
    let page = guesser.get(&right.location()).await;
    assert!(page.body.contains("Too many failed sign-ins"), "not signed in: {page:?}");

    // Other accounts are not affected.
    site.signed_in("bob@example.com").await;
}
