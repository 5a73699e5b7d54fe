//! Queries, pagination, durability, change feed and commit atomicity, against the backend
//! under test.

use std::collections::BTreeSet;
use std::time::Duration;

use jitgate_access::audit::AuditAction;
use jitgate_access::clock::Clock;
use jitgate_access::ids::{IdGenerator, RequestId};
use jitgate_access::request::Status;
use jitgate_access::store::{AuditQuery, ChangeEvent, RequestQuery, StoreError};
use jitgate_access::transition::{self, Context, NewRequest};

use crate::fixture::*;

/// Writes `count` pending requests straight through the store (no service round trips), one
/// per user, returning their ids oldest first.
async fn seed(f: &Fixture, count: usize) -> Vec<RequestId> {
    let ids = IdGenerator::new();
    let policies = policies();
    let jitgate_access::policy::AccessMode::Jit(policy) =
        &policies.resources[&resource("db")].assignments[0].mode
    else {
        panic!("db's first assignment is jit");
    };
    let mut created = Vec::with_capacity(count);
    for i in 0..count {
        let ctx = Context { now: f.clock.now(), ids: &ids };
        let groups: &[&str] = if i % 10 == 0 { &["dev", "team-ten"] } else { &["dev"] };
        let reason =
            if i % 100 == 0 { format!("Incident {i} needle") } else { format!("routine {i}") };
        let id = RequestId::from(ids.next(ctx.now));
        let new = NewRequest {
            requester: person(&format!("user{i}@example.com"), groups),
            resource: resource("db"),
            reason,
            duration: hours(1),
        };
        let change = transition::open(&ctx, new, id, policy, None).unwrap();
        f.store.commit(&change).await.unwrap();
        created.push(id);
        if i % 1000 == 999 {
            f.clock.advance(Duration::from_millis(1));
        }
    }
    created
}

pub async fn ten_thousand_requests_page_by_cursor(f: Fixture) {
    let created = seed(&f, 10_000).await;
    let mut seen = Vec::new();
    let mut query = RequestQuery { limit: 250, ..RequestQuery::default() };
    let mut pages = 0;
    loop {
        let page = f.store.list_requests(&query).await.unwrap();
        assert!(page.items.len() <= 250, "a page never holds more than asked");
        pages += 1;
        seen.extend(page.items.iter().map(|r| r.id));
        match page.next {
            Some(cursor) => query.before = Some(cursor),
            None => break,
        }
    }
    assert_eq!(pages, 40);
    let mut expected = created.clone();
    expected.reverse();
    assert_eq!(seen, expected, "every request once, newest first, no gaps");

    // Filters narrow the same walk.
    let by_group =
        RequestQuery { group: Some(group("team-ten")), limit: 500, ..RequestQuery::default() };
    let page = f.store.list_requests(&by_group).await.unwrap();
    assert_eq!(page.items.len(), 500);
    assert!(page.items.iter().all(|r| r.requester_groups.contains(&group("team-ten"))));
    let search =
        RequestQuery { search: Some("NEEDLE".into()), limit: 500, ..RequestQuery::default() };
    let found = f.store.list_requests(&search).await.unwrap();
    assert_eq!(found.items.len(), 100);
    assert!(found.next.is_none());
    let one_user = RequestQuery {
        requester: Some(person("user4242@example.com", &[]).user),
        limit: 10,
        ..RequestQuery::default()
    };
    let mine = f.store.list_requests(&one_user).await.unwrap();
    assert_eq!(mine.items.iter().map(|r| r.id).collect::<Vec<_>>(), vec![created[4242]]);

    // Counts: exact below the cap, the cap above it, cursors ignored.
    let count = |query: RequestQuery, cap: usize| {
        let store = f.store.clone();
        async move { store.count_requests(&query, cap).await.unwrap() }
    };
    let pending = RequestQuery { statuses: vec![Status::Pending], ..RequestQuery::default() };
    assert_eq!(count(pending.clone(), 100_000).await, 10_000);
    assert_eq!(count(pending.clone(), 99).await, 99);
    assert_eq!(count(RequestQuery { before: Some(created[10]), ..pending }, 100_000).await, 10_000);
    let reviewed = RequestQuery {
        statuses: vec![Status::Pending, Status::Active],
        resources: vec![resource("db"), resource("other")],
        ..RequestQuery::default()
    };
    assert_eq!(count(reviewed, 100_000).await, 10_000);
    let elsewhere = RequestQuery { resources: vec![resource("other")], ..RequestQuery::default() };
    assert_eq!(count(elsewhere, 100_000).await, 0);
    assert_eq!(
        count(RequestQuery { statuses: vec![Status::Denied], ..RequestQuery::default() }, 10).await,
        0
    );
    assert_eq!(count(search, 100_000).await, 100);
    assert_eq!(count(by_group, 100_000).await, 1000);
    assert_eq!(count(one_user, 100_000).await, 1);
    assert_eq!(count(RequestQuery::default(), 0).await, 0);
}

pub async fn requests_filter_by_status_user_resource_and_group(f: Fixture) {
    let db = resource("db");
    let pending =
        f.service.request_access(&alice(), &db, "look at slow queries", hours(1)).await.unwrap();
    let active = f.service.request_access(&bob(), &db, "hotfix", hours(1)).await.unwrap();
    let denied = f.service.request_access(&carol(), &db, "curious", hours(1)).await.unwrap();
    f.service.deny(&reviewer(), denied.id, "no").await.unwrap();

    let ids = |items: Vec<jitgate_access::request::AccessRequest>| {
        items.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    let by_status =
        |statuses: Vec<Status>| RequestQuery { statuses, limit: 50, ..RequestQuery::default() };
    assert_eq!(
        ids(f.store.list_requests(&by_status(vec![Status::Pending])).await.unwrap().items),
        vec![pending.id]
    );
    assert_eq!(
        ids(f.store.list_requests(&by_status(vec![Status::Active])).await.unwrap().items),
        vec![active.id]
    );
    assert_eq!(
        ids(f
            .store
            .list_requests(&by_status(vec![Status::Denied, Status::Pending]))
            .await
            .unwrap()
            .items),
        vec![denied.id, pending.id]
    );
    let by_user =
        RequestQuery { requester: Some(bob().user), limit: 50, ..RequestQuery::default() };
    assert_eq!(ids(f.store.list_requests(&by_user).await.unwrap().items), vec![active.id]);
    let by_group = RequestQuery { group: Some(group("dba")), limit: 50, ..RequestQuery::default() };
    assert_eq!(ids(f.store.list_requests(&by_group).await.unwrap().items), vec![denied.id]);
    let other_resource =
        RequestQuery { resources: vec![resource("wiki")], limit: 50, ..RequestQuery::default() };
    assert!(f.store.list_requests(&other_resource).await.unwrap().items.is_empty());
    let search = RequestQuery {
        search: Some("SLOW".into()),
        resources: vec![db.clone()],
        limit: 50,
        ..RequestQuery::default()
    };
    assert_eq!(ids(f.store.list_requests(&search).await.unwrap().items), vec![pending.id]);
    let grants = f.store.active_grants_for_user(&bob().user, f.clock.now()).await.unwrap();
    assert_eq!(grants.iter().map(|g| g.request_id).collect::<Vec<_>>(), vec![active.id]);
}

pub async fn audit_filters_by_time_actor_and_resource(f: Fixture) {
    let db = resource("db");
    let start = f.clock.now();
    let first = f.service.request_access(&alice(), &db, "r", hours(1)).await.unwrap();
    f.clock.advance(mins(10));
    let middle = f.clock.now();
    f.service.approve(&reviewer(), first.id, None, "fine").await.unwrap();
    f.clock.advance(mins(10));
    f.service.request_access(&bob(), &db, "auto", hours(1)).await.unwrap();

    let all = f
        .store
        .list_audit(&AuditQuery { limit: 100, ..AuditQuery::default() })
        .await
        .unwrap()
        .items;
    assert_eq!(
        all.iter().map(|e| e.action).collect::<Vec<_>>(),
        vec![
            AuditAction::RequestApproved,
            AuditAction::RequestCreated,
            AuditAction::RequestApproved,
            AuditAction::RequestCreated
        ]
    );
    let window = AuditQuery {
        from: Some(middle),
        to: Some(middle.plus(mins(1))),
        limit: 100,
        ..AuditQuery::default()
    };
    let in_window = f.store.list_audit(&window).await.unwrap().items;
    assert_eq!(in_window.len(), 1);
    assert_eq!(in_window[0].actor.key(), "rev1@example.com");
    let by_actor = AuditQuery { actor: Some("system".into()), limit: 100, ..AuditQuery::default() };
    assert_eq!(f.store.list_audit(&by_actor).await.unwrap().items.len(), 1);
    let by_resource =
        AuditQuery { resource: Some(resource("wiki")), limit: 100, ..AuditQuery::default() };
    assert!(f.store.list_audit(&by_resource).await.unwrap().items.is_empty());
    let before_start = AuditQuery { to: Some(start), limit: 100, ..AuditQuery::default() };
    assert!(f.store.list_audit(&before_start).await.unwrap().items.is_empty());
    // Paging the audit trail by cursor.
    let first_page =
        f.store.list_audit(&AuditQuery { limit: 3, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(first_page.items.len(), 3);
    let rest = AuditQuery { before: first_page.next, limit: 3, ..AuditQuery::default() };
    let second_page = f.store.list_audit(&rest).await.unwrap();
    assert_eq!(second_page.items.iter().map(|e| e.id).collect::<Vec<_>>(), vec![all[3].id]);
    assert!(second_page.next.is_none());
}

pub async fn everything_survives_a_restart(f: Fixture) {
    let db = resource("db");
    let pending = f.service.request_access(&alice(), &db, "r", hours(1)).await.unwrap();
    let active = f.service.request_access(&bob(), &db, "r", hours(8)).await.unwrap();
    let audit_before =
        f.store.list_audit(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();

    let f = f.reopen().await;
    assert_eq!(f.store.request(pending.id).await.unwrap().unwrap(), pending);
    assert_eq!(f.store.request(active.id).await.unwrap().unwrap(), active);
    let grant = f.store.active_grant(&bob().user, &db, f.clock.now()).await.unwrap();
    assert_eq!(grant.as_ref(), active.grant());
    let audit_after =
        f.store.list_audit(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(audit_after, audit_before);
    // And the workflow carries on from the reopened state.
    f.service.approve(&reviewer(), pending.id, None, "").await.unwrap();
}

pub async fn a_stale_change_writes_nothing(f: Fixture) {
    let db = resource("db");
    let request = f.service.request_access(&alice(), &db, "r", hours(1)).await.unwrap();
    let ids = IdGenerator::new();
    let policies = policies();
    let jitgate_access::policy::AccessMode::Jit(policy) =
        &policies.resources[&db].assignments[0].mode
    else {
        panic!("jit expected");
    };
    let ctx = Context { now: f.clock.now(), ids: &ids };
    let stale_approval =
        transition::approve(&ctx, &request, &reviewer().user, None, "", policy, None).unwrap();
    f.service.deny(&second_reviewer(), request.id, "no").await.unwrap();

    let audit_before =
        f.store.list_audit(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
    let refused = f.store.commit(&stale_approval).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict), "{refused:?}");
    assert_eq!(
        f.store.request(request.id).await.unwrap().unwrap().recorded_status(),
        Status::Denied
    );
    assert!(f.store.active_grant(&alice().user, &db, f.clock.now()).await.unwrap().is_none());
    let audit_after =
        f.store.list_audit(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(audit_after, audit_before, "a refused change leaves no audit trace");
    let active =
        RequestQuery { statuses: vec![Status::Active], limit: 10, ..RequestQuery::default() };
    assert!(f.store.list_requests(&active).await.unwrap().items.is_empty(), "nor an index entry");
}

pub async fn grant_changes_reach_every_subscriber(f: Fixture) {
    let db = resource("db");
    // A second handle stands for another jitgate instance sharing the store.
    let other_instance = f.second_handle().await;
    let mut local = f.store.subscribe().await.unwrap();
    let mut remote = other_instance.subscribe().await.unwrap();
    let request = f.service.request_access(&bob(), &db, "r", hours(1)).await.unwrap();
    let expected = ChangeEvent::GrantChanged { user: bob().user, resource: db.clone() };
    let deadline = Duration::from_secs(5);
    assert_eq!(tokio::time::timeout(deadline, local.recv()).await.unwrap(), Some(expected.clone()));
    f.service.revoke(&admin(), request.id, "").await.unwrap();
    assert_eq!(tokio::time::timeout(deadline, local.recv()).await.unwrap(), Some(expected.clone()));
    if f.shares_events_across_handles() {
        assert_eq!(
            tokio::time::timeout(deadline, remote.recv()).await.unwrap(),
            Some(expected.clone())
        );
        assert_eq!(tokio::time::timeout(deadline, remote.recv()).await.unwrap(), Some(expected));
    } else {
        assert!(remote.try_recv().is_err(), "the embedded store is single-instance by design");
    }
    // Decisions that do not touch a grant publish nothing.
    let pending = f.service.request_access(&alice(), &db, "r", hours(1)).await.unwrap();
    f.service.deny(&reviewer(), pending.id, "").await.unwrap();
    assert!(local.try_recv().is_err());
}

pub async fn a_second_instance_sees_committed_state(f: Fixture) {
    let db = resource("db");
    let other = f.second_handle().await;
    let request = f.service.request_access(&bob(), &db, "r", hours(1)).await.unwrap();
    assert_eq!(
        other.active_grant(&bob().user, &db, f.clock.now()).await.unwrap().as_ref(),
        request.grant()
    );
    f.service.revoke(&admin(), request.id, "").await.unwrap();
    assert!(other.active_grant(&bob().user, &db, f.clock.now()).await.unwrap().is_none());
    let seen: BTreeSet<RequestId> = other
        .list_requests(&RequestQuery { limit: 10, ..RequestQuery::default() })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert!(seen.contains(&request.id));
    other.ping().await.unwrap();
}
