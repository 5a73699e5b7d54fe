//! The store conformance suite: the same tests, generated once per backend. A backend is
//! correct when every one of them passes against it; Redis tests start their own
//! `redis-server` on a free port and stop it when they end.

mod break_glass;
mod extend;
mod first_use;
mod fixture;
mod outbox;
mod pause;
mod pending;
mod people;
mod queries;
mod redis_only;
mod schedule;
mod sessions;
mod tokens;
mod workflow;

macro_rules! conformance {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::$module::$test(crate::fixture::Fixture::embedded().await).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::$module::$test(crate::fixture::Fixture::redis().await).await
                }
            )*
        }
    };
}

conformance! {
    workflow::manual_request_is_pending_until_approved,
    workflow::auto_approval_grants_at_once_and_requires_a_reason,
    workflow::durations_are_held_to_the_policy,
    workflow::requester_never_reviews_own_request,
    workflow::only_reviewers_decide,
    workflow::users_without_an_assignment_cannot_request,
    workflow::one_pending_request_per_user_and_resource,
    workflow::deny_is_final,
    workflow::requester_cancels_pending_request,
    workflow::threshold_counts_distinct_reviewers,
    workflow::a_new_approval_extends_and_never_shortens,
    workflow::grant_is_not_returned_at_or_after_expiry,
    workflow::revoke_ends_the_grant_now,
    workflow::sweep_records_timeouts_and_expiries,
    workflow::timed_out_request_cannot_be_approved_before_the_sweep,
    workflow::racing_reviewers_produce_one_outcome,
    queries::ten_thousand_requests_page_by_cursor,
    queries::requests_filter_by_status_user_resource_and_group,
    queries::audit_filters_by_time_actor_and_resource,
    queries::everything_survives_a_restart,
    queries::a_stale_change_writes_nothing,
    queries::grant_changes_reach_every_subscriber,
    queries::a_second_instance_sees_committed_state,
    people::a_sign_in_records_the_person_and_later_ones_refresh_it,
    tokens::api_tokens_are_found_listed_expired_and_deleted,
    tokens::the_service_audits_tokens_and_only_owners_or_admins_revoke,
    sessions::sessions_live_until_they_expire_or_end,
    sessions::signing_out_everywhere_ends_only_that_users_sessions,
    sessions::signing_out_and_ending_sessions_are_audited_for_admins_only,
    sessions::sessions_survive_a_restart,
    sessions::a_claim_holds_once_across_instances,
    sessions::a_heartbeat_comes_back_through_the_feed_after_earlier_changes,
    outbox::notifications_commit_with_their_change,
    outbox::a_lease_keeps_other_workers_off_until_it_ends,
    outbox::concurrent_workers_never_share_an_item,
    outbox::retries_wait_and_giving_up_is_audited,
    outbox::undelivered_notifications_survive_a_restart,
    pending::concurrent_submits_open_one_request_and_mail_reviewers_once,
    pending::the_pending_slot_frees_on_every_way_out_of_pending,
    pending::a_pointer_nobody_cleared_holds_nothing,
    pending::pending_duplicates_from_before_the_pointer_still_open,
    pause::a_pause_locks_everywhere_until_resumed_and_the_window_runs_on,
    pause::who_may_pause_and_resume,
    pause::a_stale_pause_writes_nothing,
    pause::a_paused_grant_expires_and_can_be_superseded,
    extend::an_automatic_extension_takes_over_at_once_within_both_bounds,
    extend::a_manual_extension_waits_for_the_threshold_without_interrupting_access,
    extend::extensions_of_others_ended_or_unextendable_grants_are_refused,
    break_glass::a_member_grants_themselves_access_at_once_under_manual_approval,
    break_glass::break_glass_needs_a_reason_an_eligible_group_and_a_short_enough_duration,
    break_glass::the_flag_stays_until_a_reviewer_other_than_the_holder_acknowledges,
    break_glass::revoking_a_break_glass_grant_cuts_it_and_lifts_the_flag,
    schedule::a_grant_approved_ahead_opens_at_its_start_everywhere_and_ends_on_time,
    schedule::cancelling_or_revoking_before_the_start_ends_it_everywhere,
    schedule::a_schedule_never_cuts_present_access_nor_is_replaced_before_its_start,
    first_use::an_approved_grant_waits_for_first_use_then_runs_from_it,
    first_use::two_instances_racing_to_claim_start_the_duration_once,
    first_use::an_unclaimed_grant_lapses_at_claim_within_and_says_so,
    first_use::approval_continuing_a_grant_in_force_starts_at_once,
}
