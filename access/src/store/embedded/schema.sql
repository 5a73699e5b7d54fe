-- jitgate embedded store, schema version 2 (2: pending_requests).
-- Ids are ULIDs as text: their lexical order is creation order, which pagination relies on.
CREATE TABLE IF NOT EXISTS requests (
    id        TEXT PRIMARY KEY NOT NULL,
    version   INTEGER NOT NULL,
    requester TEXT NOT NULL,
    resource  TEXT NOT NULL,
    status    TEXT NOT NULL,
    reason    TEXT NOT NULL,
    -- when the sweeper must next look at this request (pending deadline or grant expiry)
    deadline  INTEGER,
    data      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_status ON requests (status, id);
CREATE INDEX IF NOT EXISTS requests_by_requester ON requests (requester, id);
CREATE INDEX IF NOT EXISTS requests_by_resource ON requests (resource, id);
-- Someone's requests for one resource (without it SQLite walks the resource's whole history).
CREATE INDEX IF NOT EXISTS requests_by_requester_resource ON requests (requester, resource, status, id);
CREATE INDEX IF NOT EXISTS requests_by_deadline ON requests (deadline) WHERE deadline IS NOT NULL;

CREATE TABLE IF NOT EXISTS request_groups (
    group_name TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (group_name, request_id)
) WITHOUT ROWID;

-- The one active grant per (user, resource) that the proxy reads.
CREATE TABLE IF NOT EXISTS active_grants (
    requester  TEXT NOT NULL,
    resource   TEXT NOT NULL,
    request_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (requester, resource)
) WITHOUT ROWID;

-- The one pending request per (user, resource): a new request takes its row in the transaction
-- that stores it, so of two racing submits exactly one commits; leaving pending deletes it. A
-- row whose pending_until has passed (timed out by the clock), or whose request is no longer
-- pending (left by a writer that did not delete it), counts as absent.
CREATE TABLE IF NOT EXISTS pending_requests (
    requester     TEXT NOT NULL,
    resource      TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    pending_until INTEGER NOT NULL,
    PRIMARY KEY (requester, resource)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS audit (
    id         TEXT PRIMARY KEY NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    resource   TEXT NOT NULL,
    request_id TEXT NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit (actor, id);
CREATE INDEX IF NOT EXISTS audit_by_resource ON audit (resource, id);
CREATE INDEX IF NOT EXISTS audit_by_request ON audit (request_id, id);

-- Signed-in sessions; the cookie only names one.
CREATE TABLE IF NOT EXISTS sessions (
    id         TEXT PRIMARY KEY NOT NULL,
    requester  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (requester);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);

-- Single-use claims (handoff token ids), kept until the token could no longer be used.
CREATE TABLE IF NOT EXISTS claims (
    key   TEXT PRIMARY KEY NOT NULL,
    until INTEGER NOT NULL
) WITHOUT ROWID;

-- The notification outbox: pending items by next attempt, failed ones kept for the admin page.
CREATE TABLE IF NOT EXISTS outbox (
    id      TEXT PRIMARY KEY NOT NULL,
    state   TEXT NOT NULL,
    next_at INTEGER NOT NULL,
    data    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_at);

-- Everyone who has signed in (access::people): the latest identity, first and last sign-in.
CREATE TABLE IF NOT EXISTS people (
    user       TEXT PRIMARY KEY NOT NULL,
    first_seen INTEGER NOT NULL,
    data       TEXT NOT NULL
) WITHOUT ROWID;

-- Personal API tokens (access::api_token): digests only, never secrets.
CREATE TABLE IF NOT EXISTS api_tokens (
    id         TEXT PRIMARY KEY NOT NULL,
    user       TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    data       TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS api_tokens_by_user ON api_tokens (user, id);
