"""The Zendesk connector: the full JSON export (NDJSON, comments nested) and the API shape (tickets + comments),
read into the canonical tables; and a canonical export written as Zendesk comes back the same through
`--mapping auto` as through `--mapping canonical`.

The fixtures (tests/data/connectors/zendesk/) follow Zendesk's documented Tickets, Ticket Comments and Users API
objects and its JSON export (one ticket per line, comments nested); their content is invented."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from casebase.errors import CasebaseError
from casebase.ingest.connectors import find_connector, registry
from connector_helpers import (balanced, fixtures_claimed, ingested, read_canonical, same_as_canonical_by_order,
                               write_frames)
from test_ingest import write_canonical

DATA = Path(__file__).parent / "data" / "connectors" / "zendesk"
ZD = registry()["zendesk"]


def export_records(path: Path = DATA / "export.json") -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ts(value: str) -> pd.Timestamp:
    return pd.Timestamp(value).tz_localize(None)


def test_full_export_roles_internal_status_timestamps_and_the_description_once(tmp_path):
    records = export_records()
    manifest, tickets, msgs, quarantine = ingested(tmp_path, tickets=DATA / "export.json", users=DATA / "users.json")
    assert manifest["format"]["name"] == "zendesk" and "full export" in manifest["format"]["why"]
    balanced(manifest)
    comments = [(r, c) for r in records for c in r["comments"]]
    without = [r for r in records if not r["comments"]]
    assert manifest["counts"]["messages"]["in"] == len(comments) + len(without)  # one row per comment read
    assert manifest["counts"]["tickets"]["out"] == len(records) and quarantine.empty

    by_id = msgs.set_index("message_id")
    users = {u["id"]: u for u in json.loads((DATA / "users.json").read_text())["users"]}
    for r, c in comments:
        row = by_id.loc[str(c["id"])]
        want = "customer" if c["author_id"] == r["requester_id"] or users.get(c["author_id"], {}).get("role") == \
            "end-user" else "responder"
        assert row["role"] == want, c["id"]
        assert row["internal"] == (not c["public"])
        assert row["sent_at"] == ts(c["created_at"])
        assert row["body"] == (c["plain_body"] or c["body"])
    assert by_id["internal"].any() and (by_id["role"] == "responder").any()
    cc = next(c for r, c in comments
              if c["author_id"] != r["requester_id"] and users[c["author_id"]]["role"] == "end-user")
    assert by_id.loc[str(cc["id"]), "role"] == "customer"  # a CC'd colleague of the requester: customer
    assert not msgs["resolution"].any()  # Zendesk records no resolution field

    for r in records:  # the description is the first comment: one message, never two
        thread = msgs[msgs.ticket_id == str(r["id"])].sort_values("position")
        assert (thread["body"] == r["description"]).sum() == 1
        assert thread.iloc[0]["body"] == r["description"] and thread.iloc[0]["role"] == "customer"
    lone = without[0]
    assert msgs[msgs.ticket_id == str(lone["id"])]["sent_at"].item() == ts(lone["created_at"])

    t = tickets.set_index("ticket_id")
    for r in records:
        row = t.loc[str(r["id"])]
        assert row["status"] == {"new": "open", "hold": "pending"}.get(r["status"], r["status"])
        assert row["source_status"] == r["status"] and row["category"] == r["type"]
        assert row["urgency"] == r["priority"] and row["subject"] == r["subject"]
        assert row["opened_at"] == ts(r["created_at"])
        assert row["updated_at"] == ts(r["updated_at"])
        solved = r["metric_set"]["solved_at"]
        assert pd.isna(row["closed_at"]) if solved is None else row["closed_at"] == ts(solved)
    assert set(tickets["status"]) <= {"open", "pending", "solved", "closed"}


def test_without_users_only_the_requester_is_a_customer(tmp_path):
    records = export_records()
    _, _, msgs, _ = ingested(tmp_path, tickets=DATA / "export.json", mapping="zendesk")
    by_id = msgs.set_index("message_id")
    for r in records:
        for c in r["comments"]:
            want = "customer" if c["author_id"] == r["requester_id"] else "responder"
            assert by_id.loc[str(c["id"]), "role"] == want


def test_users_file_names_the_authors_so_their_names_are_redacted(tmp_path):
    """With --users the authors are the users' names: ingest collects them and redacts them in the bodies."""
    nd = tmp_path / "export.ndjson"
    rec = export_records()[0]
    rec["comments"][1]["plain_body"] = "Hello Greta Lindqvist, which tax profile is set?"
    nd.write_text(json.dumps(rec) + "\n")
    manifest, _, with_users, _ = ingested(tmp_path, "a", tickets=nd, users=DATA / "users.json")
    assert not with_users["body"].str.contains("Lindqvist").any()
    assert not any("--users" in w for w in manifest["warnings"])
    manifest, _, _, _ = ingested(tmp_path, "b", tickets=nd)  # without it: names unknown, and the manifest says so
    assert any("--users" in w for w in manifest["warnings"])


def test_users_as_ndjson_read_as_the_users_document(tmp_path):
    """Zendesk's full export of users is NDJSON (one user per line), the API's is {"users": [...]}."""
    users = json.loads((DATA / "users.json").read_text())["users"]
    nd = tmp_path / "users.ndjson"
    nd.write_text("".join(json.dumps(u) + "\n" for u in users))
    a = ZD.read(DATA / "export.json", None, users=DATA / "users.json").messages
    b = ZD.read(DATA / "export.json", None, users=nd).messages
    pd.testing.assert_frame_equal(a, b)
    assert (a["role"] != ZD.read(DATA / "export.json", None).messages["role"]).any()  # the users file mattered


def test_numeric_author_ids_are_not_redacted_as_names_in_the_bodies(tmp_path):
    """Without --users the authors are Zendesk's numeric ids; ingest redacts authors' names in the bodies, so an
    id given as a bare number took every equal number with it ("error 9001" became "error <PERSON>")."""
    nd = tmp_path / "export.ndjson"
    rec = export_records()[0]
    code = str(rec["requester_id"])
    rec["comments"][1]["plain_body"] = f"The log shows error {code} at start-up."
    nd.write_text(json.dumps(rec) + "\n")
    _, _, msgs, _ = ingested(tmp_path, tickets=nd)
    assert msgs.set_index("message_id").loc[str(rec["comments"][1]["id"]), "body"] == rec["comments"][1]["plain_body"]
    assert msgs["author"].nunique() == len({c["author_id"] for c in rec["comments"]})  # still one pseudonym each


def test_api_shape_with_one_ticket_keyed_comments_file(tmp_path):
    api = json.loads((DATA / "tickets.json").read_text())["tickets"]
    keyed = json.loads((DATA / "comments_by_ticket.json").read_text())
    assert find_connector("auto", DATA / "tickets.json", DATA / "comments_by_ticket.json")[0].name == "zendesk"
    manifest, tickets, msgs, quarantine = ingested(tmp_path, tickets=DATA / "tickets.json",
                                                   history=DATA / "comments_by_ticket.json",
                                                   users=DATA / "users.json")
    balanced(manifest)
    ids = {str(t["id"]) for t in api}
    orphans = [c for tid, v in keyed.items() if tid not in ids for c in v["comments"]]
    assert manifest["counts"]["messages"]["quarantined"] == len(orphans) > 0
    assert quarantine["reason"].str.contains("unknown ticket").all()
    for tid, v in keyed.items():
        if tid in ids:
            thread = msgs[msgs.ticket_id == tid].sort_values("position")
            assert thread["message_id"].tolist() == [str(c["id"]) for c in v["comments"]]
            assert thread["internal"].tolist() == [not c["public"] for c in v["comments"]]
    lone = [t for t in api if str(t["id"]) not in keyed]  # no comments given: its description, once
    for t in lone:
        thread = msgs[msgs.ticket_id == str(t["id"])]
        assert thread["body"].tolist() == [t["description"]] and thread["role"].tolist() == ["customer"]
    assert sorted(tickets["ticket_id"]) == sorted(ids)


def test_api_shape_with_a_directory_of_per_ticket_comment_files_reads_as_the_keyed_file():
    """The comments endpoint's files, one per ticket named after it (201.json), given as --history DIR."""
    from_dir = ZD.read(DATA / "tickets.json", DATA / "comments")
    from_file = ZD.read(DATA / "tickets.json", DATA / "comments_by_ticket.json")
    cols = ["ticket_id", "message_id", "position", "sent_at", "author", "role", "body", "internal"]
    known = from_file.messages[from_file.messages.ticket_id.isin(from_file.tickets.ticket_id)]
    pd.testing.assert_frame_equal(from_dir.messages[cols].reset_index(drop=True), known[cols].reset_index(drop=True))
    assert from_dir.rows_in["messages"] == len(from_dir.messages)
    one = ZD.read(DATA / "tickets.json", DATA / "comments" / "201.json")  # one ticket's file, named after it
    pd.testing.assert_frame_equal(one.messages[one.messages.ticket_id == "201"][cols].reset_index(drop=True),
                                  known[known.ticket_id == "201"][cols].reset_index(drop=True))


def test_api_comments_out_of_time_order_are_read_in_time_order(tmp_path):
    keyed = json.loads((DATA / "comments_by_ticket.json").read_text())
    (tmp_path / "comments.json").write_text(json.dumps({k: {"comments": v["comments"][::-1]} for k, v in keyed.items()}))
    a = ZD.read(DATA / "tickets.json", DATA / "comments_by_ticket.json").messages
    b = ZD.read(DATA / "tickets.json", tmp_path / "comments.json").messages
    key = ["ticket_id", "position"]
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True))


def test_a_ticket_twice_in_the_api_pages_has_its_comments_read_once(tmp_path):
    doc = json.loads((DATA / "tickets.json").read_text())
    doc["tickets"].append(doc["tickets"][0])  # overlapping pages
    (tmp_path / "tickets.json").write_text(json.dumps(doc))
    keyed = json.loads((DATA / "comments_by_ticket.json").read_text())
    manifest, tickets, msgs, quarantine = ingested(tmp_path, tickets=tmp_path / "tickets.json",
                                                   history=DATA / "comments_by_ticket.json")
    balanced(manifest)
    assert manifest["counts"]["messages"]["in"] == sum(len(v["comments"]) for v in keyed.values()) + sum(
        str(t["id"]) not in keyed for t in doc["tickets"])  # each comment once; descriptions of the rest
    assert manifest["counts"]["tickets"]["quarantined"] == 1 and tickets["ticket_id"].is_unique


def test_api_shape_without_comments_gives_each_description_and_says_so(tmp_path):
    api = json.loads((DATA / "tickets.json").read_text())["tickets"]
    manifest, _, msgs, _ = ingested(tmp_path, tickets=DATA / "tickets.json")
    assert manifest["format"]["name"] == "zendesk"
    assert len(msgs) == len(api) and (msgs["role"] == "customer").all()
    assert any("--history" in w for w in manifest["warnings"])


@pytest.mark.parametrize("name, text, needle", [
    ("export.ndjson", '{"id": 1, "created_at": "2024-01-01T00:00:00Z", "comments": []}\n{"id": 2, "comm\n', "line 2"),
    ("export.json", '{"id": 1, "created_at": "2024-01-01T00:00:00Z", "comments": []}\n{"id": 2, "comm\n', "line 2"),
    ("export.ndjson", '{"id": 1, "created_at": "2024-01-01T00:00:00Z", "comments": []}\n'
     '{"subject": "x", "comments": []}\n', "line 2 has no id"),
    ("export.ndjson", '{"id": 1, "created_at": "2024-01-01T00:00:00Z", "requester_id": 5, '
     '"comments": [{"id": 3, "body": "x"}]}\n', "no author_id"),
    ("export.ndjson", '{"id": 1, "created_at": "2024-01-01T00:00:00Z", "comments": "all of them"}\n', "not a list"),
    ("tickets.json", "[1, 2]", "not an object"),
    ("tickets.json", '{"count": 2, "users": []}', "without 'tickets'"),
    ("tickets.json", '{"tickets": [\n  {"id": 1,\n   "subject": "cut off', "not valid JSON (line 3"),  # truncated
])
def test_wrong_input_names_the_file_the_record_and_what_is_missing(tmp_path, name, text, needle):
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(CasebaseError) as err:
        ZD.read(f, None)
    assert str(f) in str(err.value) and needle in str(err.value)


def test_comments_both_nested_and_in_history_are_refused(tmp_path):
    with pytest.raises(CasebaseError, match="leave out --history"):
        ZD.read(DATA / "export.json", DATA / "comments_by_ticket.json")


def test_a_comments_file_without_ticket_ids_says_how_to_give_per_ticket_files(tmp_path):
    f = tmp_path / "comments.json"
    f.write_text(json.dumps({"comments": [{"id": 1, "author_id": 2, "body": "x", "public": True}]}))
    with pytest.raises(CasebaseError, match="no ticket_id"):
        ZD.read(DATA / "tickets.json", f)


def test_detect_claims_zendesk_files_only(tmp_path):
    from casebase.ingest.connectors import peek

    assert ZD.detect(peek(DATA / "export.json"), None)
    assert ZD.detect(peek(DATA / "tickets.json"), None)
    t, m = write_canonical(tmp_path)
    assert ZD.detect(peek(t), peek(m)) is None
    fd = Path(__file__).parent / "data" / "connectors" / "freshdesk"
    assert ZD.detect(peek(fd / "tickets.json"), peek(fd / "conversations.json")) is None


# --- round trip: a canonical export written as Zendesk's full export ---------------------------------------------

def write_zendesk(tickets_csv: Path, messages_csv: Path, out: Path) -> tuple[Path, Path, list[str]]:
    """The canonical export as Zendesk's full JSON export (one ticket per line, comments nested, numeric ids;
    the description is the first customer message) and a users file naming each (author, role) as a user.
    Returns the two files and the canonical ticket ids in the order of the new numeric ids."""
    t = pd.read_csv(tickets_csv, dtype=str, keep_default_na=False).replace("", None)
    m = pd.read_csv(messages_csv, dtype=str, keep_default_na=False).replace("", None)
    m["_pos"] = m["position"].astype(int)
    users: dict[tuple, int] = {}

    def user(author, role):
        return users.setdefault((author, role), 10_000 + len(users))

    out.mkdir(parents=True, exist_ok=True)
    order, comment_id = [], 1
    with open(out / "export.ndjson", "w") as f:
        for n, r in enumerate(t.to_dict("records"), 1):
            thread = m[m.ticket_id == r["ticket_id"]].sort_values("_pos").to_dict("records")
            first = next((x for x in thread if x["role"] == "customer"), None)
            requester = user(first["author"], "customer") if first else user(None, "customer")
            comments = []
            for x in thread:
                comments.append({"id": comment_id, "type": "Comment", "author_id": user(x["author"], x["role"]),
                                 "body": x["body"], "plain_body": x["body"], "public": True,
                                 "created_at": x["sent_at"], "attachments": []})
                comment_id += 1
            f.write(json.dumps({
                "id": n, "url": f"https://example.zendesk.com/api/v2/tickets/{n}.json", "subject": r["subject"],
                "description": thread[0]["body"] if thread else None, "type": r.get("category"),
                "status": "open", "priority": "normal", "requester_id": requester, "submitter_id": requester,
                "created_at": r["opened_at"], "updated_at": r["opened_at"], "tags": [],
                "via": {"channel": "web"}, "comments": comments}) + "\n")
            order.append(r["ticket_id"])
    (out / "users.json").write_text(json.dumps({"users": [
        {"id": uid, "name": author, "role": "end-user" if role == "customer" else "agent"}
        for (author, role), uid in users.items() if author is not None]}))
    return out / "export.ndjson", out / "users.json", order


def same_as_canonical(tmp_path: Path, tickets_csv: Path, messages_csv: Path) -> int:
    nd, users, order = write_zendesk(tickets_csv, messages_csv, tmp_path / "zd")
    return same_as_canonical_by_order(tmp_path, "zendesk", order, tickets_csv, messages_csv, tickets=nd, users=users)


def test_round_trip_of_a_small_canonical_export(tmp_path):
    t, m = write_canonical(tmp_path)
    assert same_as_canonical(tmp_path, t, m) > 0


def test_round_trip_of_forum_support(tmp_path, forum):
    t, m = read_canonical(forum / "tickets.csv", forum / "messages.csv", limit=200)
    tc, mc = write_frames(tmp_path / "in", t, m)
    assert same_as_canonical(tmp_path, tc, mc) >= len(t)


def test_of_all_the_connector_fixtures_zendesk_claims_only_its_own():
    assert fixtures_claimed(ZD) == ["zendesk/export.json", "zendesk/tickets.json"]
