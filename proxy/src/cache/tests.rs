//! The cache's races, trust and pruning, against the embedded store's real change feed.

use std::time::Duration;

use jitgate_access::clock::{Clock, SystemClock};
use jitgate_access::policy::Identity;
use jitgate_access::session::{Session, SessionId};
use jitgate_access::store::{EmbeddedStore, Store};

use super::*;

async fn following(store: &Arc<dyn Store>) -> Arc<AccessCache> {
    let cache = Arc::new(AccessCache::new(store.clone(), Arc::new(Metrics::new())));
    tokio::spawn(cache.clone().follow_changes());
    let live = async {
        while !cache.is_live() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), live).await.expect("the feed is heard");
    cache
}

/// "Load, then an event, then insert" must not cache what the event invalidated: here an
/// approval lands between loading "no grant" and caching it, which would otherwise lock
/// the user out until the next change.
#[tokio::test]
async fn a_lookup_that_raced_an_event_caches_nothing() {
    let dir = tempfile_dir("race");
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.join("store.db")).unwrap());
    let cache = following(&store).await;
    let (user, app): (UserId, ResourceName) =
        ("a@example.com".parse().unwrap(), "app".parse().unwrap());
    let racing = cache.clone();
    let event = ChangeEvent::GrantChanged { user: user.clone(), resource: app.clone() };
    *cache.after_load.lock().unwrap() = Some(Box::new(move || racing.apply(&event)));
    let now = SystemClock.now();
    assert_eq!(cache.grant_expiry(&user, &app, now).await.unwrap(), None);
    assert!(cache.after_load.lock().unwrap().is_none(), "the hook ran");
    let cached = read(&cache.grants).map.get(&user).and_then(|r| r.get(&app)).is_some();
    assert!(!cached, "the stale 'no grant' was cached after the event");
    // Without a race, the same lookup is cached.
    cache.grant_expiry(&user, &app, now).await.unwrap();
    assert!(read(&cache.grants).map.get(&user).and_then(|r| r.get(&app)).is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Trust comes from heartbeats heard back through the feed, and lapses without them.
#[tokio::test]
async fn trust_needs_heartbeats_heard_back() {
    let dir = tempfile_dir("trust");
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.join("store.db")).unwrap());
    let cache = Arc::new(AccessCache::new(store.clone(), Arc::new(Metrics::new())));
    cache.feed_restored();
    assert!(!cache.is_live(), "connected is not enough");
    let beat = cache.next_beat.load(Ordering::Acquire);
    cache.beat().await;
    assert!(!cache.is_live(), "sent is not enough");
    cache.apply(&ChangeEvent::Heartbeat { instance: "another".into(), beat });
    assert!(!cache.is_live(), "another instance's beat proves nothing about ours");
    cache.apply(&ChangeEvent::Heartbeat { instance: cache.instance.clone(), beat });
    assert!(cache.is_live(), "our beat came back");
    // As if the beat had been sent longer ago than the bound.
    cache.trusted_until_ms.store(cache.millis_since_epoch(Instant::now()), Ordering::Release);
    assert!(!cache.is_live(), "trust lapses at the bound");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("jitgate-cache-{name}-{}", std::process::id()))
}

#[tokio::test]
async fn prune_drops_what_has_ended_and_keeps_what_is_live() {
    let dir = std::env::temp_dir().join(format!("jitgate-cache-test-{}", std::process::id()));
    let path = dir.join("store.db");
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&path).unwrap());
    let cache = following(&store).await;
    let now = SystemClock.now();
    let session = |email: &str, lasts: u64| Session {
        id: SessionId::random(),
        identity: Identity::new(email.parse().unwrap(), []),
        created_at: now,
        expires_at: now.plus(Duration::from_secs(lasts)),
    };
    let (short, long) = (session("a@example.com", 60), session("b@example.com", 3600));
    for session in [&short, &long] {
        store.create_session(session).await.unwrap();
        assert!(cache.session(&session.id, now).await.unwrap().is_some());
    }
    let app: ResourceName = "app".parse().unwrap();
    for user in ["a@example.com", "b@example.com"] {
        let none = cache.grant_expiry(&user.parse().unwrap(), &app, now).await.unwrap();
        assert_eq!(none, None);
    }
    {
        // A grant entry that ends in two minutes, as a lookup would have cached it.
        let mut grants = write(&cache.grants);
        let grants = &mut grants.map;
        let a = grants.get_mut(&"a@example.com".parse::<UserId>().unwrap()).unwrap();
        a.insert(app.clone(), Some(now.plus(Duration::from_secs(120))));
    }
    assert_eq!(cache.entries(), (2, 2));

    cache.prune(now.plus(Duration::from_secs(90)));
    assert_eq!(cache.entries(), (1, 2), "the ended session goes; grants and 'no grant' stay");
    cache.prune(now.plus(Duration::from_secs(121)));
    assert_eq!(cache.entries(), (1, 1), "the ended grant goes, and its user with it");
    let b = "b@example.com".parse().unwrap();
    assert_eq!(read(&cache.grants).map[&b].get(&app), Some(&None), "'no grant' is kept");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A cached API token is served from memory while the feed is live, and its revocation on the
/// feed removes it at once and bumps the generation a racing lookup compares before it inserts.
#[tokio::test]
async fn a_revoked_api_token_is_forgotten_at_once() {
    let dir = tempfile_dir("tokens");
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.join("store.db")).unwrap());
    let cache = following(&store).await;
    let now = SystemClock.now();
    let owner = Identity::new("a@example.com".parse().unwrap(), []);
    let id = TokenId::from(jitgate_access::ids::IdGenerator::new().next(now));
    let (token, _) = ApiToken::issue(id, "ci", &owner, now, Duration::from_secs(600));
    store.save_api_token(&token).await.unwrap();
    assert!(cache.api_token(id, now).await.unwrap().is_some());
    let hit = cache.metrics.lookup(Lookup::ApiToken, true).get();
    assert!(cache.api_token(id, now).await.unwrap().is_some());
    assert_eq!(cache.metrics.lookup(Lookup::ApiToken, true).get(), hit + 1, "from memory");
    assert!(cache.api_token(id, token.expires_at).await.unwrap().is_none(), "expired");

    let mut leases = cache.changes();
    store.delete_api_token(id).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), leases.recv()).await.unwrap();
    assert_eq!(heard.unwrap(), LeaseEvent::ApiTokenRevoked(id));
    assert!(cache.api_token(id, now).await.unwrap().is_none(), "revoked");

    let generation = read(&cache.tokens).generation;
    cache.apply(&ChangeEvent::ApiTokenRevoked { id });
    assert!(read(&cache.tokens).generation > generation, "a revocation invalidates");
    let _ = std::fs::remove_dir_all(&dir);
}
