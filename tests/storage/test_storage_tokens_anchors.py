"""Token expiry and administration, the credential compare-and-swap, and the audit anchors: on SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from cexlink.errors import InputError
from cexlink.storage.db import session_scope
from cexlink.storage.errors import Conflict, NotFound
from cexlink.storage.repositories import Repos
from tests.support.clock import Clock
from tests.support.storage import Tx, account_fields


def test_a_token_is_refused_from_its_expiry_on(tx: Tx, clock: Clock) -> None:
    with tx() as r:
        uid = r.users.create("alice").id
        short, row = r.users.issue(uid, "ci", expires_at=clock.datetime() + timedelta(days=1))
        forever = r.users.issue_token(uid, "laptop")
    clock.advance(86_399)
    with tx() as r:
        assert r.users.user_for_token(short) is not None
    clock.advance(1)  # the expiry instant itself is past
    with tx() as r:
        assert r.users.user_for_token(short) is None
        assert r.users.user_for_token(forever) is not None
        listed = {t.id: t for t in r.users.tokens(uid)}
        assert listed[row.id].expires_at == clock.datetime() and listed[row.id].revoked_at is None


def test_token_lookup_and_revocation_are_scoped(tx: Tx) -> None:
    with tx() as r:
        a, b = r.users.create("alice").id, r.users.create("bob").id
        _, mine = r.users.issue(a, "mine")
        _, theirs = r.users.issue(b, "theirs")
    with tx() as r:
        with pytest.raises(NotFound):
            r.users.token(a, theirs.id)
        with pytest.raises(NotFound):
            r.users.revoke_token(a, theirs.id)
        assert r.users.revoke_token(None, theirs.id).revoked_at is not None  # an administrator: anyone's
        assert {t.id for t in r.users.tokens(None)} >= {mine.id, theirs.id}
        for bad in (dict(label="x" * 201), dict(expires_at="tomorrow")):
            with pytest.raises(InputError) as err:
                r.users.issue(a, **bad)  # type: ignore[arg-type]
            assert err.value.field in bad


def test_credential_swap_is_compare_and_swap(tx: Tx, factory: sessionmaker[Session]) -> None:
    with tx() as r:
        uid = r.users.create("alice").id
        acc = r.accounts.add(uid, **account_fields(credential_id="old")).id
    barrier = threading.Barrier(3)
    results: list[str | None] = []

    def swap(new: str) -> None:
        with session_scope(factory) as s:
            barrier.wait()
            row = Repos(s).accounts.swap_credential(uid, acc, "old", credential_id=new, key_fingerprint="fp-" + new,
                                                    masked_key="m", status="ok")
            results.append(None if row is None else row.credential_id)

    threads = [threading.Thread(target=swap, args=(f"new-{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [r for r in results if r is not None]
    assert len(results) == 3 and len(winners) == 1
    with tx() as r:
        assert r.accounts.get(uid, acc).credential_id == winners[0]
        assert r.accounts.swap_credential(uid, acc, "old", credential_id="late") is None  # stale: refused
        with pytest.raises(InputError):
            r.accounts.swap_credential(uid, acc, winners[0], owner_id=2, credential_id="x")


def head(log: str, seq: int) -> dict[str, object]:
    return {"log": log, "seq": seq, "hash": f"{seq:064x}", "time": 1_700_000_000_000 + seq, "sig": "c2ln" * 22}


def test_anchors_keep_every_head_and_export_the_newest_per_log(tx: Tx) -> None:
    with tx() as r:
        assert r.anchors.newest() == []
        assert r.anchors.add_new([head("audit-0.log", 10), head("audit-1.log", 3)]) == 2
        assert r.anchors.add_new([head("audit-0.log", 10), head("audit-0.log", 20)]) == 1  # repeats skipped
    with tx() as r:
        assert r.anchors.count() == 3 and r.anchors.count("audit-0.log") == 2
        assert r.anchors.newest() == [head("audit-0.log", 20), head("audit-1.log", 3)]


@pytest.mark.parametrize("field, value", [("seq", "10"), ("seq", True), ("seq", 2**63), ("time", 1.5),
                                          ("hash", ""), ("sig", 5), ("log", "x" * 201), ("log", None)])
def test_a_malformed_head_is_refused_by_field(tx: Tx, field: str, value: object) -> None:
    with tx() as r:
        with pytest.raises(InputError) as err:
            r.anchors.add_new([{**head("audit-0.log", 1), field: value}])
        assert err.value.field == f"heads.{field}"
    with tx() as r:
        assert r.anchors.count() == 0


def test_a_head_stored_twice_at_once_is_a_conflict_not_a_duplicate(tx: Tx) -> None:
    with tx() as r:
        r.anchors.add_new([head("audit-0.log", 1)])
    with pytest.raises(Conflict) as err, tx() as r:
        from cexlink.storage.tables import AuditAnchor

        r.session.add(AuditAnchor(**head("audit-0.log", 1)))
        r.session.flush()
    assert err.value.field == "seq"
