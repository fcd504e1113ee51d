"""``describe`` and ``describe_many`` over the real socket: a credential's metadata, never its material."""

from __future__ import annotations

import pytest

from cexlink.errors import InputError
from cexlink.signer.client import SignerClient

KUCOIN_SECRET = "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b"


def test_describe_many_answers_the_known_ids_and_never_material(client: SignerClient) -> None:
    creds = [client.store("user-d", "kucoin", f"64f1a2b3c4d5e6f70819{i:04d}", KUCOIN_SECRET, "kc-pass-123")
             for i in range(3)]
    ids = [c["credential_id"] for c in creds]
    client.revoke(ids[2])
    got = client.describe_many([*ids, "cred_not_there"])["credentials"]
    assert sorted(got) == sorted(ids)
    assert got[ids[0]] == client.describe(ids[0])
    assert [got[i]["status"] for i in ids] == ["active", "active", "revoked"]
    assert got[ids[0]]["created_at"] == creds[0]["created_at"]
    assert KUCOIN_SECRET not in str(got) and "kc-pass-123" not in str(got)


@pytest.mark.parametrize("bad", [None, "cred_x", [1], [""], ["cred_x"] * 10_001], ids=["null", "text", "int",
                                                                                    "empty", "too-many"])
def test_describe_many_refuses_what_is_not_a_list_of_ids(client: SignerClient, bad: object) -> None:
    with pytest.raises(InputError) as refused:
        client.describe_many(bad)  # type: ignore[arg-type]
    assert refused.value.field == "credential_ids"
