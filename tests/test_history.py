"""The history database: persistence, search, migrations, corruption, two instances."""

from __future__ import annotations

import sqlite3

import pytest

from arxiv_tui.store.history import History
from arxiv_tui.store.records import Choice
from arxiv_tui.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from tests.helpers import garbled_history, sql


def test_drafts_requests_alternatives_and_choices_persist(tmp_path):
    history = History(tmp_path / "h.db")
    draft = history.new_draft("We study")
    assert history.save_draft(draft, "We study graphs", base_revision=0).revision == 1
    request = history.add_request(draft, "m", "We study graphs", {"n": 2})
    history.save_alternatives(request, [(" with care.", 3, "stop"), (" at scale", 2, "length")])
    choice = history.add_choice(request, 1, " at", "word")
    history.close()

    reopened = History(tmp_path / "h.db")
    assert reopened.drafts(limit=1)[0].text == "We study graphs"
    stored = reopened.request(request)
    assert stored.settings == {"n": 2} and stored.draft_id == draft
    assert [a.text for a in stored.alternatives] == [" with care.", " at scale"]
    assert stored.choices == (Choice(id=choice, index=1, accepted=" at", kind="word"),)
    assert {h.kind for h in reopened.search("scale")} == {"alternative"}
    assert [h.ref for h in reopened.search("graph")] == [str(draft)]  # prefix match, updated text


def test_saving_an_unchanged_draft_keeps_its_time(tmp_path):
    history = History(tmp_path / "h.db")
    draft = history.new_draft("same")
    before = history.draft(draft).updated_at
    history.save_draft(draft, "same", 0)
    assert history.draft(draft).updated_at == before
    history.save_draft(draft, "changed", 0)
    assert history.draft(draft).updated_at > before


def test_each_migration_step_to_v3(tmp_path):
    db = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    assert migrate(db, target=1) == 1
    db.execute("INSERT INTO drafts (created_at, updated_at, text) VALUES (0, 0, 'an old draft')")
    db.execute("INSERT INTO requests (id, created_at, model, prompt, settings) VALUES (1, 0, 'm', 'p', '{}')")
    db.execute("INSERT INTO alternatives VALUES (1, 0, 'an old alternative', 3, 'eos')")
    assert migrate(db, target=2) == 2
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert {kind for (kind,) in db.execute("SELECT kind FROM search WHERE search MATCH 'old'")} == {
        "draft",
        "alternative",
    }
    assert migrate(db, target=3) == 3
    assert db.execute("SELECT draft_text, cursor, parent_choice_id FROM requests").fetchall() == [("p", 1, None)]
    db.close()


def _v3_history(path):
    """A version-3 file with rows in every table, as arxiv-tui 0.3 wrote it."""
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, target=3)
    db.executescript("""
        INSERT INTO drafts VALUES (1, 10, 20, 'We study sparse graphs'), (2, 30, 40, 'Robots that walk');
        INSERT INTO search (kind, ref, text) VALUES ('draft', 1, 'We study sparse graphs'),
                                                    ('draft', 2, 'Robots that walk');
        INSERT INTO requests VALUES (1, 1, 11, 'm', 'We study', '{"n": 2}', NULL, 'We study sparse', 8),
                                    (2, 1, 12, 'm', 'We study with care', '{"n": 2}', 1, 'We study with care', 18);
        INSERT INTO alternatives VALUES (1, 0, ' with care', 3, 'length'), (1, 1, ' kernels', 2, 'stop'),
                                        (2, 0, ' and speed', 3, 'length');
        INSERT INTO search (kind, ref, text) VALUES ('alternative', '1:0', ' with care'),
            ('alternative', '1:1', ' kernels'), ('alternative', '2:0', ' and speed');
        INSERT INTO choices VALUES (1, 1, 0, ' with care', 'whole', 13);
    """)
    db.close()


def test_v3_to_v5_keeps_every_row_and_indexes_them_by_id(tmp_path):
    _v3_history(tmp_path / "h.db")
    history = History(tmp_path / "h.db")
    assert (
        sql(tmp_path / "h.db", "PRAGMA user_version") == [(SCHEMA_VERSION,)] and SCHEMA_VERSION == len(MIGRATIONS) == 5
    )
    assert [(d.id, d.text, d.revision, d.file) for d in history.drafts()] == [
        (2, "Robots that walk", 0, None),
        (1, "We study sparse graphs", 0, None),
    ]
    paper = history.new_draft("From a paper", file="/papers/p.tex")  # v5: a draft remembers its file
    assert history.draft(paper).file == "/papers/p.tex"
    first, second = history.request(1), history.request(2)
    assert [(a.index, a.text, a.tokens, a.finish_reason) for a in first.alternatives] == [
        (0, " with care", 3, "length"),
        (1, " kernels", 2, "stop"),
    ]
    assert first.choices == (Choice(id=1, index=0, accepted=" with care", kind="whole"),)
    assert (second.parent_choice_id, second.draft_text, second.cursor) == (1, "We study with care", 18)
    assert [c.request.id for c in history.tree(1)[0].branches[0].children] == [2]
    assert {(h.kind, h.ref) for h in history.search("care")} == {("alternative", "1:0")}
    assert {(h.kind, h.ref) for h in history.search("robots")} == {("draft", "2")}
    # The new index follows the rows: a changed draft and replaced alternatives are found by
    # their new words only.
    history.save_draft(1, "We study dense graphs", base_revision=0)
    history.save_alternatives(1, [(" with rigour", 3, "length")])
    assert [h.ref for h in history.search("sparse")] == [] and [h.ref for h in history.search("dense")] == ["1"]
    assert [h.ref for h in history.search("kernels")] == [] and [h.ref for h in history.search("rigour")] == ["1:0"]
    assert history.revisions(1)[0].text == "We study sparse graphs"  # the text the save replaced


def test_a_failed_migration_step_leaves_the_file_as_it_was(tmp_path):
    _v3_history(tmp_path / "h.db")
    db = sqlite3.connect(tmp_path / "h.db", isolation_level=None)
    db.execute("CREATE TABLE draft_leases (x)")  # in the way of step 4
    with pytest.raises(sqlite3.OperationalError):
        migrate(db)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    assert db.execute("SELECT count(*) FROM search").fetchone()[0] == 5  # version 3's index, untouched


@pytest.mark.parametrize(
    "query",
    [
        "UPDATE drafts SET text = 'x', updated_at = 1, revision = 2 WHERE id = 1",
        "DELETE FROM alternatives WHERE request_id = 1",
        "SELECT id FROM requests WHERE draft_id = 1 ORDER BY id DESC LIMIT 100",
        "SELECT request_id, id FROM choices WHERE request_id IN (SELECT 1) ORDER BY id",
        "SELECT max(c.id) FROM requests r JOIN choices c ON c.request_id = r.id WHERE r.draft_id = 1",
        "SELECT id FROM drafts ORDER BY updated_at DESC, id DESC LIMIT 100",
        "SELECT saved_at FROM draft_revisions WHERE draft_id = 1 AND recovered = 0 ORDER BY id DESC LIMIT 1",
    ],
)
def test_no_query_of_the_app_scans_a_table_that_grows(tmp_path, query):
    """Each row is found through an index (walking an index in order under a LIMIT is fine)."""
    History(tmp_path / "h.db").close()
    steps = [row[-1] for row in sql(tmp_path / "h.db", f"EXPLAIN QUERY PLAN {query}")]
    assert not [s for s in steps if s.startswith("SCAN") and "INDEX" not in s and "CONSTANT ROW" not in s], steps


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
    assert node.request.id == root and node.request.cursor == 10
    model, method = node.branches
    assert [c.request.id for c in model.children] == [after_first]
    assert [c.request.id for c in method.children] == [after_second]
    assert [(c.accepted, c.kind) for c in method.accepted] == [(" a method.", "whole")]


def test_training_texts_are_drafts_and_accepted_continuations(tmp_path):
    from arxiv_tui.store.training import training_texts

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
    assert history.new_draft("fresh") and history.drafts(limit=1)[0].text == "fresh"


def test_damage_inside_a_readable_file_is_found_and_the_file_kept(tmp_path):
    garbled_history(tmp_path / "h.db")
    damaged = History(tmp_path / "h.db")
    assert damaged.notice is None and "out of range" in damaged.damage()
    assert damaged.damage().count(";") <= 2 and len(damaged.drafts()) == 12


def test_two_instances_share_the_database(tmp_path):
    first, second = History(tmp_path / "h.db"), History(tmp_path / "h.db")
    a = first.new_draft("one")
    b = second.new_draft("two")
    first.save_draft(a, "one, edited", 0)
    second.save_draft(b, "two, edited", 0)
    assert {d.text for d in first.drafts()} == {"one, edited", "two, edited"}


@pytest.mark.parametrize(
    "query, found", [('"', False), ("AND", True), ("a*b", True), ("NEAR(", True), ("stuff)", True)]
)
def test_search_text_is_never_fts_syntax(tmp_path, query, found):
    history = History(tmp_path / "h.db")
    draft = history.new_draft('quote " AND a*b NEAR( stuff')
    history.new_draft("nothing special here")
    hits = history.search(query)  # as FTS5 syntax these would raise, or match every row
    assert [(h.kind, h.ref) for h in hits] == ([("draft", str(draft))] if found else [])
