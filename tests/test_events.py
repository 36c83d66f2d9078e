"""Events: the one JSON object form (sim JSONL, ledger payload) and its decoder's error messages.

Every kind must survive `event_to_record` → `event_from_record` unchanged, because that is how an
unfinished event comes back out of the ledger after a crash.
"""

from __future__ import annotations

from typing import Any

import pytest

from director.events import (
    EVENT_KINDS,
    Chat,
    Enter,
    Event,
    EventFormatError,
    Follow,
    Gift,
    Like,
    Membership,
    Money,
    Speech,
    SuperChat,
    Viewer,
    describe,
    event_from_record,
    event_to_record,
)

VIEWER = {"id": "u1", "name": "小明", "level": 2}

# One record per kind, with every optional field set to something other than its default.
RECORDS: dict[str, dict[str, Any]] = {
    "chat": {"kind": "chat", "msg_id": "c1", "viewer": VIEWER, "text": "晚上好"},
    "gift": {"kind": "gift", "msg_id": "g1", "viewer": VIEWER, "gift": "小心心", "count": 3,
             "value": 0.3},
    "super_chat": {"kind": "super_chat", "msg_id": "s1", "viewer": VIEWER, "text": "hi",
                   "value": 30},
    "membership": {"kind": "membership", "msg_id": "m1", "viewer": VIEWER, "level": 2,
                   "months": 3, "value": 90},
    "follow": {"kind": "follow", "msg_id": "f1", "viewer": VIEWER},
    "like": {"kind": "like", "msg_id": "l1", "viewer": VIEWER, "count": 30},
    "enter": {"kind": "enter", "msg_id": "e1", "viewer": VIEWER},
    "speech": {"kind": "speech", "msg_id": "v1", "viewer": VIEWER, "text": "hello",
               "language": "en"},
}


def test_every_kind_has_a_sample_record() -> None:
    # guards the round-trip test below: a new kind must get a sample here
    assert set(RECORDS) == set(EVENT_KINDS)


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_round_trip_every_kind(kind: str) -> None:
    first = event_from_record(RECORDS[kind], platform="bilibili", received=12.5)
    assert type(first) is EVENT_KINDS[kind]
    assert first.kind == kind
    record = event_to_record(first)
    assert record["kind"] == kind and "received" not in record, record
    again = event_from_record(record, platform="other", received=12.5)
    # the record carries its own platform, so the default passed here must not win
    assert again == first, f"\n{first}\n{again}\nrecord: {record}"
    assert again.viewer.platform == "bilibili"


def test_round_trip_keeps_converted_money_in_the_base_currency() -> None:
    money = Money(base="CNY", rates={"USD": 7.2})
    gift = event_from_record({**RECORDS["gift"], "value": 2, "currency": "usd"}, money=money)
    assert isinstance(gift, Gift)
    assert gift.value == pytest.approx(14.4) and gift.currency == "CNY"
    assert event_from_record(event_to_record(gift), money=money) == gift


def test_decoded_fields_and_defaults() -> None:
    gift = event_from_record({"kind": "gift", "msg_id": "g", "viewer": {"id": "u9"},
                              "gift": "rose"})
    assert isinstance(gift, Gift)
    assert (gift.count, gift.value, gift.currency) == (1, 0.0, "CNY")
    assert gift.viewer == Viewer(platform="sim", id="u9", name="u9", level=0)
    member = event_from_record({"kind": "membership", "msg_id": "m", "viewer": VIEWER})
    assert isinstance(member, Membership) and (member.level, member.months) == (1, 1)
    assert member.money == 0.0
    like = event_from_record({"kind": "like", "msg_id": "l", "viewer": VIEWER})
    assert isinstance(like, Like) and like.count == 1 and like.money == 0.0


@pytest.mark.parametrize(("event", "expected"), [
    (Gift(platform="sim", msg_id="1", viewer=Viewer("sim", "u", "小明"), gift="小心心",
          count=3, value=3.0), "gift 小明 x3 小心心 (3 CNY)"),
    (SuperChat(platform="sim", msg_id="2", viewer=Viewer("sim", "u", "Yuki"), text="thanks",
               value=30.5), "super_chat Yuki (30.5 CNY): thanks"),
    (Chat(platform="sim", msg_id="3", viewer=Viewer("sim", "u", "Mika"), text="tea"),
     "chat Mika: tea"),
    (Speech(platform="sim", msg_id="4", viewer=Viewer("sim", "op", "operator"), text="hi"),
     "speech operator: hi"),
    (Membership(platform="sim", msg_id="5", viewer=Viewer("sim", "u", "星星"), level=3,
                months=2), "membership 星星 level 3 (2 months)"),
    (Like(platform="sim", msg_id="6", viewer=Viewer("sim", "u", "lurker"), count=30),
     "like lurker x30"),
    (Follow(platform="sim", msg_id="7", viewer=Viewer("sim", "u", "Aiko")), "follow Aiko"),
    (Enter(platform="sim", msg_id="8", viewer=Viewer("sim", "u", "Rin")), "enter Rin"),
])
def test_describe(event: Event, expected: str) -> None:
    assert describe(event) == expected


def test_int_msg_id_and_viewer_id_become_strings() -> None:
    event = event_from_record({"kind": "follow", "msg_id": 42, "viewer": {"id": 7}})
    assert event.msg_id == "42"
    assert event.viewer.id == "7" and event.viewer.name == "7"


@pytest.mark.parametrize(("record", "message"), [
    ({**RECORDS["gift"], "count": True}, "'count' must be int, got bool"),
    ({**RECORDS["like"], "count": False}, "'count' must be int, got bool"),
    ({**RECORDS["gift"], "value": True}, "'value' must be int or float, got bool"),
    ({**RECORDS["membership"], "months": True}, "'months' must be int, got bool"),
    ({**RECORDS["chat"], "viewer": {"id": "u", "level": True}}, "'level' must be int, got bool"),
    ({**RECORDS["chat"], "msg_id": True}, "non-empty 'msg_id'"),
    ({**RECORDS["chat"], "viewer": {"id": True}}, "'viewer' needs a non-empty 'id'"),
])
def test_bool_is_not_an_int(record: dict[str, Any], message: str) -> None:
    with pytest.raises(EventFormatError) as info:
        event_from_record(record)
    assert message in str(info.value)


@pytest.mark.parametrize(("record", "message"), [
    ([1, 2], "an event must be a JSON object"),
    ({"msg_id": "x", "viewer": VIEWER}, "an event needs 'kind'"),
    ({**RECORDS["chat"], "kind": "raid"}, "unknown kind 'raid' (one of: chat, gift"),
    ({"kind": "chat", "viewer": VIEWER, "text": "x"}, "non-empty 'msg_id'"),
    ({**RECORDS["chat"], "msg_id": ""}, "non-empty 'msg_id'"),
    ({"kind": "chat", "msg_id": "x", "text": "x"}, "an event needs 'viewer'"),
    ({**RECORDS["chat"], "viewer": "小明"}, "'viewer' must be dict, got str"),
    ({**RECORDS["chat"], "viewer": {"name": "小明"}}, "'viewer' needs a non-empty 'id'"),
    ({"kind": "chat", "msg_id": "x", "viewer": VIEWER}, "a chat event needs 'text'"),
    ({**RECORDS["chat"], "text": 5}, "'text' must be str, got int"),
    ({"kind": "gift", "msg_id": "x", "viewer": VIEWER}, "a gift event needs 'gift'"),
    ({**RECORDS["gift"], "count": 0}, "'count' must be at least 1"),
    ({**RECORDS["gift"], "value": -1}, "'value' must not be negative"),
    ({**RECORDS["gift"], "value": "10"}, "'value' must be int or float, got str"),
    ({**RECORDS["gift"], "currency": "GBP"}, "no exchange rate for GBP"),
])
def test_bad_records_say_what_to_fix(record: Any, message: str) -> None:
    with pytest.raises(EventFormatError) as info:
        event_from_record(record)
    assert message in str(info.value)


def test_money_conversion() -> None:
    money = Money(base="CNY", rates={"USD": 7.2, "JPY": 0.048})
    assert money.to_base(10, "USD") == pytest.approx(72.0)
    assert money.to_base(1000, "jpy") == pytest.approx(48.0)
    assert money.to_base(5, "cny") == 5.0
    assert money.to_base(5, "") == 5.0  # no currency: already the base
    with pytest.raises(ValueError, match=r"no exchange rate for EUR: add it under currency.rates"):
        money.to_base(1, "EUR")
