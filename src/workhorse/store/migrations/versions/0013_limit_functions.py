"""PostgreSQL: admissions, token reservations and settling as functions in the database.

``workhorse_limit_admit``, ``workhorse_limit_reserve`` and ``workhorse_limit_settle`` are
the steps of ``workhorse.store.limit_log.admit``, ``reserve`` and ``settle`` (the same
checks, writes and outcome, which SQLite runs in Python): one round trip each, and the
subjects' advisory locks are held only while the database runs them. Nothing changes on
SQLite.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The window is 60000 ms (governance.limits.WINDOW_MS); about one write in 32 prunes the
# log (limit_log.PRUNE_EVERY).

LOCK = """
CREATE OR REPLACE FUNCTION workhorse_limit_lock(p_subjects jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_key bigint;
BEGIN
    -- a subject's lock key is its SHA-256's first 8 bytes, signed (limit_log.lock_key)
    FOR v_key IN
        SELECT DISTINCT ('x' || encode(substring(sha256(convert_to(x.value->>'name', 'UTF8'))
                                                 FROM 1 FOR 8), 'hex'))::bit(64)::bigint
        FROM jsonb_array_elements(p_subjects) AS x
        ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(v_key);
    END LOOP;
END $$;
"""

PRUNE = """
CREATE OR REPLACE FUNCTION workhorse_limit_prune(p_names text[], p_now_ms bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF random() < 0.03125 THEN
        DELETE FROM limit_events
        WHERE subject = ANY (p_names) AND at_ms <= p_now_ms - 60000;
    END IF;
END $$;
"""

# The wait until a full window has room for ``need``: until enough of its oldest entries
# leave it (limit_log._wait_ms).
WAIT = """
CREATE OR REPLACE FUNCTION workhorse_limit_wait(
    p_subject text, p_kind text, p_limit bigint, p_need bigint, p_now_ms bigint
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_at bigint;
BEGIN
    SELECT w.at_ms INTO v_at
    FROM (
        SELECT e.at_ms,
               sum(e.amount) OVER (ORDER BY e.at_ms, e.id) AS dropped,
               sum(e.amount) OVER () AS total
        FROM limit_events AS e
        WHERE e.subject = p_subject AND e.kind = p_kind AND e.at_ms > p_now_ms - 60000
    ) AS w
    WHERE w.total - w.dropped + p_need <= p_limit
    ORDER BY w.at_ms
    LIMIT 1;
    IF v_at IS NULL THEN
        RETURN 60000;
    END IF;
    RETURN greatest(v_at + 60000 - p_now_ms, 1);
END $$;
"""

ADMIT = """
CREATE OR REPLACE FUNCTION workhorse_limit_admit(
    p_subjects jsonb, p_reservation text, p_now_ms bigint, p_lease_ms bigint
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_subject jsonb;
    v_name text;
    v_limit bigint;
    v_count bigint;
    v_total bigint;
    v_oldest bigint;
    v_counted text[];
    v_leased text[];
    v_windows jsonb := '[]'::jsonb;
BEGIN
    -- The request log and the leases commit without waiting for the WAL flush: a
    -- database crash may forget the last moment's admissions (a few requests more
    -- admitted after it), never a reservation, a budget or usage.
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM workhorse_limit_lock(p_subjects);
    FOR v_subject IN SELECT value FROM jsonb_array_elements(p_subjects) LOOP
        v_name := v_subject->>'name';
        IF v_subject ? 'rpm' THEN
            v_limit := (v_subject->>'rpm')::bigint;
            SELECT count(*), min(e.at_ms) INTO v_count, v_oldest
            FROM limit_events AS e
            WHERE e.subject = v_name AND e.kind = 'requests' AND e.at_ms > p_now_ms - 60000;
            IF v_count >= v_limit THEN
                RETURN jsonb_build_object('refused', jsonb_build_object(
                    'kind', 'requests', 'subject', v_name, 'limit', v_limit,
                    'wait_ms', workhorse_limit_wait(v_name, 'requests', v_limit, 1, p_now_ms)));
            END IF;
            v_windows := v_windows || jsonb_build_array(jsonb_build_object(
                'kind', 'requests', 'limit', v_limit, 'remaining', v_limit - v_count - 1,
                'reset_ms', coalesce(v_oldest + 60000 - p_now_ms, 60000)));
        END IF;
        IF v_subject ? 'max_concurrent' THEN
            v_limit := (v_subject->>'max_concurrent')::bigint;
            SELECT count(*) INTO v_count
            FROM limit_leases AS l
            WHERE l.subject = v_name AND l.expires_ms > p_now_ms;
            IF v_count >= v_limit THEN
                RETURN jsonb_build_object('refused', jsonb_build_object(
                    'kind', 'concurrency', 'subject', v_name, 'limit', v_limit,
                    'wait_ms', 1000));
            END IF;
        END IF;
        IF v_subject ? 'tpm' THEN
            v_limit := (v_subject->>'tpm')::bigint;
            SELECT coalesce(sum(e.amount), 0), min(e.at_ms) INTO v_total, v_oldest
            FROM limit_events AS e
            WHERE e.subject = v_name AND e.kind = 'tokens' AND e.at_ms > p_now_ms - 60000;
            v_windows := v_windows || jsonb_build_array(jsonb_build_object(
                'kind', 'tokens', 'limit', v_limit, 'remaining', greatest(v_limit - v_total, 0),
                'reset_ms', coalesce(v_oldest + 60000 - p_now_ms, 0)));
        END IF;
    END LOOP;
    SELECT array_agg(x.value->>'name') FILTER (WHERE x.value ? 'rpm'),
           array_agg(x.value->>'name') FILTER (WHERE x.value ? 'max_concurrent')
    INTO v_counted, v_leased
    FROM jsonb_array_elements(p_subjects) AS x;
    IF v_counted IS NOT NULL THEN
        INSERT INTO limit_events (subject, kind, at_ms, amount, reservation)
        SELECT name, 'requests', p_now_ms, 1, p_reservation FROM unnest(v_counted) AS name;
        PERFORM workhorse_limit_prune(v_counted, p_now_ms);
    END IF;
    IF v_leased IS NOT NULL THEN
        DELETE FROM limit_leases WHERE subject = ANY (v_leased) AND expires_ms <= p_now_ms;
        INSERT INTO limit_leases (subject, reservation, expires_ms)
        SELECT name, p_reservation, p_now_ms + p_lease_ms FROM unnest(v_leased) AS name;
    END IF;
    RETURN jsonb_build_object('windows', v_windows);
END $$;
"""

RESERVE = """
CREATE OR REPLACE FUNCTION workhorse_limit_reserve(
    p_subjects jsonb, p_reservation text, p_tokens bigint, p_now_ms bigint
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_subject jsonb;
    v_name text;
    v_limit bigint;
    v_total bigint;
    v_used bigint;
    v_period text;
    v_soft jsonb;
    v_held jsonb := '[]'::jsonb;
    v_per_minute text[] := '{}';
BEGIN
    PERFORM workhorse_limit_lock(p_subjects);
    FOR v_subject IN SELECT value FROM jsonb_array_elements(p_subjects) LOOP
        v_name := v_subject->>'name';
        IF v_subject ? 'tpm' THEN
            v_limit := (v_subject->>'tpm')::bigint;
            IF p_tokens > v_limit THEN
                RETURN jsonb_build_object('refused', jsonb_build_object(
                    'kind', 'too_large', 'subject', v_name, 'limit', v_limit));
            END IF;
            SELECT coalesce(sum(e.amount), 0) INTO v_total
            FROM limit_events AS e
            WHERE e.subject = v_name AND e.kind = 'tokens' AND e.at_ms > p_now_ms - 60000;
            IF v_total + p_tokens > v_limit THEN
                RETURN jsonb_build_object('refused', jsonb_build_object(
                    'kind', 'tokens', 'subject', v_name, 'limit', v_limit,
                    'wait_ms', workhorse_limit_wait(v_name, 'tokens', v_limit, p_tokens,
                                                    p_now_ms)));
            END IF;
            v_per_minute := v_per_minute || v_name;
        END IF;
        v_period := NULL;
        IF v_subject ? 'budget' THEN
            v_period := v_subject->'budget'->>'period';
            v_limit := (v_subject->'budget'->>'tokens')::bigint;
            SELECT b.used INTO v_used
            FROM budget_use AS b
            WHERE b.subject = v_name AND b.period = v_period;
            v_used := coalesce(v_used, 0);
            IF v_used + p_tokens > v_limit THEN
                IF (v_subject->'budget'->>'hard')::boolean THEN
                    RETURN jsonb_build_object('refused', jsonb_build_object(
                        'kind', 'budget', 'subject', v_name, 'limit', v_limit,
                        'used', v_used));
                END IF;
                v_soft := jsonb_build_object(
                    'subject', v_name, 'used', v_used + p_tokens, 'limit', v_limit);
            END IF;
        END IF;
        IF v_subject ? 'tpm' OR v_period IS NOT NULL THEN
            v_held := v_held || jsonb_build_array(
                jsonb_build_array(v_name, v_period, v_subject ? 'tpm'));
        END IF;
    END LOOP;
    IF jsonb_array_length(v_held) = 0 THEN
        RETURN jsonb_build_object('soft', v_soft);
    END IF;
    IF cardinality(v_per_minute) > 0 THEN
        INSERT INTO limit_events (subject, kind, at_ms, amount, reservation)
        SELECT name, 'tokens', p_now_ms, p_tokens, p_reservation FROM unnest(v_per_minute) AS name;
        PERFORM workhorse_limit_prune(v_per_minute, p_now_ms);
    END IF;
    INSERT INTO budget_use (subject, period, used)
    SELECT h.value->>0, h.value->>1, p_tokens
    FROM jsonb_array_elements(v_held) AS h
    WHERE h.value->>1 IS NOT NULL
    ON CONFLICT (subject, period) DO UPDATE SET used = budget_use.used + excluded.used;
    INSERT INTO token_reservations (id, reserved, subjects_json, at_ms, settled)
    VALUES (p_reservation, p_tokens, v_held::text, p_now_ms, NULL);
    RETURN jsonb_build_object('soft', v_soft);
END $$;
"""

# ``settled``, ``unknown`` (nothing was reserved under that id) or ``done`` (settled
# before): limit_log.settle. No lock: settling only corrects what a reservation already
# counted, and the claim makes it happen once.
SETTLE = """
CREATE OR REPLACE FUNCTION workhorse_limit_settle(p_reservation text, p_tokens bigint)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_reserved bigint;
    v_held jsonb;
BEGIN
    UPDATE token_reservations SET settled = p_tokens
    WHERE id = p_reservation AND settled IS NULL
    RETURNING reserved, subjects_json::jsonb INTO v_reserved, v_held;
    IF NOT FOUND THEN
        PERFORM 1 FROM token_reservations WHERE id = p_reservation;
        RETURN CASE WHEN FOUND THEN 'done' ELSE 'unknown' END;
    END IF;
    UPDATE limit_events SET amount = p_tokens
    WHERE reservation = p_reservation AND kind = 'tokens';
    UPDATE budget_use AS b SET used = b.used + p_tokens - v_reserved
    FROM jsonb_array_elements(v_held) AS h
    WHERE h.value->>1 IS NOT NULL AND b.subject = h.value->>0 AND b.period = h.value->>1;
    RETURN 'settled';
END $$;
"""

FUNCTIONS = (
    "lock(jsonb)",
    "prune(text[], bigint)",
    "wait(text, text, bigint, bigint, bigint)",
    "admit(jsonb, text, bigint, bigint)",
    "reserve(jsonb, text, bigint, bigint)",
    "settle(text, bigint)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in (LOCK, PRUNE, WAIT, ADMIT, RESERVE, SETTLE):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS workhorse_limit_{signature}")
