"""One exception tree: ``cexlink.errors`` draws every exception class of the project, where it lives and under
which parent, and the drawing stays true (httpx's tests/test_exceptions.py pattern). A Sign Center refusal
reaches ccxt callers as an exception that carries its reason, chained, over the real Sign Center socket."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

import ccxt
import pytest

import cexlink
from cexlink import errors
from cexlink.ccxt import SignCenterRefused, remote
from cexlink.domain.statuses import Status
from cexlink.errors import CexlinkError, SignerRefused
from cexlink.exchanges.classify import classify
from cexlink.signer.client import SignerClient
from tests.support.signer import store

_NODE = re.compile(r"^(?P<indent>[ │├└─]*?)(?:[├└]── )?(?P<name>_?[A-Z]\w*)\s*(?:\[(?P<module>[\w.]+)\])?")


@dataclass(frozen=True)
class Drawn:
    name: str
    module: str  # cexlink.<module>
    parent: str | None  # None: outside the tree


def _drawing() -> dict[str, Drawn]:
    """The classes drawn in ``cexlink.errors.__doc__``: the tree (parent from the indentation), then the list of
    classes outside it."""
    doc = errors.__doc__ or ""
    tree, _, outside = doc.partition("Outside the tree")
    drawn: dict[str, Drawn] = {}
    stack: list[str] = []  # the names on the path to the current depth
    for line in tree.splitlines():
        body = line[4:]
        if not (body.startswith("CexlinkError") or "── " in body):
            continue  # prose, or a description running on under its class
        m = _NODE.match(body)
        assert m, line
        depth = (m.start("name")) // 4
        del stack[depth:]
        parent = stack[-1] if stack else None
        stack.append(m["name"])
        assert m["name"] not in drawn, f"{m['name']} is drawn twice"
        drawn[m["name"]] = Drawn(m["name"], "cexlink." + (m["module"] or "errors"), parent or "")
    for line in outside.splitlines():
        m = re.match(r"^    (?P<name>_?[A-Z]\w*)\s+\[(?P<module>[\w.]+)\]", line)
        if m:
            drawn[m["name"]] = Drawn(m["name"], "cexlink." + m["module"], None)
    return drawn


def _import_everything() -> None:
    for info in pkgutil.walk_packages(cexlink.__path__, "cexlink."):
        if ".migrations." not in info.name:  # Alembic scripts run only under Alembic, and define no errors
            importlib.import_module(info.name)


def _project_exceptions() -> list[type[BaseException]]:
    _import_everything()
    found: list[type[BaseException]] = []
    todo: list[type[BaseException]] = [BaseException]
    seen: set[type[BaseException]] = set()
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
                if sub.__module__.startswith("cexlink."):
                    found.append(sub)
    return found


def _tree_parent(cls: type) -> str:
    """The class's parent in our tree: its one base that is a CexlinkError ('' for CexlinkError itself)."""
    ours = [b for b in cls.__bases__ if issubclass(b, CexlinkError)]
    assert len(ours) <= 1, f"{cls.__name__} has two parents in the tree: {ours}"
    return ours[0].__name__ if ours else ""


def test_the_drawing_is_read() -> None:
    drawn = _drawing()
    assert drawn["CexlinkError"].parent == ""
    assert drawn["SignerRefused"].parent == "SignerError"
    assert drawn["Refused"] == Drawn("Refused", "cexlink.signer.policy", "SignerRefused")
    assert drawn["AuditUnavailable"].parent == "CexlinkError"


def test_every_exception_class_is_drawn_where_it_lives_under_its_parent() -> None:
    drawn = _drawing()
    classes = _project_exceptions()
    assert len({c.__name__ for c in classes}) == len(classes), "two exception classes share a name"
    for cls in classes:
        assert cls.__name__ in drawn, f"{cls.__module__}.{cls.__name__} is not drawn in cexlink.errors"
        d = drawn[cls.__name__]
        assert d.module == cls.__module__, f"{cls.__name__} is drawn in {d.module}, lives in {cls.__module__}"
        if issubclass(cls, CexlinkError):
            assert d.parent == _tree_parent(cls), f"{cls.__name__} is drawn under {d.parent!r}"
        else:
            assert d.parent is None, f"{cls.__name__} is not a CexlinkError: draw it outside the tree"


def test_nothing_drawn_is_missing_from_the_code() -> None:
    _import_everything()
    for d in _drawing().values():
        module = importlib.import_module(d.module)
        cls = getattr(module, d.name, None)
        assert isinstance(cls, type) and issubclass(cls, BaseException), f"{d.module}.{d.name} does not exist"
        assert cls.__module__ == d.module, f"{d.name} is drawn in {d.module}, defined in {cls.__module__}"


def test_signer_refusals_carry_their_reason_as_a_str() -> None:
    from cexlink.signer.policy import Reason, Refused

    refused = Refused(Reason.WITHDRAWAL_FORBIDDEN, "never signed")
    assert type(refused.reason) is str and refused.reason == "withdrawal_forbidden"


# ---- over the real Sign Center ----

def test_a_refusal_reaches_ccxt_callers_with_its_reason_chained(new_key, client: SignerClient) -> None:
    """A withdrawal through remote-signed ccxt: a ccxt.PermissionDenied (ccxt callers catch what they always
    did) that carries the reason code and the Sign Center's refusal as its cause, so nobody parses text."""
    key = new_key("binance", permissions="read,spot,withdraw", ips=["127.0.0.1"])
    ex = remote("binance", store(client, key, "binance"), client, config={"enableRateLimit": False})
    with pytest.raises(ccxt.PermissionDenied) as caught:
        ex.sapi_post_capital_withdraw_apply({"coin": "USDT", "address": "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb",
                                             "amount": "100", "network": "TRX"})
    err = caught.value
    assert isinstance(err, SignCenterRefused) and isinstance(err, SignerRefused)
    assert err.reason == "withdrawal_forbidden"
    assert isinstance(err.__cause__, SignerRefused) and err.__cause__.reason == "withdrawal_forbidden"
    assert str(err).startswith("binance Sign Center refused: withdrawal_forbidden: ")
    got = classify("binance", err)
    assert (got.status, got.cause) == (Status.UNKNOWN, "withdrawal_forbidden")


def test_a_revoked_credential_classifies_as_revoked_through_ccxt(new_key, client: SignerClient) -> None:
    key = new_key("binance", ips=["127.0.0.1"])
    cred = store(client, key, "binance")
    client.revoke(cred)
    ex = remote("binance", cred, client, config={"enableRateLimit": False})
    with pytest.raises(SignCenterRefused) as caught:
        ex.private_get_account()
    assert caught.value.reason == "credential_revoked"
    assert classify("binance", caught.value).status is Status.REVOKED
