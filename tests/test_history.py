"""The history database: persistence, search, migrations, corruption, two instances."""

from __future__ import annotations

import sqlite3

import pytest

from arxiv_tui.history import MIGRATIONS, SCHEMA_VERSION, History, migrate


def test_drafts_requests_alternatives_and_choices_persist(tmp_path):
    history = History(tmp_path / "h.db")
    draft = history.new_draft("We study")
    history.save_draft(draft, "We study graphs")
    request = history.add_request(draft, "m", "We study graphs", {"n": 2})
    history.save_alternatives(request, [(" with care.", 3, "stop"), (" at scale", 2, "length")])
    choice = history.add_choice(request, 1, " at", "word")
    history.close()

    reopened = History(tmp_path / "h.db")
    assert reopened.latest_draft().text == "We study graphs"
    stored = reopened.request(request)
    assert stored["settings"] == {"n": 2} and stored["draft_id"] == draft
    assert [a["text"] for a in stored["alternatives"]] == [" with care.", " at scale"]
    assert stored["choices"] == [{"id": choice, "index": 1, "accepted": " at", "kind": "word"}]
    assert {h.kind for h in reopened.search("scale")} == {"alternative"}
    assert [h.ref for h in reopened.search("graph")] == [str(draft)]  # prefix match, updated text


def test_saving_an_unchanged_draft_keeps_its_time(tmp_path):
    history = History(tmp_path / "h.db")
    draft = history.new_draft("same")
    before = history.draft(draft).updated_at
    history.save_draft(draft, "same")
    assert history.draft(draft).updated_at == before
    history.save_draft(draft, "changed")
    assert history.draft(draft).updated_at > before


def test_each_migration_step(tmp_path):
    db = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    assert migrate(db, target=1) == 1
    db.execute("INSERT INTO drafts (created_at, updated_at, text) VALUES (0, 0, 'an old draft')")
    db.execute("INSERT INTO requests (id, created_at, model, prompt, settings) VALUES (1, 0, 'm', 'p', '{}')")
    db.execute("INSERT INTO alternatives VALUES (1, 0, 'an old alternative', 3, 'eos')")
    assert migrate(db, target=2) == 2
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert migrate(db) == SCHEMA_VERSION == len(MIGRATIONS) == 3
    db.close()
    history = History(tmp_path / "old.db")  # v2 backfilled the search index from v1's rows
    assert {h.kind for h in history.search("old")} == {"draft", "alternative"}
    old = history.request(1)  # v3: an old request is a root whose draft was its prompt
    assert (old["draft_text"], old["cursor"], old["parent_choice_id"]) == ("p", 1, None)


def test_tree_of_choices(tmp_path):
    history = History(tmp_path / "h.db")
    draft = history.new_draft("We propose")
    root = history.add_request(draft, "m", "We propose", {}, draft_text="We propose", cursor=10)
    history.save_alternatives(root, [(" a model.", 3, "stop"), (" a method.", 3, "stop")])
    first = history.add_choice(root, 0, " a model.", "whole")
    after_first = history.add_request(draft, "m", "We propose a model.", {}, parent_choice=first)
    history.save_alternatives(after_first, [(" It works.", 3, "stop")])
    second = history.add_choice(root, 1, " a method.", "whole")  # undo, then the sibling
    after_second = history.add_request(draft, "m", "We propose a method.", {}, parent_choice=second)
    history.save_alternatives(after_second, [(" It is fast.", 4, "stop")])
    history.add_request(draft, "m", "We propose a meth", {}, parent_choice=second)  # superseded: no node
    assert history.latest_choice(draft) == second
    (node,) = history.tree(draft)
    assert node["id"] == root and node["cursor"] == 10
    model, method = node["alternatives"]
    assert [c["id"] for c in model["children"]] == [after_first]
    assert [c["id"] for c in method["children"]] == [after_second]
    assert method["accepted"] == [{"text": " a method.", "kind": "whole"}]


def test_training_texts_are_drafts_and_accepted_continuations(tmp_path):
    from arxiv_tui.history import training_texts

    history = History(tmp_path / "h.db")
    draft = history.new_draft("We propose a model. It works.")
    history.new_draft("   ")
    request = history.add_request(draft, "m", "We propose", {})
    history.save_alternatives(request, [(" a model.", 3, "stop")])
    history.add_choice(request, 0, " a", "word")
    history.add_choice(request, 0, " a model.", "whole")
    history.close()
    assert training_texts(tmp_path / "h.db") == ["We propose a model. It works.", "We propose a model."]


def test_a_newer_schema_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "h.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    history = History(path)
    assert history.notice and "kept" in history.notice
    assert list(tmp_path.glob("h.db.corrupt-*"))


def test_a_corrupt_file_is_kept_aside(tmp_path):
    path = tmp_path / "h.db"
    path.write_bytes(b"this is not a database" * 100)
    history = History(path)
    kept = list(tmp_path.glob("h.db.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not a database")
    assert str(kept[0]) in history.notice
    assert history.new_draft("fresh") and history.latest_draft().text == "fresh"


def test_two_instances_share_the_database(tmp_path):
    first, second = History(tmp_path / "h.db"), History(tmp_path / "h.db")
    a = first.new_draft("one")
    b = second.new_draft("two")
    first.save_draft(a, "one, edited")
    second.save_draft(b, "two, edited")
    assert {d.text for d in first.drafts()} == {"one, edited", "two, edited"}


@pytest.mark.parametrize("query", ['"', "AND", "a*b", "NEAR("])
def test_search_text_is_never_fts_syntax(tmp_path, query):
    history = History(tmp_path / "h.db")
    history.new_draft('quote " AND a*b NEAR( stuff')
    history.search(query)  # must not raise
