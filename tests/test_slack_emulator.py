"""The Slack emulator against the real slack_sdk WebClient; the signer against a real Bolt app."""

from __future__ import annotations

import json
import socketserver
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.sandbox.emulator import SlackEmulator, render_blocks, validate_blocks
from bot.sandbox.signing import SlackRequestSender, sign

CHANNEL = "C0TRIAGE"
ALICE = "U0ALICE"
BOB = "U0BOB"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str, label: str = "Go", value: str = "v", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
        **extra,
    }


def modal(blocks: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "report",
        "title": {"type": "plain_text", "text": "Report"},
        "submit": {"type": "plain_text", "text": "Send"},
        "blocks": blocks if blocks is not None else [section("hi")],
        **extra,
    }


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    emulator = SlackEmulator()
    emulator.add_channel(CHANNEL, "triage")
    emulator.add_user(ALICE, "alice", real_name="Alice Martin", email="alice@example.com")
    emulator.add_user(BOB, "bob", real_name="Bob Stone", tz="America/New_York")
    with emulator:
        yield emulator


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return WebClient(token=emu.token, base_url=emu.api_url, timeout=5)


# ------------------------------------------------------------------------------ Web API


def test_auth_test_and_urls(emu: SlackEmulator, client: WebClient) -> None:
    assert emu.api_url.startswith("http://127.0.0.1:") and emu.api_url.endswith("/api/")
    data = client.auth_test().data
    assert data == {
        "ok": True,
        "url": "https://sandbox.slack.test/",
        "team": "Sandbox",
        "user": "sandbox-bot",
        "team_id": "T0TEAM",
        "user_id": "U0BOT",
        "bot_id": "B0BOT",
        "app_id": "A0APP",
        "is_enterprise_install": False,
    }
    assert [c.method for c in emu.calls] == ["auth.test"]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_post_message_thread_and_replies(emu: SlackEmulator, client: WebClient) -> None:
    root = emu.post_as_user(CHANNEL, ALICE, "my export is broken")
    posted = client.chat_postMessage(
        channel=CHANNEL,
        text="On it",
        thread_ts=root["ts"],
        metadata={"event_type": "case_opened", "event_payload": {"case": 12}},
    )
    assert posted["channel"] == CHANNEL
    message = posted["message"]
    assert message["user"] == "U0BOT" and message["bot_id"] == "B0BOT"
    assert message["thread_ts"] == root["ts"] and message["parent_user_id"] == ALICE
    client.chat_postMessage(channel=CHANNEL, text="+1", thread_ts=root["ts"], reply_broadcast=True)
    emu.post_as_user(CHANNEL, BOB, "me too", thread_ts=root["ts"])

    replies = client.conversations_replies(channel=CHANNEL, ts=root["ts"])["messages"]
    assert [m["text"] for m in replies] == ["my export is broken", "On it", "+1", "me too"]
    parent = replies[0]
    assert parent["reply_count"] == 3 and parent["reply_users"] == ["U0BOT", BOB]
    assert parent["latest_reply"] == replies[-1]["ts"] and parent["thread_ts"] == root["ts"]
    assert replies[1]["metadata"]["event_payload"] == {"case": 12}

    history = client.conversations_history(channel=CHANNEL)["messages"]
    assert [m["text"] for m in history] == ["+1", "my export is broken"]  # newest first
    assert history[0]["subtype"] == "thread_broadcast"
    assert [m["text"] for m in emu.thread(CHANNEL, root["ts"])] == ["On it", "+1", "me too"]
    assert [m["text"] for m in emu.channel_messages(CHANNEL)] == ["my export is broken", "+1"]

    with pytest.raises(SlackApiError) as missing:
        client.chat_postMessage(channel=CHANNEL, text="x", thread_ts="1000000000.000001")
    assert missing.value.response["error"] == "thread_not_found"
    with pytest.raises(SlackApiError) as unknown:
        client.chat_postMessage(channel="C0NOPE", text="x")
    assert unknown.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as empty:
        client.chat_postMessage(channel=CHANNEL, text="")
    assert empty.value.response["error"] == "no_text"


def test_timestamps_strictly_increase(emu: SlackEmulator, client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel=CHANNEL, text=str(i))["ts"] for i in range(5)]
    stamps.append(emu.post_as_user(CHANNEL, ALICE, "x")["ts"])
    keys = [tuple(int(p) for p in ts.split(".")) for ts in stamps]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def test_history_pagination_with_cursor(emu: SlackEmulator, client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel=CHANNEL, text=f"m{i}")["ts"] for i in range(5)]
    first = client.conversations_history(channel=CHANNEL, limit=2)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    second = client.conversations_history(channel=CHANNEL, limit=2, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["m2", "m1"]

    # slack_sdk follows next_cursor when a response is iterated (it reuses one object per page).
    texts = [
        m["text"]
        for page in client.conversations_history(channel=CHANNEL, limit=2)
        for m in page["messages"]
    ]
    assert texts == ["m4", "m3", "m2", "m1", "m0"]

    window = client.conversations_history(channel=CHANNEL, oldest=stamps[1], latest=stamps[3])
    assert [m["text"] for m in window["messages"]] == ["m2"]
    inclusive = client.conversations_history(
        channel=CHANNEL, oldest=stamps[1], latest=stamps[3], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["m3", "m2", "m1"]


def test_update_delete_and_permalink(emu: SlackEmulator, client: WebClient) -> None:
    root = client.chat_postMessage(channel=CHANNEL, text="Case 1: open")
    reply = client.chat_postMessage(channel=CHANNEL, text="detail", thread_ts=root["ts"])
    updated = client.chat_update(
        channel=CHANNEL, ts=root["ts"], text="Case 1: claimed", blocks=[section("*claimed*")]
    )
    assert updated["text"] == "Case 1: claimed" and updated["ts"] == root["ts"]
    stored = emu.message(CHANNEL, root["ts"])
    assert stored is not None
    assert stored["reply_count"] == 1 and stored["edited"]["user"] == "U0BOT"
    assert stored["blocks"][0]["text"]["text"] == "*claimed*"
    assert stored["blocks"][0]["block_id"]  # Slack assigns block ids

    link = client.chat_getPermalink(channel=CHANNEL, message_ts=root["ts"])["permalink"]
    assert link == f"https://sandbox.slack.test/archives/{CHANNEL}/p{root['ts'].replace('.', '')}"
    reply_link = client.chat_getPermalink(channel=CHANNEL, message_ts=reply["ts"])["permalink"]
    assert reply_link.endswith(f"?thread_ts={root['ts']}&cid={CHANNEL}")

    human = emu.post_as_user(CHANNEL, ALICE, "mine")
    failures: list[tuple[Callable[..., Any], dict[str, Any], str]] = [
        (client.chat_update, {"ts": "1.000001", "text": "x"}, "message_not_found"),
        (client.chat_update, {"ts": human["ts"], "text": "x"}, "cant_update_message"),
        (client.chat_getPermalink, {"message_ts": "1.000001"}, "message_not_found"),
        (client.chat_delete, {"ts": human["ts"]}, "cant_delete_message"),
    ]
    for call, kwargs, error in failures:
        with pytest.raises(SlackApiError) as failed:
            call(channel=CHANNEL, **kwargs)
        assert failed.value.response["error"] == error

    client.chat_delete(channel=CHANNEL, ts=reply["ts"])
    assert emu.thread(CHANNEL, root["ts"]) == []
    assert "reply_count" not in (emu.message(CHANNEL, root["ts"]) or {})


def test_ephemeral(emu: SlackEmulator, client: WebClient) -> None:
    response = client.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="only you")
    assert set(response.data) == {"ok", "message_ts"}
    shown = emu.ephemerals(channel=CHANNEL, user=ALICE)
    assert [e["text"] for e in shown] == ["only you"]
    assert shown[0]["ts"] == response["message_ts"]
    assert emu.ephemerals(user=BOB) == []
    assert emu.channel_messages(CHANNEL) == []


def test_dm_by_user_id_and_conversations_open(emu: SlackEmulator, client: WebClient) -> None:
    opened = client.conversations_open(users=ALICE)
    dm = opened["channel"]["id"]
    assert dm.startswith("D")
    again = client.conversations_open(users=[ALICE])
    assert again["channel"]["id"] == dm and again["already_open"] is True
    posted = client.chat_postMessage(channel=ALICE, text="hello in DM")
    assert posted["channel"] == dm
    assert [m["text"] for m in emu.dm_messages(ALICE)] == ["hello in DM"]
    info = client.conversations_info(channel=dm)["channel"]
    assert info["is_im"] is True and info["user"] == ALICE
    group = client.conversations_open(users=[ALICE, BOB])["channel"]["id"]
    assert group.startswith("G") and group != dm


def test_users_and_conversations_info(emu: SlackEmulator, client: WebClient) -> None:
    user = client.users_info(user=ALICE)["user"]
    assert user["id"] == ALICE and user["team_id"] == "T0TEAM" and user["name"] == "alice"
    assert user["real_name"] == "Alice Martin" and user["tz"] == "Europe/Paris"
    assert user["tz_offset"] in (3600, 7200) and "Central European" in user["tz_label"]
    assert user["is_bot"] is False and user["deleted"] is False
    assert user["profile"]["email"] == "alice@example.com"
    assert user["profile"]["display_name"] == "alice"
    bot = client.users_info(user="U0BOT")["user"]
    assert bot["is_bot"] is True and bot["profile"]["bot_id"] == "B0BOT"
    assert client.users_lookupByEmail(email="alice@example.com")["user"]["id"] == ALICE
    with pytest.raises(SlackApiError) as missing:
        client.users_info(user="U0NOBODY")
    assert missing.value.response["error"] == "user_not_found"

    channel = client.conversations_info(channel=CHANNEL)["channel"]
    assert channel["name"] == "triage" and channel["is_channel"] is True
    assert channel["is_private"] is False and channel["is_member"] is True


def test_params_as_form_json_and_query(emu: SlackEmulator, client: WebClient) -> None:
    blocks = [section("form blocks")]
    client.api_call("chat.postMessage", params={"channel": CHANNEL, "blocks": json.dumps(blocks)})
    client.api_call("chat.postMessage", json={"channel": CHANNEL, "blocks": blocks})
    url = f"{emu.api_url}chat.postMessage?channel={CHANNEL}&text=query&token={emu.token}"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert json.loads(response.read())["ok"] is True
    texts = [
        m.get("blocks", [{}])[0].get("text", {}).get("text") for m in emu.channel_messages(CHANNEL)
    ]
    assert texts == ["form blocks", "form blocks", None]
    assert emu.calls_to("chat.postMessage")[0].params["blocks"][0]["type"] == "section"
    assert "token" not in emu.calls_to("chat.postMessage")[2].params
    with pytest.raises(SlackApiError) as bad:
        client.api_call("chat.postMessage", params={"channel": CHANNEL, "blocks": "[{"})
    assert bad.value.response["error"] == "invalid_blocks_format"


def test_token_errors_and_unknown_method(emu: SlackEmulator) -> None:
    for token, error in [(None, "not_authed"), ("xoxb-wrong", "invalid_auth")]:
        with pytest.raises(SlackApiError) as failed:
            WebClient(token=token, base_url=emu.api_url).auth_test()
        assert failed.value.response.status_code == 200
        assert failed.value.response["error"] == error
    with pytest.raises(SlackApiError) as unknown:
        WebClient(token=emu.token, base_url=emu.api_url).api_call("chat.teleport")
    assert unknown.value.response["error"] == "unknown_method"
    # Slack accepts the token as a form field too.
    assert WebClient(base_url=emu.api_url).api_call("auth.test", params={"token": emu.token})["ok"]


# ------------------------------------------------------------------------------ Block Kit


def _fields(n: int, size: int = 5) -> list[dict[str, Any]]:
    return [{"type": "mrkdwn", "text": "f" * size} for _ in range(n)]


INVALID_BLOCKS = {
    "too many blocks": [section(str(i)) for i in range(51)],
    "section text": [section("x" * 3001)],
    "field text": [{"type": "section", "fields": _fields(1, 2001)}],
    "too many fields": [{"type": "section", "fields": _fields(11)}],
    "header text": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
    "button value": [{"type": "actions", "elements": [button("a", value="v" * 2001)]}],
    "action_id": [{"type": "actions", "elements": [button("a" * 256)]}],
    "context elements": [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"} for _ in range(11)]}
    ],
    "duplicate action_id": [{"type": "actions", "elements": [button("same"), button("same")]}],
    "duplicate block_id": [section("a", block_id="b1"), section("b", block_id="b1")],
    "missing type": [{"text": {"type": "mrkdwn", "text": "no type"}}],
}


@pytest.mark.parametrize("rule", sorted(INVALID_BLOCKS))
def test_invalid_blocks_rules(emu: SlackEmulator, client: WebClient, rule: str) -> None:
    blocks = INVALID_BLOCKS[rule]
    posts: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (client.chat_postMessage, {}),
        (client.chat_postEphemeral, {"user": ALICE}),
    ]
    for post, extra in posts:
        with pytest.raises(SlackApiError) as failed:
            post(channel=CHANNEL, text="fallback", blocks=blocks, **extra)
        response = failed.value.response
        assert response["error"] == "invalid_blocks"
        assert response["errors"] and all("[json-pointer:/blocks" in e for e in response["errors"])
    assert emu.channel_messages(CHANNEL) == [] and emu.ephemerals() == []


def test_invalid_blocks_on_update_and_limits(emu: SlackEmulator, client: WebClient) -> None:
    ts = client.chat_postMessage(
        channel=CHANNEL, text="ok", blocks=[section(str(i)) for i in range(50)]
    )["ts"]
    with pytest.raises(SlackApiError) as failed:
        client.chat_update(channel=CHANNEL, ts=ts, text="x", blocks=[section("y" * 3001)])
    assert failed.value.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]
    with pytest.raises(SlackApiError) as too_long:
        client.chat_postMessage(channel=CHANNEL, text="x" * 40_001)
    assert too_long.value.response["error"] == "msg_too_long"
    assert validate_blocks([section("fine"), {"type": "divider"}]) == []
    assert validate_blocks([{"type": "section", "fields": _fields(10, 2000)}]) == []


def test_view_block_limit_is_100(emu: SlackEmulator, client: WebClient) -> None:
    hundred = [section(str(i)) for i in range(100)]
    assert client.views_open(trigger_id="t.1", view=modal(hundred))["ok"]
    with pytest.raises(SlackApiError) as failed:
        client.views_open(trigger_id="t.2", view=modal([*hundred, section("101")]))
    assert failed.value.response["error"] == "invalid_blocks"
    assert failed.value.response["errors"] == [
        "no more than 100 items allowed [json-pointer:/view/blocks]"
    ]


# ------------------------------------------------------------------------------ views


def test_views_open_push_update_publish(emu: SlackEmulator, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as no_trigger:
        client.views_open(trigger_id="", view=modal())
    assert no_trigger.value.response["error"] == "invalid_trigger_id"

    opened = client.views_open(trigger_id=emu.new_trigger_id(), view=modal(private_metadata="42"))
    view = opened["view"]
    assert view["id"].startswith("V") and view["type"] == "modal"
    assert view["callback_id"] == "report" and view["private_metadata"] == "42"
    assert view["state"] == {"values": {}} and view["hash"] and view["root_view_id"] == view["id"]
    assert view["app_id"] == "A0APP" and view["bot_id"] == "B0BOT" and view["team_id"] == "T0TEAM"

    pushed = client.views_push(trigger_id=emu.new_trigger_id(view["id"]), view=modal())["view"]
    assert pushed["root_view_id"] == view["id"] and pushed["previous_view_id"] == view["id"]

    updated = client.views_update(
        view_id=view["id"], hash=view["hash"], view=modal([section("v2")])
    )
    assert updated["view"]["id"] == view["id"] and updated["view"]["hash"] != view["hash"]
    with pytest.raises(SlackApiError) as stale:
        client.views_update(view_id=view["id"], hash=view["hash"], view=modal())
    assert stale.value.response["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as missing:
        client.views_update(view_id="VNOPE", view=modal())
    assert missing.value.response["error"] == "not_found"

    home = {"type": "home", "blocks": [section("Your cases")]}
    first = client.views_publish(user_id=ALICE, view=home)["view"]
    second = client.views_publish(user_id=ALICE, view=home)["view"]
    assert first["id"] == second["id"] and first["type"] == "home"
    home_view = emu.home_view(ALICE)
    assert home_view is not None and home_view["hash"] == second["hash"]
    assert emu.home_view(BOB) is None
    assert [v["id"] for v in emu.opened_views()] == [view["id"], pushed["id"]]
    assert emu.opened_views()[0]["blocks"][0]["text"]["text"] == "v2"
    assert set(emu.views) == {view["id"], pushed["id"], first["id"]}


def test_strict_triggers(emu: SlackEmulator, client: WebClient) -> None:
    emu.strict_triggers = True
    with pytest.raises(SlackApiError) as unknown:
        client.views_open(trigger_id="123.456.abc", view=modal())
    assert unknown.value.response["error"] == "invalid_trigger_id"
    trigger = emu.click(
        CHANNEL,
        client.chat_postMessage(
            channel=CHANNEL, text="t", blocks=[{"type": "actions", "elements": [button("open")]}]
        )["ts"],
        "open",
        ALICE,
    )["trigger_id"]
    assert client.views_open(trigger_id=trigger, view=modal())["ok"]
    with pytest.raises(SlackApiError) as reused:
        client.views_open(trigger_id=trigger, view=modal())
    assert reused.value.response["error"] == "exchanged_trigger_id"


# ------------------------------------------------------------------------------ files


def test_files_upload_v2_end_to_end(emu: SlackEmulator, client: WebClient) -> None:
    root = emu.post_as_user(CHANNEL, ALICE, "send me the export")
    result = client.files_upload_v2(
        channel=CHANNEL,
        content="id,verdict\n1,bad\n",
        filename="export.csv",
        title="Export",
        initial_comment="Here it is",
        thread_ts=root["ts"],
    )
    file = result["file"]
    assert file["name"] == "export.csv" and file["title"] == "Export"
    assert file["filetype"] == "csv" and file["size"] == 17 and file["mimetype"] == "text/csv"
    assert CHANNEL in file["shares"]["public"] and file["channels"] == [CHANNEL]
    assert emu.file_bytes(file["id"]) == b"id,verdict\n1,bad\n"
    [reply] = emu.thread(CHANNEL, root["ts"])
    assert reply["text"] == "Here it is" and reply["files"][0]["id"] == file["id"]
    assert [c.method for c in emu.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    # url_private needs the bot token, as on Slack.
    request = urllib.request.Request(
        file["url_private"], headers={"Authorization": f"Bearer {emu.token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read() == b"id,verdict\n1,bad\n"
    with pytest.raises(SlackApiError) as never_uploaded:
        fid = client.files_getUploadURLExternal(filename="x.txt", length=3)["file_id"]
        client.files_completeUploadExternal(files=[{"id": fid, "title": "x"}], channel_id=CHANNEL)
    assert never_uploaded.value.response["error"] == "file_not_found"


# ------------------------------------------------------------------------------ faults


def test_rate_limit_fault_seen_by_slack_sdk(emu: SlackEmulator, client: WebClient) -> None:
    emu.inject_fault("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel=CHANNEL, text="x")
    response = limited.value.response
    assert response.status_code == 429 and response["error"] == "ratelimited"
    assert response.headers["Retry-After"] == "7"
    [call] = emu.calls_to("chat.postMessage")
    assert call.faulted and call.status == 429
    assert emu.channel_messages(CHANNEL) == []
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]  # fault used up


def test_rate_limit_retry_handler_recovers(emu: SlackEmulator) -> None:
    retrying = WebClient(
        token=emu.token,
        base_url=emu.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    emu.inject_fault("chat.postMessage", retry_after=0)
    assert retrying.chat_postMessage(channel=CHANNEL, text="eventually")["ok"]
    assert [c.faulted for c in emu.calls_to("chat.postMessage")] == [True, False]
    assert [m["text"] for m in emu.channel_messages(CHANNEL)] == ["eventually"]


def test_server_error_api_error_and_outage(emu: SlackEmulator, client: WebClient) -> None:
    emu.inject_fault(None, status=500, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as broken:
            client.auth_test()
        assert broken.value.response.status_code == 500
    emu.inject_fault("chat.postMessage", error="fatal_error")
    with pytest.raises(SlackApiError) as fatal:
        client.chat_postMessage(channel=CHANNEL, text="x")
    assert (
        fatal.value.response.status_code == 200 and fatal.value.response["error"] == "fatal_error"
    )
    emu.set_down(True)
    with pytest.raises(SlackApiError) as down:
        client.auth_test()
    assert down.value.response.status_code == 503
    emu.set_down(False)
    assert client.auth_test()["ok"]
    assert [c.faulted for c in emu.calls] == [True, True, True, True, False]
    assert emu.channel_messages(CHANNEL) == []


# ------------------------------------------------------------------------------ people


def test_post_as_user_event_shapes(emu: SlackEmulator) -> None:
    event = emu.post_as_user(CHANNEL, ALICE, "hey <@U0BOT> help")
    assert event["type"] == "message" and event["user"] == ALICE and event["team"] == "T0TEAM"
    assert event["channel"] == CHANNEL and event["channel_type"] == "channel"
    assert event["event_ts"] == event["ts"] and event["client_msg_id"]
    assert event["blocks"][0]["type"] == "rich_text"
    mention = emu.to_app_mention(event)
    assert mention["type"] == "app_mention" and mention["text"] == event["text"]
    assert "channel_type" not in mention

    reply = emu.post_as_user(CHANNEL, BOB, "same", thread_ts=event["ts"])
    assert reply["thread_ts"] == event["ts"] and reply["parent_user_id"] == ALICE

    bot = emu.post_as_user(CHANNEL, "Zendesk", "ticket 5", bot_id="B0ZEN")
    assert bot["subtype"] == "bot_message" and bot["bot_id"] == "B0ZEN"
    assert bot["username"] == "Zendesk" and "client_msg_id" not in bot

    shared = emu.post_as_user(CHANNEL, ALICE, "log", files=[{"name": "a.log", "content": b"boom"}])
    assert shared["subtype"] == "file_share" and shared["files"][0]["name"] == "a.log"
    assert emu.file_bytes(shared["files"][0]["id"]) == b"boom"

    dm = emu.post_as_user(ALICE, ALICE, "psst")
    assert dm["channel"].startswith("D") and dm["channel_type"] == "im"
    with pytest.raises(LookupError):
        emu.post_as_user("C0NOPE", ALICE, "x")


def test_click_payload_shape(emu: SlackEmulator, client: WebClient) -> None:
    root = emu.post_as_user(CHANNEL, ALICE, "help")
    blocks = [
        section("Case 7"),
        {
            "type": "actions",
            "block_id": "case_actions",
            "elements": [button("claim", "Claim", "case-7", style="primary"), button("skip")],
        },
    ]
    ts = client.chat_postMessage(
        channel=CHANNEL, text="Case 7", blocks=blocks, thread_ts=root["ts"]
    )["ts"]
    payload = emu.click(CHANNEL, ts, "claim", BOB)
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": BOB, "username": "bob", "name": "bob", "team_id": "T0TEAM"}
    assert payload["api_app_id"] == "A0APP" and payload["token"] == "verification-token"
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": CHANNEL,
        "is_ephemeral": False,
        "thread_ts": root["ts"],
    }
    assert payload["team"] == {"id": "T0TEAM", "domain": "sandbox"}
    assert payload["channel"] == {"id": CHANNEL, "name": "triage"}
    assert payload["message"]["ts"] == ts and payload["message"]["text"] == "Case 7"
    assert payload["state"] == {"values": {}}
    assert payload["response_url"].startswith(emu.base_url + "/response/")
    [action] = payload["actions"]
    assert action["action_id"] == "claim" and action["block_id"] == "case_actions"
    assert action["value"] == "case-7" and action["type"] == "button"
    assert action["style"] == "primary" and action["text"]["text"] == "Claim"
    assert float(action["action_ts"]) > 0
    assert payload["trigger_id"] and client.views_open(
        trigger_id=payload["trigger_id"], view=modal()
    )

    assert (
        emu.click(CHANNEL, ts, "claim", BOB, value="tampered")["actions"][0]["value"] == "tampered"
    )
    with pytest.raises(LookupError):
        emu.click(CHANNEL, ts, "nope", BOB)
    with pytest.raises(LookupError):
        emu.click(CHANNEL, "1.000001", "claim", BOB)


def test_message_shortcut_and_view_submission_shapes(emu: SlackEmulator, client: WebClient) -> None:
    event = emu.post_as_user(CHANNEL, ALICE, "this verdict is wrong")
    shortcut = emu.message_shortcut(CHANNEL, event["ts"], BOB, "escalate")
    assert shortcut["type"] == "message_action" and shortcut["callback_id"] == "escalate"
    assert shortcut["message_ts"] == event["ts"] and shortcut["message"]["text"] == event["text"]
    assert shortcut["user"] == {"id": BOB, "name": "bob", "team_id": "T0TEAM"}
    assert shortcut["channel"] == {"id": CHANNEL, "name": "triage"}
    assert shortcut["team"]["id"] == "T0TEAM" and shortcut["token"] == "verification-token"
    assert shortcut["trigger_id"] and shortcut["response_url"] and shortcut["action_ts"]

    form = modal(
        [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why?"},
                "element": {"type": "plain_text_input", "action_id": "reason_text"},
            },
            {
                "type": "input",
                "block_id": "severity",
                "label": {"type": "plain_text", "text": "Severity"},
                "element": {
                    "type": "static_select",
                    "action_id": "level",
                    "options": [
                        {"text": {"type": "plain_text", "text": "High"}, "value": "high"},
                        {"text": {"type": "plain_text", "text": "Low"}, "value": "low"},
                    ],
                },
            },
        ],
        private_metadata=json.dumps({"ts": event["ts"]}),
    )
    view = client.views_open(trigger_id=shortcut["trigger_id"], view=form)["view"]
    payload = emu.view_submission(
        view["id"], BOB, {"reason_text": "wrong team", "severity": {"level": "high"}}
    )
    assert payload["type"] == "view_submission" and payload["response_urls"] == []
    assert payload["user"]["id"] == BOB and payload["api_app_id"] == "A0APP"
    assert payload["team"]["id"] == "T0TEAM" and payload["trigger_id"]
    submitted = payload["view"]
    assert submitted["id"] == view["id"] and submitted["hash"] == view["hash"]
    assert (
        submitted["callback_id"] == "report"
        and submitted["private_metadata"] == form["private_metadata"]
    )
    assert submitted["state"]["values"] == {
        "reason": {"reason_text": {"type": "plain_text_input", "value": "wrong team"}},
        "severity": {
            "level": {
                "type": "static_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "High"},
                    "value": "high",
                },
            }
        },
    }


def test_response_url_posts(emu: SlackEmulator, client: WebClient) -> None:
    ts = client.chat_postMessage(
        channel=CHANNEL, text="Case 3", blocks=[{"type": "actions", "elements": [button("claim")]}]
    )["ts"]
    payload = emu.click(CHANNEL, ts, "claim", ALICE)
    webhook = WebhookClient(payload["response_url"])
    assert webhook.send(text="Only you see this").status_code == 200
    assert webhook.send(text="Claimed by alice", replace_original=True).status_code == 200
    assert webhook.send(text="Everyone sees this", response_type="in_channel").status_code == 200

    posts = emu.responses(payload["response_url"])
    assert [p.payload["text"] for p in posts] == [
        "Only you see this",
        "Claimed by alice",
        "Everyone sees this",
    ]
    assert posts[0].channel == CHANNEL and posts[0].user == ALICE
    assert [e["text"] for e in emu.ephemerals(CHANNEL, ALICE)] == ["Only you see this"]
    original = emu.message(CHANNEL, ts)
    assert original is not None and original["text"] == "Claimed by alice"
    assert "blocks" not in original
    assert [m["text"] for m in emu.channel_messages(CHANNEL)] == [
        "Claimed by alice",
        "Everyone sees this",
    ]

    assert WebhookClient(payload["response_url"]).send(delete_original=True).status_code == 200
    assert emu.message(CHANNEL, ts) is None
    assert WebhookClient(emu.base_url + "/response/unknown").send(text="x").status_code == 404

    # Answers to a click inside a thread stay in that thread.
    root = emu.post_as_user(CHANNEL, BOB, "thread")
    reply_ts = client.chat_postMessage(
        channel=CHANNEL,
        thread_ts=root["ts"],
        text="Case 4",
        blocks=[{"type": "actions", "elements": [button("claim")]}],
    )["ts"]
    threaded = emu.click(CHANNEL, reply_ts, "claim", BOB)
    WebhookClient(threaded["response_url"]).send(text="claimed in thread")
    assert emu.ephemerals(user=BOB)[0]["thread_ts"] == root["ts"]


def test_reactions_metadata_home_and_view_clicks(emu: SlackEmulator, client: WebClient) -> None:
    ts = client.chat_postMessage(
        channel=CHANNEL,
        text="Case 9",
        metadata={"event_type": "case", "event_payload": {"id": 9}},
        blocks=[section("Case 9")],
    )["ts"]
    client.reactions_add(channel=CHANNEL, timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError) as twice:
        client.reactions_add(channel=CHANNEL, timestamp=ts, name="eyes")
    assert twice.value.response["error"] == "already_reacted"
    event = emu.react(CHANNEL, ts, ALICE, ":eyes:")
    assert event["type"] == "reaction_added" and event["item"] == {
        "type": "message",
        "channel": CHANNEL,
        "ts": ts,
    }
    assert (emu.message(CHANNEL, ts) or {})["reactions"] == [
        {"name": "eyes", "users": ["U0BOT", ALICE], "count": 2}
    ]
    # The app's own metadata comes back even without include_all_metadata.
    [latest] = client.conversations_history(channel=CHANNEL)["messages"]
    assert latest["metadata"] == {"event_type": "case", "event_payload": {"id": 9}}
    # chat.update with blocks=[] clears the blocks, as the gateway relies on.
    client.chat_update(channel=CHANNEL, ts=ts, text="Case 9 (closed)", blocks=[])
    assert "blocks" not in (emu.message(CHANNEL, ts) or {})

    home = {"type": "home", "blocks": [{"type": "actions", "elements": [button("refresh")]}]}
    view_id = client.views_publish(user_id=ALICE, view=home)["view"]["id"]
    opened = emu.app_home_opened(ALICE)
    assert opened["type"] == "app_home_opened" and opened["view"]["id"] == view_id
    click = emu.click_in_view(view_id, "refresh", ALICE)
    assert click["container"] == {"type": "view", "view_id": view_id}
    assert click["view"]["id"] == view_id and "response_url" not in click
    assert len(emu.wait_for_calls("views.publish", timeout=0.5)) == 1
    with pytest.raises(TimeoutError):
        emu.wait_for_calls("views.publish", 2, timeout=0.05)


def test_transcript_is_readable(emu: SlackEmulator, client: WebClient) -> None:
    root = emu.post_as_user(CHANNEL, ALICE, "export broken for <@U0BOB>")
    client.chat_postMessage(
        channel=CHANNEL,
        thread_ts=root["ts"],
        text="New case",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "New case"}},
            section("*Customer* said no", fields=[{"type": "mrkdwn", "text": "Priority: high"}]),
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "via survey"}]},
            {"type": "actions", "elements": [button("claim", "Claim"), button("skip", "Skip")]},
        ],
    )
    client.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="psst")
    client.views_open(trigger_id="t.1", view=modal())
    client.views_publish(user_id=BOB, view={"type": "home", "blocks": [section("Home!")]})
    text = emu.transcript()
    for expected in [
        f"#triage  ({CHANNEL})",
        "alice",
        "export broken for @bob",
        "== NEW CASE ==",
        "• Priority: high",
        "[ Claim ]  [ Skip ]",
        "via survey",
        "↳",
        "only visible to @alice",
        "'Report'",
        "Home!",
        "1 reply",
    ]:
        assert expected in text, expected
    assert text.index("export broken") < text.index("== NEW CASE ==")
    assert render_blocks([{"type": "divider"}], width=3) == ["───"]


# ------------------------------------------------------------------------------ signed requests


def test_sign_matches_slack_documented_example() -> None:
    # The worked example from Slack's "Verifying requests from Slack" page.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
        b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
        b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert sign(SECRET, "1531420618", body) == expected
    verifier = SignatureVerifier(SECRET, clock=_FixedClock(1531420618))
    assert verifier.is_valid(body, "1531420618", expected)


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class _FastWSGIServer(WSGIServer):
    def server_bind(self) -> None:
        # Skip the FQDN lookup HTTPServer does, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]
        self.setup_environ()


@dataclass
class BoltHarness:
    sender: SlackRequestSender
    seen: dict[str, list[Any]] = field(default_factory=dict)


@pytest.fixture
def bolt(emu: SlackEmulator) -> Iterator[BoltHarness]:
    seen: dict[str, list[Any]] = {}
    app = App(
        signing_secret=SECRET,
        client=WebClient(token=emu.token, base_url=emu.api_url),
        process_before_response=True,
    )

    @app.event("message")
    def on_message(event: dict[str, Any], say: Any, request: Any) -> None:
        seen.setdefault("message", []).append(event)
        # Bolt keeps header values as lists.
        headers = {k: v[0] for k, v in request.headers.items()}
        retry = (headers.get("x-slack-retry-num"), headers.get("x-slack-retry-reason"))
        seen.setdefault("retry", []).append(retry)
        say(text=f"got: {event['text']}", thread_ts=event["ts"])

    @app.event("app_mention")
    def on_mention(event: dict[str, Any]) -> None:
        seen.setdefault("app_mention", []).append(event)

    @app.command("/triage")
    def on_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        ack(text=f"working on {command['text']}")
        seen.setdefault("command", []).append(command)
        respond(text="done", response_type="in_channel")

    @app.action("claim")
    def on_claim(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        seen.setdefault("action", []).append(body)
        client.views_open(trigger_id=body["trigger_id"], view=modal())

    @app.shortcut("escalate")
    def on_shortcut(ack: Any, shortcut: dict[str, Any]) -> None:
        ack()
        seen.setdefault("shortcut", []).append(shortcut)

    @app.view("report")
    def on_submit(ack: Any, view: dict[str, Any]) -> None:
        seen.setdefault("view", []).append(view)
        ack(response_action="errors", errors={"reason": "too short"})

    server = make_server(
        "127.0.0.1",
        0,
        SlackRequestHandler(app),
        server_class=_FastWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    try:
        yield BoltHarness(SlackRequestSender(url, SECRET), seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_signed_event_reaches_bolt_listener(emu: SlackEmulator, bolt: BoltHarness) -> None:
    event = emu.post_as_user(CHANNEL, ALICE, "hello <@U0BOT>")
    response = bolt.sender.send_event(event)
    assert response.status == 200 and response.ok
    assert bolt.seen["message"][0]["ts"] == event["ts"]
    assert bolt.seen["retry"] == [(None, None)]
    [reply] = emu.thread(CHANNEL, event["ts"])
    assert reply["text"] == "got: hello <@U0BOT>" and reply["user"] == "U0BOT"

    assert bolt.sender.send_event(emu.to_app_mention(event)).status == 200
    assert bolt.seen["app_mention"][0]["user"] == ALICE

    envelope = bolt.sender.envelope(event, event_id="Ev0TEST")
    assert envelope["type"] == "event_callback" and envelope["event_id"] == "Ev0TEST"
    assert envelope["authorizations"][0] == {
        "enterprise_id": None,
        "team_id": "T0TEAM",
        "user_id": "U0BOT",
        "is_bot": True,
        "is_enterprise_install": False,
    }
    assert envelope["event_context"].startswith("4-") and envelope["event_time"] > 0


def test_retry_headers_pass_through(emu: SlackEmulator, bolt: BoltHarness) -> None:
    event = emu.post_as_user(CHANNEL, ALICE, "again")
    assert bolt.sender.send_event(event, event_id="Ev1", retry_num=1).status == 200
    assert bolt.seen["retry"] == [("1", "http_timeout")]


def test_forged_and_stale_requests_get_401(emu: SlackEmulator, bolt: BoltHarness) -> None:
    event = emu.post_as_user(CHANNEL, ALICE, "hello")
    assert bolt.sender.send_event(event, forge=True).status == 401
    stale = int(time.time()) - 6 * 60
    assert bolt.sender.send_event(event, timestamp=stale).status == 401
    assert (
        bolt.sender.send_command(
            "/triage", "x", user_id=ALICE, channel_id=CHANNEL, forge=True
        ).status
        == 401
    )
    assert bolt.sender.send_url_verification("c", forge=True).status == 401
    assert "message" not in bolt.seen and "command" not in bolt.seen
    recent = int(time.time()) - 60
    assert bolt.sender.send_event(event, timestamp=recent).status == 200


def test_url_verification(bolt: BoltHarness) -> None:
    response = bolt.sender.send_url_verification(
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    )
    assert response.status == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_slash_command_with_response_url(emu: SlackEmulator, bolt: BoltHarness) -> None:
    response_url = emu.new_response_url(CHANNEL, ALICE)
    response = bolt.sender.send_command(
        "/triage",
        "case 12",
        user_id=ALICE,
        user_name="alice",
        channel_id=CHANNEL,
        channel_name="triage",
        response_url=response_url,
    )
    assert response.status == 200 and response.body == "working on case 12"
    command = bolt.seen["command"][0]
    assert command["command"] == "/triage" and command["text"] == "case 12"
    assert command["team_id"] == "T0TEAM" and command["api_app_id"] == "A0APP"
    assert command["is_enterprise_install"] == "false" and command["trigger_id"]
    assert [p.payload["text"] for p in emu.responses(response_url)] == ["done"]
    assert [m["text"] for m in emu.channel_messages(CHANNEL)] == ["done"]


def test_interactivity_payloads_reach_bolt(
    emu: SlackEmulator, bolt: BoltHarness, client: WebClient
) -> None:
    ts = client.chat_postMessage(
        channel=CHANNEL, text="Case", blocks=[{"type": "actions", "elements": [button("claim")]}]
    )["ts"]
    assert bolt.sender.send_interactivity(emu.click(CHANNEL, ts, "claim", ALICE)).status == 200
    assert bolt.seen["action"][0]["actions"][0]["action_id"] == "claim"
    [view] = emu.opened_views()  # the listener opened a modal with the click's trigger_id

    shortcut = emu.message_shortcut(CHANNEL, ts, ALICE, "escalate")
    assert bolt.sender.send_interactivity(shortcut).status == 200
    assert bolt.seen["shortcut"][0]["message_ts"] == ts

    submission = emu.view_submission(view["id"], ALICE, {"anything": {"x": "y"}})
    answer = bolt.sender.send_interactivity(submission)
    assert answer.status == 200
    assert answer.json() == {"response_action": "errors", "errors": {"reason": "too short"}}
    assert bolt.seen["view"][0]["id"] == view["id"]
    assert bolt.sender.send_interactivity(submission, forge=True).status == 401
