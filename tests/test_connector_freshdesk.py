"""The Freshdesk connector: tickets (CSV export or API JSON) + conversations (API JSON) into the canonical tables;
and a canonical export written as Freshdesk comes back the same through `--mapping auto` as through
`--mapping canonical`.

The fixtures (tests/data/connectors/freshdesk/) follow Freshdesk's documented API v2 objects (Tickets,
Conversations, Contacts, Agents) and its ticket CSV export's column titles; their content is invented."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from casebase.errors import CasebaseError
from casebase.ingest.connectors import find_connector, peek, registry
from connector_helpers import (balanced, fixtures_claimed, ingested, read_canonical, same_as_canonical_by_order,
                               write_frames)
from test_ingest import write_canonical

DATA = Path(__file__).parent / "data" / "connectors" / "freshdesk"
FD = registry()["freshdesk"]
STATUS = {2: "open", 3: "pending", 4: "solved", 5: "closed", 6: "pending"}
PRIORITY = {1: "4", 2: "3", 3: "2", 4: "1"}  # low, medium, high, urgent on the 1 (most urgent) .. 5 scale


def fixture(name: str):
    return json.loads((DATA / name).read_text())


def ts(value: str) -> pd.Timestamp:
    return pd.Timestamp(value).tz_localize(None)


def test_api_json_roles_internal_status_timestamps_and_the_description_once(tmp_path):
    tickets, convs = fixture("tickets.json"), fixture("conversations.json")
    manifest, tk, msgs, quarantine = ingested(tmp_path, tickets=DATA / "tickets.json",
                                              history=DATA / "conversations.json", users=DATA / "users.json")
    assert manifest["format"]["name"] == "freshdesk" and "Freshdesk" in manifest["format"]["why"]
    balanced(manifest)
    ids = {t["id"] for t in tickets}
    assert manifest["counts"]["messages"]["in"] == len(convs) + len(tickets)  # each conversation + each description
    orphans = [c for c in convs if c["ticket_id"] not in ids]
    assert manifest["counts"]["messages"]["quarantined"] == len(orphans) > 0
    assert quarantine["reason"].str.contains("unknown ticket").all()

    by_id = msgs.set_index("message_id")
    for c in convs:
        if c["ticket_id"] in ids:
            row = by_id.loc[str(c["id"])]
            assert row["role"] == ("customer" if c["incoming"] else "responder")
            assert row["internal"] == c["private"] and row["body"] == c["body_text"]
            assert row["sent_at"] == ts(c["created_at"])
    assert by_id["internal"].any() and not msgs["resolution"].any()
    for t in tickets:  # the description is the first message, from the requester, once
        thread = msgs[msgs.ticket_id == str(t["id"])].sort_values("position")
        assert thread.iloc[0]["body"] == t["description_text"] and thread.iloc[0]["role"] == "customer"
        assert thread.iloc[0]["sent_at"] == ts(t["created_at"])
        assert (thread["body"] == t["description_text"]).sum() == 1
        assert len(thread) == 1 + sum(c["ticket_id"] == t["id"] for c in convs)
    requester_msgs = msgs[msgs.message_id.isin([str(c["id"]) for c in convs if c["incoming"]])]
    first = msgs[msgs.message_id.str.endswith(".description")]
    assert set(requester_msgs["author"]) <= set(first["author"])  # the requester is one pseudonym throughout

    t = tk.set_index("ticket_id")
    for r in tickets:
        row = t.loc[str(r["id"])]
        assert row["status"] == STATUS[r["status"]] and row["source_status"] == str(r["status"])
        assert row["urgency"] == PRIORITY[r["priority"]] and row["category"] == r["type"]
        assert row["opened_at"] == ts(r["created_at"]) and row["updated_at"] == ts(r["updated_at"])
        resolved = r["stats"].get("resolved_at") or r["stats"].get("closed_at")
        assert pd.isna(row["closed_at"]) if resolved is None else row["closed_at"] == ts(resolved)


def test_csv_export_gives_the_same_tickets_and_messages_as_the_api_json(tmp_path):
    _, tk_json, msgs_json, _ = ingested(tmp_path, "json", tickets=DATA / "tickets.json",
                                        history=DATA / "conversations.json")
    manifest, tk_csv, msgs_csv, _ = ingested(tmp_path, "csv", tickets=DATA / "tickets.csv",
                                             history=DATA / "conversations.json")
    assert manifest["format"]["name"] == "freshdesk" and "CSV" in manifest["format"]["why"]
    balanced(manifest)
    cols = ["ticket_id", "subject", "opened_at", "updated_at", "closed_at", "status", "category", "urgency"]
    pd.testing.assert_frame_equal(tk_csv[cols], tk_json[cols])
    cols = ["ticket_id", "message_id", "position", "sent_at", "role", "body", "internal", "resolution"]
    pd.testing.assert_frame_equal(msgs_csv[cols], msgs_json[cols])
    csv_rows = pd.read_csv(DATA / "tickets.csv", dtype=str)
    assert tk_csv["source_status"].tolist() == csv_rows["Status"].tolist()  # "Waiting on Customer" kept as given


def test_conversations_nested_in_the_tickets_or_one_file_per_ticket_read_the_same(tmp_path):
    tickets, convs = fixture("tickets.json"), fixture("conversations.json")
    nested = [dict(t, conversations=[c for c in convs if c["ticket_id"] == t["id"]]) for t in tickets]
    (tmp_path / "nested.json").write_text(json.dumps(nested))
    (tmp_path / "per-ticket").mkdir()
    for t in tickets:
        (tmp_path / "per-ticket" / f"{t['id']}.json").write_text(
            json.dumps([c for c in convs if c["ticket_id"] == t["id"]]))
    one_file = FD.read(DATA / "tickets.json", DATA / "conversations.json")
    known = one_file.messages[one_file.messages.ticket_id.isin(one_file.tickets.ticket_id)].reset_index(drop=True)
    for export in (FD.read(tmp_path / "nested.json", None), FD.read(DATA / "tickets.json", tmp_path / "per-ticket")):
        pd.testing.assert_frame_equal(export.messages.reset_index(drop=True), known)
        assert export.rows_in["messages"] == len(export.messages)


def test_conversations_out_of_time_order_are_read_in_time_order(tmp_path):
    """One conversations file of pages joined newest first: the thread is still in time order."""
    convs = fixture("conversations.json")
    (tmp_path / "conversations.json").write_text(json.dumps(convs[::-1]))
    ordered = FD.read(DATA / "tickets.json", DATA / "conversations.json").messages
    reversed_ = FD.read(DATA / "tickets.json", tmp_path / "conversations.json").messages
    key = ["ticket_id", "position"]
    pd.testing.assert_frame_equal(ordered.sort_values(key).reset_index(drop=True)[["message_id", *key]],
                                  reversed_.sort_values(key).reset_index(drop=True)[["message_id", *key]])


def test_a_ticket_twice_in_the_api_pages_has_its_messages_read_once(tmp_path):
    tickets, convs = fixture("tickets.json"), fixture("conversations.json")
    (tmp_path / "tickets.json").write_text(json.dumps(tickets + tickets[:1]))  # overlapping pages
    manifest, tk, msgs, _ = ingested(tmp_path, tickets=tmp_path / "tickets.json", history=DATA / "conversations.json")
    balanced(manifest)
    assert manifest["counts"]["messages"]["in"] == len(convs) + len(tickets)
    assert manifest["counts"]["tickets"]["quarantined"] == 1 and msgs["message_id"].is_unique


def test_numeric_user_ids_are_not_redacted_as_names_in_the_bodies(tmp_path):
    convs = fixture("conversations.json")
    code = str(convs[0]["user_id"])
    convs[0]["body_text"] = f"The log shows error {code} at start-up."
    (tmp_path / "conversations.json").write_text(json.dumps(convs))
    manifest, _, msgs, _ = ingested(tmp_path, tickets=DATA / "tickets.json", history=tmp_path / "conversations.json")
    assert msgs.set_index("message_id").loc[str(convs[0]["id"]), "body"] == convs[0]["body_text"]
    assert any("--users" in w for w in manifest["warnings"])  # names unknown without the users: it says so


@pytest.mark.parametrize("name, text, needle", [
    ("tickets.json", '[{"id": 1, "created_at": "2024-01-01T00:00:00Z", "requester_id": 2}, {"subject": "x"}]',
     "record 2 has no id"),
    ("tickets.json", '[{"id": 1, "requester_id": 2, "description_text": "x"', "not valid JSON"),
    ("tickets.csv", "Subject,Status,Created time\nx,Open,2024-01-01\n", "no 'Ticket ID' column"),
])
def test_wrong_tickets_name_the_file_the_record_and_what_is_missing(tmp_path, name, text, needle):
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(CasebaseError) as err:
        FD.read(f, None)
    assert str(f) in str(err.value) and needle in str(err.value)


def test_a_conversation_without_incoming_or_private_is_refused(tmp_path):
    convs = fixture("conversations.json")
    del convs[2]["incoming"]
    f = tmp_path / "conversations.json"
    f.write_text(json.dumps(convs))
    with pytest.raises(CasebaseError) as err:
        FD.read(DATA / "tickets.json", f)
    assert str(f) in str(err.value) and "record 3" in str(err.value) and "incoming" in str(err.value)


def test_detect_claims_freshdesk_files_only(tmp_path):
    assert FD.detect(peek(DATA / "tickets.json"), peek(DATA / "conversations.json"))
    assert FD.detect(peek(DATA / "tickets.csv"), None)
    assert find_connector("auto", DATA / "tickets.csv", DATA / "conversations.json")[0].name == "freshdesk"
    t, m = write_canonical(tmp_path)
    assert FD.detect(peek(t), peek(m)) is None
    zd = Path(__file__).parent / "data" / "connectors" / "zendesk"
    assert FD.detect(peek(zd / "export.json"), None) is None and FD.detect(peek(zd / "tickets.json"), None) is None


# --- round trip: a canonical export written as Freshdesk's API JSON ----------------------------------------------

def write_freshdesk(tickets_csv: Path, messages_csv: Path, out: Path) -> tuple[Path, Path, Path, list[str]]:
    """The canonical export as Freshdesk's API JSON: tickets (numeric ids; the first message is the description,
    sent at the ticket's created_at), one conversations file (``incoming`` for customers) and the contacts and
    agents that name each (author, role). Returns the files and the canonical ids in the order of the new ids."""
    t = pd.read_csv(tickets_csv, dtype=str, keep_default_na=False).replace("", None)
    m = pd.read_csv(messages_csv, dtype=str, keep_default_na=False).replace("", None)
    m["_pos"] = m["position"].astype(int)
    users: dict[tuple, int] = {}

    def user(author, role):
        return users.setdefault((author, role), 70_000 + len(users))

    tickets, convs, order = [], [], []
    for n, r in enumerate(t.to_dict("records"), 1):
        thread = m[m.ticket_id == r["ticket_id"]].sort_values("_pos").to_dict("records")
        first, rest = (thread[0], thread[1:]) if thread else (None, [])
        assert first is None or (first["role"] == "customer" and first["sent_at"] == r["opened_at"])
        tickets.append({"id": n, "subject": r["subject"], "description": first and first["body"],
                        "description_text": first and first["body"], "status": 2, "priority": 1, "source": 2,
                        "type": r.get("category"), "requester_id": user(first and first["author"], "customer"),
                        "responder_id": None, "fr_escalated": False, "created_at": r["opened_at"],
                        "updated_at": r["opened_at"], "tags": []})
        for x in rest:
            convs.append({"id": 100_000 + len(convs), "ticket_id": n, "body": x["body"], "body_text": x["body"],
                          "incoming": x["role"] == "customer", "private": False,
                          "user_id": user(x["author"], x["role"]), "created_at": x["sent_at"]})
        order.append(r["ticket_id"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "tickets.json").write_text(json.dumps(tickets))
    (out / "conversations.json").write_text(json.dumps(convs))
    (out / "users.json").write_text(json.dumps(
        [{"id": uid, "name": a} if role == "customer" else {"id": uid, "contact": {"name": a}}
         for (a, role), uid in users.items() if a is not None]))
    return out / "tickets.json", out / "conversations.json", out / "users.json", order


def same_as_canonical(tmp_path: Path, tickets_csv: Path, messages_csv: Path) -> int:
    tj, cj, uj, order = write_freshdesk(tickets_csv, messages_csv, tmp_path / "fd")
    return same_as_canonical_by_order(tmp_path, "freshdesk", order, tickets_csv, messages_csv,
                                      tickets=tj, history=cj, users=uj)


def test_round_trip_of_a_small_canonical_export(tmp_path):
    t, m = write_canonical(tmp_path)
    assert same_as_canonical(tmp_path, t, m) > 0


def test_round_trip_of_forum_support(tmp_path, forum):
    t, m = read_canonical(forum / "tickets.csv", forum / "messages.csv", limit=200)
    tc, mc = write_frames(tmp_path / "in", t, m)
    assert same_as_canonical(tmp_path, tc, mc) >= len(t)


def test_of_all_the_connector_fixtures_freshdesk_claims_only_its_own():
    assert fixtures_claimed(FD) == ["freshdesk/tickets.csv", "freshdesk/tickets.json"]
