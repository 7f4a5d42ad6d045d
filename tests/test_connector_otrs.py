"""The OTRS/Znuny connector: the GenericInterface TicketGet answer (AllArticles=1) and the two-table CSV export
(fixtures written from the OTRS/Znuny API and database docs, invented content), read into the canonical tables;
and a round trip of a canonical export written as OTRS."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from casebase.cli import app
from casebase.errors import CasebaseError
from casebase.ingest import run as ingest
from casebase.ingest.connectors import find_connector, registry
from casebase.workspace import Workspace
from connector_helpers import read_ws, round_trip

DATA = Path(__file__).parent / "data" / "connectors" / "otrs"
TICKET_GET, TICKET_CSV, ARTICLE_CSV = DATA / "tickets.json", DATA / "ticket.csv", DATA / "article.csv"


def test_ticket_get_answer_with_nested_articles(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    manifest = ingest(ws, TICKET_GET, mapping="auto")
    assert manifest["format"]["name"] == "otrs" and "TicketGet" in manifest["format"]["why"]
    tickets, msgs, _ = read_ws(ws)
    src = json.loads(TICKET_GET.read_text())["Ticket"]
    articles = [a for t in src for a in (t["Article"] if isinstance(t["Article"], list) else [t["Article"]])]
    c = manifest["counts"]
    assert c["tickets"] == {"in": len(src), "out": len(src), "quarantined": 0, "balanced": True}
    assert c["messages"]["in"] == len(articles) == c["messages"]["out"] + c["messages"]["quarantined"]
    assert list(pd.read_csv(ws.quarantine)["reason"]) == ["empty body"]  # article 508
    assert c["messages_from_ticket_body"]["in"] == 0  # the first article is the description, counted once
    m = msgs.set_index("message_id")
    kept = list(m.index)
    role = {a["ArticleID"]: "customer" if a["SenderType"] == "customer" else "responder" for a in articles}
    assert dict(m["role"]) == {k: role[k] for k in kept}
    hidden = {a["ArticleID"] for a in articles if not a["IsVisibleForCustomer"] or a["SenderType"] == "system"}
    assert set(m.index[m["internal"]]) == hidden & set(kept) == {"502", "503"}
    assert not msgs["resolution"].any()
    assert m.loc["503", "author"] == m.loc["504", "author"]  # "Tom Berger via Billing" is Tom Berger
    assert list(msgs[msgs["ticket_id"] == "101"].sort_values("position")["message_id"]) == ["501", "502", "503",
                                                                                            "504"]
    assert m.loc["501", "sent_at"] == pd.Timestamp("2024-06-06 10:15:00")
    t = tickets.set_index("ticket_id")
    assert dict(t["status"]) == {"101": "closed", "102": "solved", "103": "open", "104": "closed"}
    assert dict(t["source_status"]) == {r["TicketID"]: r["State"] for r in src}
    assert dict(t["category"]) == {r["TicketID"]: r["Queue"] for r in src}
    assert dict(t["urgency"]) == {"101": "3", "102": "2", "103": "4", "104": "1"}
    assert dict(t["number"]) == {r["TicketID"]: r["TicketNumber"] for r in src}
    assert t.loc["101", "opened_at"] == pd.Timestamp("2024-06-06 10:15:00")
    assert t.loc["101", "updated_at"] == pd.Timestamp("2024-06-06 14:02:00")
    assert t.loc["101", "dynamic_ProductLine"] == "Invoicing"
    assert any("Nested" in w for w in manifest["warnings"])  # a nested dynamic field is named, not stringified
    assert "body" not in tickets and "contact_email" not in tickets


def test_two_csv_tables_with_the_old_article_types(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    assert find_connector("auto", TICKET_CSV, ARTICLE_CSV)[0].name == "otrs"
    manifest = ingest(ws, TICKET_CSV, ARTICLE_CSV, mapping="auto")
    tickets, msgs, _ = read_ws(ws)
    src = pd.read_csv(ARTICLE_CSV, dtype=str)
    assert manifest["counts"]["messages"] == {"in": len(src), "out": len(src), "quarantined": 0, "balanced": True}
    m = msgs.set_index("message_id")
    # note-internal, note-report (agents) and the system reminder are internal; email/phone/web are not
    assert set(m.index[m["internal"]]) == {"302", "305", "306"}
    assert dict(m["role"]) == {r.ArticleID: "customer" if r.SenderType == "customer" else "responder"
                               for r in src.itertuples()}
    t = tickets.set_index("ticket_id")
    # no StateType column: the default state names give it ("closed unsuccessful" stays in source_status)
    assert dict(t["status"]) == {"201": "closed", "202": "pending", "203": "open"}
    assert t.loc["201", "source_status"] == "closed unsuccessful"
    assert dict(t["urgency"]) == {"201": "3", "202": "4", "203": "2"}


def test_snake_case_columns_of_a_database_dump_and_unknown_states(tmp_path):
    t, a = tmp_path / "ticket.csv", tmp_path / "article.csv"
    pd.DataFrame([{"ticket_id": "1", "ticket_number": "10001", "title": "Slow VPN", "state": "in progress",
                   "create_time": "2024-06-06 10:15:00"}]).to_csv(t, index=False)
    pd.DataFrame([{"article_id": "7", "ticket_id": "1", "sender_type": "customer", "is_visible_for_customer": "1",
                   "body": "VPN is slow", "create_time": "2024-06-06 10:15:00"},
                  {"article_id": "8", "ticket_id": "1", "sender_type": "agent", "is_visible_for_customer": "0",
                   "body": "Checked the gateway load", "create_time": "2024-06-06 11:00:00"}]).to_csv(a, index=False)
    export = registry()["otrs"].read(t, a)
    assert list(export.messages["internal"]) == ["false", "true"]
    assert list(export.tickets["status"]) == ["in progress"]  # kept as given, for a mapping file to recode
    assert any("in progress" in w and "status_values" in w for w in export.warnings)


@pytest.mark.parametrize("case, match", [
    ("not json", r"tickets\.json: not valid JSON \(line 1"),
    ("no sender", r"Article\[0\] has no SenderType"),
    ("no ticket id", r"tickets\.json: record 1 Ticket\[0\] has no TicketID"),
])
def test_wrong_otrs_input_is_an_error_naming_file_record_and_key(tmp_path, case, match):
    t = tmp_path / "tickets.json"
    article = {"ArticleID": "1", "SenderType": "customer", "Body": "hi", "CreateTime": "2024-01-01 10:00:00"}
    ticket = {"TicketID": "1", "TicketNumber": "1", "Title": "x", "State": "open", "Created": "2024-01-01 10:00:00",
              "Article": [{k: v for k, v in article.items() if not (case == "no sender" and k == "SenderType")}]}
    ticket = {k: v for k, v in ticket.items() if not (case == "no ticket id" and k == "TicketID")}
    t.write_text('{"Ticket": [' if case == "not json" else json.dumps([{"Ticket": [ticket]}]))
    with pytest.raises(CasebaseError, match=match):
        ingest(Workspace.at(tmp_path / "ws"), t, mapping="otrs")


def test_the_example_command_works(tmp_path):
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(tmp_path / "ws"), "--tickets", str(TICKET_GET),
                                      "--mapping", "otrs"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ws" / "messages.parquet").exists()


# --- round trip ----------------------------------------------------------------------------------------------

def otrs_time(value: str) -> str | None:
    """A canonical time as OTRS writes it: "2024-06-06 10:15:00"."""
    if not value:
        return None
    ts = pd.to_datetime(value, format="ISO8601", utc=True).tz_localize(None)
    return ts.strftime("%Y-%m-%d %H:%M:%S") + (f".{ts.microsecond:06d}" if ts.microsecond else "")


def write_otrs(t: pd.DataFrame, m: pd.DataFrame, out: Path, shape: str) -> tuple[Path, Path | None]:
    """A canonical export as OTRS: TicketGet JSON with nested articles, or ticket.csv + article.csv; the
    canonical ticket_id kept as the TicketNumber, articles numbered in thread order."""
    ids = {tid: str(i) for i, tid in enumerate(t["ticket_id"], 1)}
    m = m.assign(_pos=pd.to_numeric(m["position"], errors="coerce"), _t=m["ticket_id"].map(ids).astype(float))
    m = m.sort_values(["_t", "_pos"], kind="stable")
    articles: dict[str, list[dict]] = {}
    for n, r in enumerate(m.to_dict("records"), 1):
        articles.setdefault(r["ticket_id"], []).append({
            "ArticleID": str(n), "TicketID": ids.get(r["ticket_id"], r["ticket_id"]),
            "ArticleNumber": str(len(articles.get(r["ticket_id"], [])) + 1),
            "SenderType": "customer" if r.get("role") == "customer" else "agent", "IsVisibleForCustomer": 1,
            "From": r.get("author") or None, "Body": r["body"], "ContentType": "text/plain; charset=utf-8",
            "CreateTime": otrs_time(r.get("sent_at"))})
    tickets = [{"TicketID": ids[r["ticket_id"]], "TicketNumber": r["ticket_id"], "Title": r.get("subject") or None,
                "State": "open", "StateType": "open", "Priority": "3 normal", "Queue": r.get("category") or None,
                "Created": otrs_time(r["opened_at"])} for r in t.to_dict("records")]
    (out / "otrs").mkdir()
    if shape == "json":
        for tk in tickets:
            tk["Article"] = articles.get(tk["TicketNumber"], [])
        path = out / "otrs" / "tickets.json"
        path.write_text(json.dumps({"Ticket": tickets}))
        return path, None
    tp, ap = out / "otrs" / "ticket.csv", out / "otrs" / "article.csv"
    pd.DataFrame(tickets).to_csv(tp, index=False)
    pd.DataFrame([a for arts in articles.values() for a in arts]).to_csv(ap, index=False)
    return tp, ap


@pytest.mark.parametrize("shape", ["json", "csv"])
def test_round_trip_of_a_small_canonical_export(tmp_path, shape):
    from test_ingest import write_canonical

    src = tmp_path / "src"
    src.mkdir()
    round_trip(tmp_path, *write_canonical(src), "otrs", lambda t, m, out: write_otrs(t, m, out, shape))


@pytest.mark.parametrize("shape", ["json", "csv"])
def test_round_trip_of_forum_support(tmp_path, forum, shape):
    round_trip(tmp_path, forum / "tickets.csv", forum / "messages.csv", "otrs",
               lambda t, m, out: write_otrs(t, m, out, shape), limit=200)


def test_these_detectors_claim_only_their_own_fixtures():
    """Zammad's and OTRS's detect claim none of the other helpdesks' fixture files (alone or with their history)."""
    from casebase.ingest.connectors import peek

    root = Path(__file__).parent / "data" / "connectors"
    mine = {"zammad": registry()["zammad"], "otrs": registry()["otrs"]}
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len({p.parent.name for p in files}) > 2
    for tickets in files:
        for history in [None, *[p for p in files if p.parent == tickets.parent and p != tickets]]:
            for name, c in mine.items():
                if tickets.parent.name != name:
                    assert c.detect(peek(tickets), peek(history)) is None, (name, tickets, history)
