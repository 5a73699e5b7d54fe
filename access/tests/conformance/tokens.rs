//! Personal API tokens, against the backend under test.

use std::time::Duration;

use jitgate_access::api_token::{self, ApiToken};
use jitgate_access::clock::Clock;
use jitgate_access::ids::{IdGenerator, TokenId};
use jitgate_access::store::ChangeEvent;

use crate::fixture::*;

pub async fn api_tokens_are_found_listed_expired_and_deleted(f: Fixture) {
    let now = f.clock.now();
    let ids = IdGenerator::new();
    let issue = |name: &str, who, lasts| {
        ApiToken::issue(TokenId::from(ids.next(now)), name, &who, now, lasts)
    };
    let (laptop, shown) = issue("laptop", alice(), hours(48));
    let (ci, _) = issue("ci", alice(), hours(1));
    let (bobs, _) = issue("bob's", bob(), hours(48));
    for token in [&laptop, &ci, &bobs] {
        f.store.save_api_token(token).await.unwrap();
    }
    let (id, secret) = api_token::parse(&shown).unwrap();
    let found = f.store.api_token(id, now).await.unwrap().expect("stored");
    assert!(found.accepts(secret, now), "the stored digest matches the shown secret");
    assert_eq!(found, laptop);
    let alices = f.store.api_tokens_of(&alice().user, now).await.unwrap();
    assert_eq!(alices, vec![laptop.clone(), ci.clone()], "hers only, oldest first");

    let later = now.plus(hours(2));
    assert!(f.store.api_token(ci.id, later).await.unwrap().is_none(), "expired");
    let alices = f.store.api_tokens_of(&alice().user, later).await.unwrap();
    assert_eq!(alices, vec![laptop.clone()]);

    let mut feed = f.store.subscribe().await.unwrap();
    assert_eq!(f.store.delete_api_token(laptop.id).await.unwrap(), Some(laptop.clone()));
    assert!(f.store.api_token(laptop.id, now).await.unwrap().is_none(), "deleted");
    // Proxies that accepted it hear of it at once (they cut what it opened).
    let event = tokio::time::timeout(Duration::from_secs(5), feed.recv()).await.unwrap();
    assert_eq!(event, Some(ChangeEvent::ApiTokenRevoked { id: laptop.id }));
    assert_eq!(
        f.store.delete_api_token(laptop.id).await.unwrap(),
        None,
        "deleting again is harmless"
    );
    assert!(
        f.store
            .api_tokens_of(&alice().user, now.plus(Duration::from_secs(1)))
            .await
            .unwrap()
            .iter()
            .all(|t| t.id != laptop.id)
    );
    assert_eq!(f.store.api_tokens_of(&bob().user, now).await.unwrap(), vec![bobs]);
}

pub async fn the_service_audits_tokens_and_only_owners_or_admins_revoke(f: Fixture) {
    let (token, shown) = f.service.create_api_token(&alice(), "script", hours(24)).await.unwrap();
    assert_eq!(f.service.api_token_identity(&shown).await.unwrap(), Some(alice()));
    assert_eq!(f.service.api_token_identity("jgt_nonsense").await.unwrap(), None);
    let refused = f.service.revoke_api_token(&bob(), token.id).await;
    assert!(refused.is_err(), "bob cannot revoke alice's token");
    assert!(f.service.api_token_identity(&shown).await.unwrap().is_some());
    f.service.revoke_api_token(&admin(), token.id).await.unwrap();
    assert_eq!(f.service.api_token_identity(&shown).await.unwrap(), None, "revoked by an admin");
    let (_, kept) = f.service.create_api_token(&alice(), "another", hours(24)).await.unwrap();
    f.service.end_sessions_of(&admin(), &alice().user).await.unwrap();
    assert_eq!(
        f.service.api_token_identity(&kept).await.unwrap(),
        None,
        "ending a user's sessions revokes their tokens too"
    );
    let audit = f
        .store
        .list_audit(&jitgate_access::store::AuditQuery { limit: 50, ..Default::default() })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.items.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"api_token_created") && actions.contains(&"api_token_revoked"),
        "{actions:?}"
    );
}
