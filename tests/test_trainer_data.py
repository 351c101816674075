"""Training data: every file format, cleaning, category filters, the seeded split, packing."""

from __future__ import annotations

import json

import pytest

from arxiv_tui.trainer.data.blocks import IGNORE, rows_in_memory
from arxiv_tui.trainer.data.records import DataError, Record
from arxiv_tui.trainer.data.selection import load_corpus, paper_abstract, select
from arxiv_tui.trainer.data.sources import read_records


def texts_of(path) -> list[str]:
    return sorted(" ".join(r.text.split()) for r in read_records(str(path)))


def test_txt_is_split_on_blank_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("First abstract\nspans two lines.\n\n  \nSecond one.\n\n\nThird.\n")
    assert texts_of(path) == ["First abstract spans two lines.", "Second one.", "Third."]


def test_jsonl_takes_abstract_or_text_and_categories(tmp_path):
    path = tmp_path / "a.jsonl"
    rows = [
        {"abstract": "One.", "categories": "cs.AI cs.LG"},
        {"text": "Two.", "label": "cs.CV"},
        {"title": "no text here"},
        {"abstract": "Three.", "categories": ["math.ST"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    records = list(read_records(str(path)))
    assert [(r.text, r.categories) for r in records] == [
        ("One.", ("cs.AI", "cs.LG")),
        ("Two.", ("cs.CV",)),
        ("Three.", ("math.ST",)),
    ]


def test_json_array_and_json_lines_under_a_json_name(tmp_path):
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"abstract": "A."}, {"summary": "B."}]))
    kaggle = tmp_path / "arxiv-metadata-oai-snapshot.json"
    kaggle.write_text('{"id": "1", "abstract": "  C.\\n", "categories": "cs.AI"}\n{"id": "2", "abstract": "D."}\n')
    assert texts_of(array) == ["A.", "B."]
    assert texts_of(kaggle) == ["C.", "D."]


def test_csv_with_multi_line_quoted_fields(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(
        'Title,Summary,terms\n"T1","A summary\nover, two lines","[\'cs.AI\', \'cs.LG\']"\nT2,"He said ""hi"".",cs.CV\n'
    )
    records = list(read_records(str(path)))
    assert [r.text for r in records] == ["A summary\nover, two lines", 'He said "hi".']
    assert records[0].categories == ("cs.AI", "cs.LG")


def test_bib_abstracts_with_nested_braces_and_quotes(tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text(
        "@article{a, title = {An abstract view}, abstract = {We study {GPT}-2 and \\emph{small} models at 50\\%.},\n"
        " year = 2020}\n"
        '@inproceedings{b, ABSTRACT = "Quoted {abstract} text.", author = {X}}\n'
        "@misc{c, title = {No abstract here}}\n"
    )
    assert texts_of(path) == ["Quoted abstract text.", "We study GPT-2 and small models at 50%."]


def test_whitespace_normalised_and_duplicates_dropped():
    records = [Record("Same  text\n here."), Record("Same text here."), Record("Other.")]
    corpus = select(records, source="x", train_samples=10, eval_samples=1, seed=1)
    assert sorted([*corpus.train, *corpus.eval]) == ["Other.", "Same text here."]
    assert corpus.stats.duplicates == 1


def test_category_filter_keeps_only_matching_labelled_texts():
    records = [Record(f"ai {i}", ("cs.AI",)) for i in range(5)] + [Record(f"math {i}", ("math.ST",)) for i in range(5)]
    corpus = select(records, source="x", train_samples=10, eval_samples=1, seed=1, categories=["cs.AI", "cs.LG"])
    assert sorted([*corpus.train, *corpus.eval]) == [f"ai {i}" for i in range(5)]
    assert corpus.stats.filtered_out == 5


def test_category_filter_on_a_source_without_categories_says_so():
    corpus = select(
        [Record(f"t{i}") for i in range(20)],
        source="a.txt",
        train_samples=10,
        eval_samples=2,
        seed=0,
        categories=["cs.AI"],
    )
    assert len(corpus.train) == 10 and corpus.stats.notes and "no categories" in corpus.stats.notes[0]


def test_split_is_deterministic_disjoint_and_independent_of_order():
    records = [Record(f"abstract number {i}.") for i in range(300)]
    first = select(records, source="x", train_samples=100, eval_samples=20, seed=7)
    shuffled = select(list(reversed(records)), source="x", train_samples=100, eval_samples=20, seed=7)
    assert list(first.train) == list(shuffled.train) and list(first.eval) == list(shuffled.eval)
    assert len(first.train) == 100 and len(first.eval) == 20
    assert not set(first.train) & set(first.eval)
    other_seed = select(records, source="x", train_samples=100, eval_samples=20, seed=8)
    assert list(other_seed.eval) != list(first.eval)


def test_eval_set_does_not_move_when_samples_change():
    records = [Record(f"abstract number {i}.") for i in range(300)]
    small = select(records, source="x", train_samples=50, eval_samples=20, seed=3)
    large = select(records, source="x", train_samples=250, eval_samples=20, seed=3)
    assert list(small.eval) == list(large.eval)
    assert set(small.train) <= set(large.train)


def test_short_source_holds_out_a_tenth():
    corpus = select([Record(f"t{i}") for i in range(30)], source="x", train_samples=100, eval_samples=20, seed=0)
    assert (len(corpus.train), len(corpus.eval)) == (27, 3)


def test_paper_abstract_found_or_opening_used():
    paper = "Title of paper\nAuthors\nAbstract\n" + "We do things. " * 30 + "\n1 Introduction\nBody text " * 50
    abstract, found = paper_abstract(paper)
    assert found and abstract.startswith("We do things.") and "Introduction" not in abstract
    opening, found = paper_abstract("no heading " * 500)
    assert not found and len(opening.split()) == 200


def test_pack_makes_full_rows_without_padding():
    blocks = rows_in_memory([[1, 2, 3], [4, 5], [6, 7, 8, 9]], 4, packed=True, pad_id=0)
    input_ids, labels = blocks.rows(slice(None))
    assert input_ids.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert (labels == input_ids).all() and blocks.target_tokens == 2 * 3


def test_pad_cuts_and_ignores_padding():
    blocks = rows_in_memory([[1, 2, 3, 4, 5], [6, 7]], 4, packed=False, pad_id=0)
    input_ids, labels = blocks.rows(slice(None))
    assert input_ids.tolist() == [[1, 2, 3, 4], [6, 7, 0, 0]]
    assert labels.tolist() == [[1, 2, 3, 4], [6, 7, IGNORE, IGNORE]]
    assert blocks.target_tokens == 3 + 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "does not exist"),
        ("blob.txt", b"\x00\x01\x02binary", "binary file"),
        ("bad.jsonl", b'{"abstract": "ok"}\n{"abstract": broken}\n', "bad.jsonl:2: malformed JSON"),
        ("empty.txt", b"   \n\n  \t\n", "no usable text"),
        ("cols.csv", b"title,year\nA,2020\n", "no 'abstract', 'text' or 'summary' column (columns: title, year)"),
        ("refs.bib", b"@misc{a, title={T}}\n", "no entries with an abstract"),
        ("paper.pdf", b"%PDF-1.4", "unsupported file type"),
    ],
)
def test_unreadable_sources_raise_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError) as error:
        load_corpus(str(path), train_samples=10, eval_samples=2, seed=0)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert error.value.exit_code == 2


def test_hub_source_offline_is_a_network_error():
    with pytest.raises(DataError) as error:
        load_corpus("hf:ccdv/arxiv-classification", train_samples=10, eval_samples=2, seed=0)
    assert "cannot load hf:ccdv/arxiv-classification" in str(error.value)
    assert error.value.exit_code == 1 and "\n" not in str(error.value)


def test_history_source_reads_the_writers_own_text(user_dirs):
    from arxiv_tui.store.history import History

    with pytest.raises(DataError, match="no history at"):
        load_corpus("history:", train_samples=10, eval_samples=1, seed=0)
    history = History()
    for i in range(12):
        draft = history.new_draft(f"Draft {i} about graphs.")
        request = history.add_request(draft, "m", f"Draft {i}", {})
        history.add_choice(request, 0, " continues here.", "whole")
    history.close()
    corpus = load_corpus("history:", train_samples=100, eval_samples=2, seed=0)
    texts = sorted([*corpus.train, *corpus.eval])
    assert texts == sorted(
        [f"Draft {i} about graphs." for i in range(12)] + [f"Draft {i} continues here." for i in range(12)]
    )
