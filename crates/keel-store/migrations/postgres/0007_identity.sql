-- Identity and access: customers and their addresses, staff and roles, sessions, single-use
-- tokens (password reset, email verification, invitations), login throttling, the staff audit
-- log and OpenID Connect logins in flight. Secrets are stored only as SHA-256 digests, passwords
-- only as Argon2id hashes.

CREATE TABLE customers (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL CONSTRAINT customers_email_key UNIQUE,
    email_verified_at TIMESTAMPTZ,
    password_hash     TEXT,
    first_name        TEXT,
    last_name         TEXT,
    phone             TEXT,
    status            TEXT NOT NULL CHECK (status IN ('active', 'erased')),
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    erased_at         TIMESTAMPTZ
);

CREATE TABLE customer_addresses (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    first_name   TEXT,
    last_name    TEXT,
    company      TEXT,
    line1        TEXT NOT NULL,
    line2        TEXT,
    city         TEXT NOT NULL,
    postal_code  TEXT,
    province     TEXT,
    country_code TEXT NOT NULL,
    phone        TEXT,
    is_default   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX customer_addresses_customer_idx ON customer_addresses (customer_id, created_at);

-- Built-in roles are rows too (so staff reference every role the same way), but their
-- permissions come from code; custom roles keep theirs here.
CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    permissions JSONB NOT NULL,
    builtin     BOOLEAN NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
INSERT INTO roles (name, description, permissions, builtin, created_at, updated_at) VALUES
    ('owner', '', '[]', TRUE, now(), now()),
    ('admin', '', '[]', TRUE, now(), now()),
    ('catalog_manager', '', '[]', TRUE, now(), now()),
    ('order_manager', '', '[]', TRUE, now(), now()),
    ('support', '', '[]', TRUE, now(), now()),
    ('read_only', '', '[]', TRUE, now(), now());

CREATE TABLE staff_users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL CONSTRAINT staff_users_email_key UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    role          TEXT NOT NULL REFERENCES roles (name),
    status        TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    last_login_at TIMESTAMPTZ
);

-- A staff member's account at an OpenID provider.
CREATE TABLE staff_identities (
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    staff_id   TEXT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, subject)
);

CREATE TABLE sessions (
    id                    TEXT PRIMARY KEY,
    subject_kind          TEXT NOT NULL CHECK (subject_kind IN ('customer', 'staff')),
    subject_id            TEXT NOT NULL,
    access_hash           TEXT NOT NULL CONSTRAINT sessions_access_hash_key UNIQUE,
    access_expires_at     TIMESTAMPTZ NOT NULL,
    refresh_hash          TEXT NOT NULL CONSTRAINT sessions_refresh_hash_key UNIQUE,
    previous_refresh_hash TEXT,
    refresh_expires_at    TIMESTAMPTZ NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    refreshed_at          TIMESTAMPTZ NOT NULL,
    revoked_at            TIMESTAMPTZ,
    revoked_reason        TEXT
);
CREATE INDEX sessions_subject_idx ON sessions (subject_kind, subject_id);
CREATE INDEX sessions_previous_refresh_idx ON sessions (previous_refresh_hash);

-- Password resets, email verifications and invitations: single use, expiring.
CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('password_reset', 'email_verification', 'staff_invitation')),
    subject_id TEXT NOT NULL,
    data       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX auth_tokens_subject_idx ON auth_tokens (purpose, subject_id);

-- Failed attempts per account and per client address, with the lock they earned.
CREATE TABLE auth_throttle (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_label TEXT NOT NULL,
    action      TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    status      INTEGER NOT NULL,
    before      JSONB,
    after       JSONB,
    request_id  TEXT
);
CREATE INDEX audit_log_at_idx ON audit_log (at, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at);

-- An OpenID Connect login between the redirect to the provider and the callback.
CREATE TABLE oidc_logins (
    state         TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    browser_hash  TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
