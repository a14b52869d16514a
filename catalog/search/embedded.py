"""Embedded catalog search: SQLite FTS5 in its own index file.

Layout of the index file:

* ``docs``: one row per app with the filter and sort columns, plus the distinct
  terms of the document (kept so vocabulary counts stay right on replace/delete).
* ``docs_fts``: an FTS5 table over the searchable fields. Text is normalised and
  tokenised in Python (:func:`tokenize`) before it is stored, so the FTS5
  tokenizer, the vocabulary below and query parsing all agree on what a term is.
* ``vocab``: every indexed term with its document count. A query word that is
  not an indexed term (or is a rare one) is expanded to the terms within a
  small Damerau-Levenshtein distance. As in Meilisearch, a typo on the first
  letter counts as two, so candidates are the terms that start with the same
  letter and have a length within the budget: one range of the primary key,
  cached in memory per generation and compared in C by rapidfuzz. (A trigram
  index of the vocabulary is slower here: with a typo budget of 2 the
  shared-trigram bound is too weak to skip the long posting lists of trigrams
  such as "^pe" and "an$", which a large share of Indonesian words have.)
* ``meta``: a generation token that every write changes.

FTS5 finds the matching documents; filters, facet counts and sorting then run
on an in-memory copy of the (small) filter columns and sort orders, rebuilt
whenever the generation token changes. Facets are counted with bitmasks: in
SQL each facet would take a GROUP BY pass over all matches, slow for common
words.

sqlite3 is synchronous, so every call runs in a worker thread; one connection
writes and another reads (WAL lets searches run while a reindex writes).
"""

from __future__ import annotations

import asyncio
import heapq
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from catalog.search import FACETS, SearchDocument, SearchQuery, SearchResult, fold, validate_query

__all__ = ["EmbeddedSearch", "tokenize", "typo_budget"]

SCHEMA_VERSION = 2

# Searchable columns, in ranking order, with their bm25 weights.
_COLUMNS: tuple[tuple[str, float], ...] = (
    ("name", 10.0),
    ("name_en", 8.0),
    ("aliases", 8.0),
    ("tags", 5.0),
    ("summary", 4.0),
    ("summary_en", 3.0),
    ("description", 1.0),
)
# Ranking tiers by where a document matched: names, then names + summaries, then anywhere.
_TIER_COLUMNS = ("{name name_en aliases}", "{name name_en aliases tags summary summary_en}")
_BM25 = "bm25(docs_fts, " + ", ".join(str(weight) for _, weight in _COLUMNS) + ")"

# Meilisearch also looks at no more than the first ten words of a query.
MAX_QUERY_WORDS = 10
# Fuzzy alternatives kept per query word; more only slows the FTS query down.
MAX_EXPANSIONS = 12
# A query word found in at most this many documents is still typo-corrected.
RARE_TERM_DOCS = 2
# Shortest and longest query words that are corrected.
MIN_FUZZY_LENGTH = 4
MAX_FUZZY_LENGTH = 40
_PREFIX_MIN_LENGTH = 2
# Keeps each "IN (...)" list well under SQLite's bound-parameter limit.
_CHUNK = 500
_TOP = "\U0010ffff"  # sorts after every other character, to bound prefix ranges
# Replacement first letters tried for a first-letter typo (Latin script only).
_FIRST_LETTERS = "abcdefghijklmnopqrstuvwxyz"

_WORD = re.compile(r"[^\W_]+")

_T = TypeVar("_T")


# -- text ------------------------------------------------------------------------------


def tokenize(text: str) -> list[str]:
    """Split text into normalised terms: runs of letters and digits, everything else separates."""
    return _WORD.findall(fold(text))


def typo_budget(word: str) -> int:
    """How many edits a query word may be away from an indexed term."""
    if not MIN_FUZZY_LENGTH <= len(word) <= MAX_FUZZY_LENGTH or any(ch.isdigit() for ch in word):
        return 0
    return 1 if len(word) < 8 else 2


def _fts_phrase(term: str) -> str:
    # Terms only hold letters and digits, but quoting keeps FTS5 keywords such as
    # NEAR, AND, OR, NOT from being read as operators.
    return '"' + term.replace('"', '""') + '"'


def _chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _placeholders(count: int) -> str:
    return ",".join("?" * count)


def _bitmask(ids: Iterable[int], size: int) -> int:
    """A set of document ids as an int with those bits set."""
    buffer = bytearray(size // 8 + 1)
    for id_ in ids:
        buffer[id_ >> 3] |= 1 << (id_ & 7)
    return int.from_bytes(buffer, "little")


# -- schema ----------------------------------------------------------------------------

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('generation', lower(hex(randomblob(8))));
CREATE TABLE docs (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name_sort TEXT NOT NULL,
    category TEXT NOT NULL,
    publisher TEXT NOT NULL,
    province TEXT NOT NULL,
    license TEXT NOT NULL,
    adoptions INTEGER NOT NULL,
    published_at REAL NOT NULL,
    terms TEXT NOT NULL
);
CREATE INDEX docs_adoptions ON docs (adoptions DESC, slug);
CREATE INDEX docs_browse ON docs (adoptions DESC, name_sort, slug);
CREATE INDEX docs_newest ON docs (published_at DESC, slug);
CREATE INDEX docs_name ON docs (name_sort, slug);
CREATE VIRTUAL TABLE docs_fts USING fts5 (
    {", ".join(name for name, _ in _COLUMNS)},
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
CREATE TABLE vocab (term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID;
PRAGMA user_version = {SCHEMA_VERSION};
"""

_DROP = """
DROP TABLE IF EXISTS meta;
DROP TABLE IF EXISTS docs;
DROP TABLE IF EXISTS docs_fts;
DROP TABLE IF EXISTS vocab;
DROP TABLE IF EXISTS vocab_grams;  -- in files of schema version 1
"""

# ORDER BY clauses per sort; "browse" is "relevance" without text.
_ORDER = {
    "adoptions": "adoptions DESC, slug",
    "newest": "published_at DESC, slug",
    "name": "name_sort, slug",
    "browse": "adoptions DESC, name_sort, slug",
}

_NEW_GENERATION = "UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'generation'"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    # The index is derived data that a reindex rebuilds; losing the last
    # transactions on power failure is acceptable, a slow commit is not.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _document_texts(doc: SearchDocument) -> tuple[tuple[str, ...], set[str]]:
    texts = (
        doc.name,
        doc.name_en,
        " ".join(doc.aliases),
        " ".join(doc.tags),
        doc.summary,
        doc.summary_en,
        doc.description,
    )
    tokenized = [tokenize(text) for text in texts]
    terms: set[str] = set()
    for tokens in tokenized:
        terms.update(tokens)
    return tuple(" ".join(tokens) for tokens in tokenized), terms


# -- query planning --------------------------------------------------------------------


class _Plan:
    """The FTS5 expressions for one query text."""

    def __init__(self, match: str, exact: str | None, fuzzy: bool) -> None:
        self.match = match  # every word: exact, prefix or corrected
        self.exact = exact  # every word exact or prefix; None when some word has no such match
        self.fuzzy = fuzzy  # whether any correction was added


def _query_words(text: str) -> list[str]:
    words: list[str] = []
    for token in tokenize(text):
        if token in words:
            # a repeated word still ends the query, so it stays prefix-matched
            words.remove(token)
        words.append(token)
    return words[:MAX_QUERY_WORDS]


def _plan(conn: sqlite3.Connection, snapshot: _Snapshot, words: list[str]) -> _Plan | None:
    """Build the match expressions, or None when some word can match nothing."""
    known: dict[str, int] = dict(
        conn.execute(f"SELECT term, docs FROM vocab WHERE term IN ({_placeholders(len(words))})", words)
    )
    groups: list[str] = []
    exact_groups: list[str] | None = []
    fuzzy = False
    for position, word in enumerate(words):
        last = position == len(words) - 1
        alternatives: list[str] = []
        if last and len(word) >= _PREFIX_MIN_LENGTH:
            completes = word in known or (
                conn.execute("SELECT 1 FROM vocab WHERE term > ? AND term < ? LIMIT 1", (word, word + _TOP)).fetchone()
                is not None
            )
            if completes:
                alternatives.append(_fts_phrase(word) + "*")
        elif word in known:
            alternatives.append(_fts_phrase(word))
        exact_alternatives = list(alternatives)
        # A word that only a few documents contain is corrected as well: common
        # misspellings ("perijinan") also turn up in some descriptions.
        if known.get(word, 0) <= RARE_TERM_DOCS:
            corrections = [_fts_phrase(term) for term in snapshot.corrections(conn, word)]
            if last and not alternatives and not corrections:
                # A last word that completes nothing may be the misspelt start of
                # a word ("perijin"): look for corrected prefixes.
                corrections = [_fts_phrase(prefix) + "*" for prefix in snapshot.prefix_corrections(conn, word)]
            alternatives.extend(corrections)
            fuzzy = fuzzy or bool(corrections)
        if not alternatives:
            return None
        groups.append("(" + " OR ".join(alternatives) + ")")
        if exact_groups is not None:
            if exact_alternatives:
                exact_groups.append("(" + " OR ".join(exact_alternatives) + ")")
            else:
                exact_groups = None
    exact = " AND ".join(exact_groups) if exact_groups is not None else None
    return _Plan(" AND ".join(groups), exact, fuzzy)


def _match_ids(conn: sqlite3.Connection, expression: str) -> list[int]:
    return [row[0] for row in conn.execute("SELECT rowid FROM docs_fts WHERE docs_fts MATCH ?", (expression,))]


def _scores(conn: sqlite3.Connection, expression: str) -> dict[int, float]:
    return dict(conn.execute(f"SELECT rowid, {_BM25} FROM docs_fts WHERE docs_fts MATCH ?", (expression,)))


# -- in-memory filter and sort columns ----------------------------------------------------


class _Snapshot:
    """The filter columns of every document at one index generation, and its sort orders."""

    def __init__(self, generation: str, rows: list[tuple[int, str, str, str, str, str]]) -> None:
        # row: id, slug, category, publisher, province, license
        self.generation = generation
        self.size = max((row[0] for row in rows), default=0) + 1
        self.slugs: dict[int, str] = {row[0]: row[1] for row in rows}
        self.all = _bitmask(self.slugs, self.size)
        members: dict[str, dict[str, list[int]]] = {facet: {} for facet in FACETS}
        for row in rows:
            for facet, value in zip(FACETS, row[2:6]):
                members[facet].setdefault(value, []).append(row[0])
        self.members = {
            facet: {value: frozenset(ids) for value, ids in by_value.items()} for facet, by_value in members.items()
        }
        self.masks = {
            facet: {value: _bitmask(ids, self.size) for value, ids in by_value.items()}
            for facet, by_value in members.items()
        }
        # Sort orders are read from their indexes on first use: most generations
        # only ever serve one or two of them.
        self._orders: dict[str, list[int]] = {}
        self._ranks: dict[str, dict[int, int]] = {}
        # vocabulary by first letter, then by length: (terms, document counts)
        self._vocabulary: dict[str, dict[int, tuple[list[str], list[int]]]] = {}
        self._prefixes: dict[tuple[str, int], list[str]] = {}

    def order(self, conn: sqlite3.Connection, sort: str) -> list[int]:
        """Every document id in a sort order (``conn`` must see this generation)."""
        if sort not in self._orders:
            self._orders[sort] = [row[0] for row in conn.execute(f"SELECT id FROM docs ORDER BY {_ORDER[sort]}")]
        return self._orders[sort]

    def rank(self, conn: sqlite3.Connection, sort: str) -> dict[int, int]:
        """Each document id's position in a sort order."""
        if sort not in self._ranks:
            self._ranks[sort] = {id_: position for position, id_ in enumerate(self.order(conn, sort))}
        return self._ranks[sort]

    def _terms_starting_with(self, conn: sqlite3.Connection, letter: str) -> dict[int, tuple[list[str], list[int]]]:
        if letter not in self._vocabulary:
            by_length: dict[int, tuple[list[str], list[int]]] = {}
            for term, docs in conn.execute(
                "SELECT term, docs FROM vocab WHERE term >= ? AND term < ?", (letter, letter + _TOP)
            ):
                terms, counts = by_length.setdefault(len(term), ([], []))
                terms.append(term)
                counts.append(docs)
            self._vocabulary[letter] = by_length
        return self._vocabulary[letter]

    def corrections(self, conn: sqlite3.Connection, word: str) -> list[str]:
        """Indexed terms within the typo budget of ``word``, closest and most common first."""
        budget = typo_budget(word)
        if budget == 0:
            return []
        found: dict[str, tuple[int, int]] = {}  # term -> (distance, documents)
        by_length = self._terms_starting_with(conn, word[0])
        for length in range(len(word) - budget, len(word) + budget + 1):
            terms, counts = by_length.get(length, ((), ()))
            for term, distance, index in process.extract(
                word, terms, scorer=DamerauLevenshtein.distance, score_cutoff=budget, limit=None
            ):
                found[term] = (int(distance), counts[index])
        if budget >= 2:
            # A typo on the first letter costs two: then the rest must be exact.
            variants = {word[1:], word[1] + word[0] + word[2:]}
            variants.update(letter + word[1:] for letter in _FIRST_LETTERS)
            variants.update(letter + word for letter in _FIRST_LETTERS)
            variants.discard(word)
            listed = sorted(variants)
            for term, docs in conn.execute(
                f"SELECT term, docs FROM vocab WHERE term IN ({_placeholders(len(listed))})", listed
            ):
                found.setdefault(term, (2, docs))
        found.pop(word, None)
        ranked = sorted(found.items(), key=lambda item: (item[1][0], -item[1][1], item[0]))
        return [term for term, _ in ranked[:MAX_EXPANSIONS]]

    def prefix_corrections(self, conn: sqlite3.Connection, word: str) -> list[str]:
        """Beginnings of indexed terms within the typo budget of ``word``, closest first."""
        budget = typo_budget(word)
        if budget == 0:
            return []
        found: dict[str, int] = {}
        for length in range(len(word) - budget, len(word) + budget + 1):
            key = (word[0], length)
            if key not in self._prefixes:
                by_length = self._terms_starting_with(conn, word[0])
                self._prefixes[key] = sorted(
                    {term[:length] for size, (terms, _) in by_length.items() if size >= length for term in terms}
                )
            for prefix, distance, _ in process.extract(
                word, self._prefixes[key], scorer=DamerauLevenshtein.distance, score_cutoff=budget, limit=None
            ):
                found[prefix] = min(int(distance), found.get(prefix, budget))
        return sorted(found, key=lambda prefix: (found[prefix], prefix))[:MAX_EXPANSIONS]

    def allowed(self, filters: dict[str, str]) -> frozenset[int] | None:
        """Ids passing every filter, or None when nothing is filtered."""
        allowed: frozenset[int] | None = None
        for facet, value in filters.items():
            ids = self.members[facet].get(value, frozenset())
            allowed = ids if allowed is None else allowed & ids
        return allowed

    def count(self, hits: int, filters: dict[str, str]) -> tuple[int, dict[str, dict[str, int]]]:
        """The total under all filters and the disjunctive facet counts."""
        filter_masks = {facet: self.masks[facet].get(value, 0) for facet, value in filters.items()}
        total = hits
        for mask in filter_masks.values():
            total &= mask
        facets: dict[str, dict[str, int]] = {}
        for facet in FACETS:
            base = hits
            for other, mask in filter_masks.items():
                if other != facet:
                    base &= mask
            counts: dict[str, int] = {}
            if base:
                for value, mask in self.masks[facet].items():
                    if value and (n := (base & mask).bit_count()):
                        counts[value] = n
            facets[facet] = counts
        return total.bit_count(), facets

    def first(self, conn: sqlite3.Connection, sort: str, ids: Iterable[int] | None, count: int) -> list[int]:
        """The first ``count`` of ``ids`` (all documents when None) in a sort order."""
        if ids is None:
            return self.order(conn, sort)[:count]
        return heapq.nsmallest(count, ids, key=self.rank(conn, sort).__getitem__)


# -- backend ---------------------------------------------------------------------------


class EmbeddedSearch:
    """Catalog search over SQLite FTS5, stored in its own index file."""

    def __init__(self, index_path: Path) -> None:
        self.index_path = Path(index_path)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._snapshot: _Snapshot | None = None
        self._closed = False

    # public API

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        """Add documents, replacing any already indexed under the same slug."""
        batch = list({doc.slug: doc for doc in documents}.values())
        if batch:
            await asyncio.to_thread(self._write, self._upsert, batch)

    async def delete(self, slugs: Sequence[str]) -> None:
        """Remove documents by slug; unknown slugs are ignored."""
        unique = list(dict.fromkeys(slugs))
        if unique:
            await asyncio.to_thread(self._write, self._delete, unique)

    async def clear(self) -> None:
        """Remove every document."""
        await asyncio.to_thread(self._write, self._clear)

    async def search(self, query: SearchQuery) -> SearchResult:
        """Run a query; raises ``ValueError`` for out-of-range queries."""
        validate_query(query)
        return await asyncio.to_thread(self._read, query)

    async def close(self) -> None:
        """Close the index file; the backend cannot be used afterwards."""
        await asyncio.to_thread(self._close)

    # connections

    def _writer_conn(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the search index is closed")
        if self._writer is None:
            self.index_path.parent.mkdir(parents=True, exist_ok=True)
            conn = _connect(self.index_path)
            try:
                self._ensure_schema(conn)
            except BaseException:
                conn.close()
                raise
            self._writer = conn
        return self._writer

    @staticmethod
    def _ensure_schema(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                # An index of another layout is rebuilt empty: it only holds data
                # that a reindex from the catalog database recreates.
                for statement in (_DROP + _SCHEMA).split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _write(self, action: Callable[..., None], *args: object) -> None:
        with self._write_lock:
            conn = self._writer_conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                action(conn, *args)
                conn.execute(_NEW_GENERATION)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _read(self, query: SearchQuery) -> SearchResult:
        with self._read_lock:
            if self._closed:
                raise RuntimeError("the search index is closed")
            if self._reader is None:
                with self._write_lock:
                    self._writer_conn()  # creates the schema if needed
                self._reader = _connect(self.index_path)
            conn = self._reader
            # One read transaction, so vocabulary, matches and snapshot agree.
            conn.execute("BEGIN")
            try:
                return self._search(conn, self._current_snapshot(conn), query)
            finally:
                conn.execute("COMMIT")

    def _current_snapshot(self, conn: sqlite3.Connection) -> _Snapshot:
        generation = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
        if self._snapshot is None or self._snapshot.generation != generation:
            rows = conn.execute("SELECT id, slug, category, publisher, province, license FROM docs").fetchall()
            self._snapshot = _Snapshot(generation, rows)
        return self._snapshot

    def _close(self) -> None:
        with self._read_lock, self._write_lock:
            self._closed = True
            for conn in (self._reader, self._writer):
                if conn is not None:
                    conn.close()
            self._reader = self._writer = None
            self._snapshot = None

    # writes

    def _upsert(self, conn: sqlite3.Connection, documents: list[SearchDocument]) -> None:
        existing: dict[str, tuple[int, str]] = {}
        for chunk in _chunks([doc.slug for doc in documents]):
            for id_, slug, terms in conn.execute(
                f"SELECT id, slug, terms FROM docs WHERE slug IN ({_placeholders(len(chunk))})", chunk
            ):
                existing[slug] = (id_, terms)

        delta: Counter[str] = Counter()
        fts_rows: list[tuple[object, ...]] = []
        replaced: list[tuple[int]] = []
        for doc in documents:
            texts, terms = _document_texts(doc)
            columns = (
                fold(doc.name).strip(),
                doc.category,
                doc.publisher,
                doc.province,
                doc.license,
                int(doc.adoptions),
                float(doc.published_at),
                " ".join(sorted(terms)),
            )
            delta.update(terms)
            previous = existing.get(doc.slug)
            if previous is None:
                cursor = conn.execute(
                    """INSERT INTO docs (name_sort, category, publisher, province, license,
                                         adoptions, published_at, terms, slug)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (*columns, doc.slug),
                )
                id_ = cursor.lastrowid
            else:
                id_, old_terms = previous
                delta.subtract(old_terms.split())
                conn.execute(
                    """UPDATE docs SET name_sort = ?, category = ?, publisher = ?, province = ?,
                                       license = ?, adoptions = ?, published_at = ?, terms = ?
                       WHERE id = ?""",
                    (*columns, id_),
                )
                replaced.append((id_,))
            fts_rows.append((id_, *texts))
        conn.executemany("DELETE FROM docs_fts WHERE rowid = ?", replaced)
        conn.executemany(
            f"INSERT INTO docs_fts (rowid, {', '.join(name for name, _ in _COLUMNS)})"
            f" VALUES ({_placeholders(len(_COLUMNS) + 1)})",
            fts_rows,
        )
        self._apply_vocab(conn, delta)

    def _delete(self, conn: sqlite3.Connection, slugs: list[str]) -> None:
        delta: Counter[str] = Counter()
        ids: list[tuple[int]] = []
        for chunk in _chunks(slugs):
            for id_, terms in conn.execute(
                f"SELECT id, terms FROM docs WHERE slug IN ({_placeholders(len(chunk))})", chunk
            ):
                ids.append((id_,))
                delta.subtract(terms.split())
        conn.executemany("DELETE FROM docs WHERE id = ?", ids)
        conn.executemany("DELETE FROM docs_fts WHERE rowid = ?", ids)
        self._apply_vocab(conn, delta)

    @staticmethod
    def _clear(conn: sqlite3.Connection) -> None:
        for table in ("docs", "docs_fts", "vocab"):
            conn.execute(f"DELETE FROM {table}")

    @staticmethod
    def _apply_vocab(conn: sqlite3.Connection, delta: Counter[str]) -> None:
        changed = [term for term, change in delta.items() if change]
        counts: dict[str, int] = {}
        for chunk in _chunks(changed):
            counts.update(
                conn.execute(f"SELECT term, docs FROM vocab WHERE term IN ({_placeholders(len(chunk))})", chunk)
            )
        added: list[str] = []
        updated: list[tuple[int, str]] = []
        removed: list[str] = []
        for term in changed:
            before = counts.get(term, 0)
            after = before + delta[term]
            if after > 0 and before == 0:
                added.append(term)
            elif after > 0:
                updated.append((after, term))
            elif before > 0:
                removed.append(term)
        conn.executemany("INSERT INTO vocab (term, docs) VALUES (?, ?)", ((t, delta[t]) for t in added))
        conn.executemany("UPDATE vocab SET docs = ? WHERE term = ?", updated)
        conn.executemany("DELETE FROM vocab WHERE term = ?", ((t,) for t in removed))

    # search

    @staticmethod
    def _search(conn: sqlite3.Connection, snapshot: _Snapshot, query: SearchQuery) -> SearchResult:
        filters = query.filters()
        allowed = snapshot.allowed(filters)
        wanted = query.offset + query.limit
        words = _query_words(query.text)
        if not words:
            total, facets = snapshot.count(snapshot.all, filters)
            sort = "browse" if query.sort == "relevance" else query.sort
            page = snapshot.first(conn, sort, allowed, wanted)
        else:
            plan = _plan(conn, snapshot, words)
            if plan is None:
                return SearchResult(slugs=[], total=0, facets={facet: {} for facet in FACETS})
            ids = _match_ids(conn, plan.match)
            total, facets = snapshot.count(_bitmask(ids, snapshot.size), filters)
            candidates = ids if allowed is None else [id_ for id_ in ids if id_ in allowed]
            if query.sort == "relevance":
                page = _rank(conn, snapshot, plan, candidates, wanted)
            else:
                page = snapshot.first(conn, query.sort, candidates, wanted)
        return SearchResult(slugs=[snapshot.slugs[id_] for id_ in page[query.offset :]], total=total, facets=facets)


def _rank(conn: sqlite3.Connection, snapshot: _Snapshot, plan: _Plan, candidates: list[int], wanted: int) -> list[int]:
    """The first ``wanted`` candidates by relevance.

    Order: documents matching every word exactly (or as a prefix) before those
    that needed a typo correction; within that, all words found in the names,
    then in names and summaries, then anywhere; then bm25 with column weights;
    then slug. bm25 is only computed for the groups that reach the page, which
    keeps queries for very common words cheap.
    """
    # Without corrections every match is exact; without an exact plan none is.
    exact_ids = set(_match_ids(conn, plan.exact)) if plan.fuzzy and plan.exact is not None else None
    all_exact = plan.exact is not None

    def exact(id_: int) -> bool:
        return id_ in exact_ids if exact_ids is not None else all_exact

    in_names = set(_match_ids(conn, f"{_TIER_COLUMNS[0]} : ({plan.match})"))
    # (exact, tier) groups in rank order; tiers 1 and 2 are split only when reached
    groups: dict[tuple[bool, int], list[int]] = {(True, 0): [], (True, 1): [], (False, 0): [], (False, 1): []}
    for id_ in candidates:
        groups[(exact(id_), 0 if id_ in in_names else 1)].append(id_)
    in_summaries: set[int] | None = None
    page: list[int] = []
    for is_exact in (True, False):
        for tier in (0, 1, 2):
            if tier == 0:
                members = groups[(is_exact, 0)]
            else:
                if in_summaries is None:
                    in_summaries = set(_match_ids(conn, f"{_TIER_COLUMNS[1]} : ({plan.match})"))
                rest = groups[(is_exact, 1)]
                members = [i for i in rest if (i in in_summaries) == (tier == 1)]
            if not members:
                continue
            if len(members) > 1:
                expression = plan.match if tier == 2 else f"{_TIER_COLUMNS[tier]} : ({plan.match})"
                scores = _scores(conn, expression)
                slugs = snapshot.slugs
                members = sorted(members, key=lambda i: (scores.get(i, 0.0), slugs[i]))
            page.extend(members[: wanted - len(page)])
            if len(page) >= wanted:
                return page
    return page
