"""Nothing the writer types is lost: leases between instances, revision-checked saves, past
revisions, the writer thread and a disk that fills up, and a cost that stays flat with size."""

from __future__ import annotations

import subprocess
import sys
import threading

from arxiv_tui.bench.history import fill_history, write_cost_ms
from arxiv_tui.store import history as history_module
from arxiv_tui.store.history import History
from arxiv_tui.store.instance import Instance, process_start
from arxiv_tui.store.writer import HistoryWriter
from tests.helpers import fill_disk, sql


def test_a_second_instance_gets_its_own_draft_and_both_texts_survive(tmp_path):
    path = tmp_path / "h.db"
    alpha, beta = History(path), History(path)
    a, b = alpha.open_draft(), beta.open_draft()
    assert a.id != b.id
    revisions = {a.id: 0, b.id: 0}
    for n in range(1, 6):  # typing alternately, each autosave based on its own last one
        for history, draft, text in ((alpha, a.id, "alpha"), (beta, b.id, "beta")):
            revisions[draft] = history.save_draft(draft, f"{text} {n}", revisions[draft]).revision
    alpha.close()
    beta.close()
    assert sorted(d.text for d in History(path).drafts()) == ["alpha 5", "beta 5"]


def test_instances_starting_together_on_a_new_file_both_open_it(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    for attempt in range(10):  # each migration step checks the version inside its transaction
        path = tmp_path / f"h{attempt}.db"
        with ThreadPoolExecutor(3) as pool:
            histories = list(pool.map(lambda _: History(path), range(3)))  # noqa: B023 - run in this iteration
        drafts = [h.open_draft().id for h in histories]
        assert len(set(drafts)) == 3 and all(h.notice is None for h in histories)


def test_a_draft_is_opened_again_once_its_instance_has_gone(tmp_path):
    path = tmp_path / "h.db"
    first = History(path)
    draft = first.open_draft().id
    first.close()  # gives the lease back
    again = History(path)
    assert again.open_draft().id == draft
    assert History(path).open_draft().id != draft  # while `again` edits it, it is not offered


def test_a_lease_of_a_process_that_died_is_taken_over(tmp_path):
    path = tmp_path / "h.db"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    crashed = History(path, instance=Instance(pid=pid, pid_started="1"))
    draft = crashed.open_draft().id  # the process "crashed" with the lease held
    assert History(path).open_draft().id == draft
    assert History(path).claim_draft(draft) is False  # now held by a running instance


def test_a_pid_reused_by_another_process_does_not_hold_a_lease(tmp_path):
    path = tmp_path / "h.db"
    stale = History(path, instance=Instance(token="old", pid_started="0"))  # our pid, another start time
    draft = stale.open_draft().id
    assert process_start(stale.instance.pid) != "0"
    assert History(path).claim_draft(draft) is True


def test_a_save_based_on_a_stale_revision_keeps_both_texts(tmp_path):
    history = History(tmp_path / "h.db")
    draft = history.new_draft("We study")
    assert history.save_draft(draft, "We study graphs", 0).revision == 1
    stale = history.save_draft(draft, "We study robots", 0)  # another writer, still at revision 0
    assert stale.conflict and stale.revision == 1
    assert history.draft(draft).text == "We study graphs"  # the newer text stays the draft
    assert history.draft(draft).recovered == 1
    (recovered,) = [r for r in history.revisions(draft) if r.recovered]
    assert (recovered.text, recovered.revision) == ("We study robots", 0)
    assert history.revision(recovered.id) == recovered


def test_past_revisions_are_kept_at_most_one_a_minute_and_bounded(tmp_path, monkeypatch):
    history = History(tmp_path / "h.db")
    draft = history.new_draft("v0")
    revision = 0
    for n in range(1, 4):  # autosaves within a minute: only the text before the first is kept
        revision = history.save_draft(draft, f"v{n}", revision).revision
    assert [r.text for r in history.revisions(draft)] == ["v0"]
    monkeypatch.setattr(history_module, "REVISION_EVERY_S", 0.0)
    for n in range(4, 4 + history_module.KEEP_REVISIONS + 10):
        revision = history.save_draft(draft, f"v{n}", revision).revision
    kept = [r.text for r in history.revisions(draft)]
    assert len(kept) == history_module.KEEP_REVISIONS
    assert kept[0] == f"v{3 + history_module.KEEP_REVISIONS + 9}"  # the newest past text first


def test_the_writer_keeps_order_and_passes_ids_on(tmp_path):
    history = History(tmp_path / "h.db")
    writer = HistoryWriter(history)
    draft = writer.new_draft("We")
    request = writer.submit(history.add_request, draft, "m", "We", {})
    writer.submit(history.save_alternatives, request, [(" propose", 1, "length")])
    choice = writer.submit(history.add_choice, request, 0, " propose", "whole")
    follower = writer.submit(history.add_request, draft, "m", "We propose", {}, parent_choice=choice)
    assert writer.close()
    assert history.request(follower.result()).parent_choice_id == choice.result()
    assert history.request(request.result()).alternatives[0].text == " propose"


def test_saves_waiting_in_line_merge_into_the_newest(tmp_path):
    history = History(tmp_path / "h.db")
    writer = HistoryWriter(history)
    draft = writer.new_draft("").result()
    gate = threading.Event()
    writer.submit(gate.wait)  # holds the line while the saves queue up
    saves = [writer.save_draft(draft, f"text {n}") for n in range(20)]
    assert len({id(s) for s in saves}) == 1
    gate.set()
    assert writer.close() and saves[-1].result().revision == 1
    assert history.draft(draft).text == "text 19"


def test_a_full_disk_keeps_every_write_waiting_until_it_takes_them(tmp_path):
    history = History(tmp_path / "h.db")
    troubles: list[Exception | None] = []
    writer = HistoryWriter(history, on_trouble=troubles.append)
    draft = writer.new_draft("An abstract").result()
    fill_disk(history, full=True)
    saves = [writer.save_draft(draft, "An abstract, longer " + "x" * 20_000 * n) for n in (1, 2)]
    request = writer.submit(history.add_request, draft, "m", "An abstract", {})
    assert not writer.flush(timeout=1.0)
    assert troubles and "full" in str(troubles[0]) and writer.trouble is not None
    assert history.draft(draft).text == "An abstract"  # what was saved stays readable and whole
    fill_disk(history, full=False)
    assert writer.flush(timeout=10.0)
    assert troubles[-1] is None and writer.trouble is None
    assert history.draft(draft).text == "An abstract, longer " + "x" * 40_000
    assert saves[0] is saves[1] and history.request(request.result()).prompt == "An abstract"


def test_a_write_that_is_wrong_in_itself_is_dropped_and_told(tmp_path):
    history = History(tmp_path / "h.db")
    failed: list[Exception] = []
    writer = HistoryWriter(history, on_failed=failed.append)
    bad = writer.submit(history.save_draft, 999, "no such draft", 0)
    after = writer.new_draft("still written")
    assert writer.close()
    assert isinstance(bad.exception(), LookupError) and failed == [bad.exception()]
    assert history.draft(after.result()).text == "still written"


def test_the_cost_of_a_write_stays_flat_with_100_000_requests(tmp_path):
    empty = History(tmp_path / "empty.db")
    full = History(tmp_path / "full.db")
    fill_history(full, 100_000)  # 300,000 alternatives, 4,000 drafts, 50,000 choices
    assert sql(full.path, "SELECT count(*) FROM alternatives") == [(300_000,)]
    ratios = sorted(write_cost_ms(full, 150) / write_cost_ms(empty, 150) for _ in range(3))
    assert ratios[1] < 3.0, ratios
