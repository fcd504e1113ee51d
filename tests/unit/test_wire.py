"""The Sign Center's JSON lines keep every value exactly, integers beyond 64 bits included."""

from cexlink.signer.wire import line, parse


def test_round_trip_keeps_values() -> None:
    message = {"id": 7, "args": {"params": {"quantity": 0.001, "big": 2**70, "text": "é\n"}, "none": None}}
    data = line(message)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert parse(data[:-1]) == message
    assert isinstance(parse(data[:-1])["args"]["params"]["big"], int)


def test_a_long_integer_from_a_caller_stays_an_integer() -> None:
    assert parse(b'{"n":123456789012345678901234567890}') == {"n": 123456789012345678901234567890}
    assert parse(b'{"n":12345}') == {"n": 12345}
