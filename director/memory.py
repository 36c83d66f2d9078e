"""Viewer memory: who came back, what they gave, and the few things they told the avatar.

Stored in the ledger's own SQLite file (`viewers` and `viewer_facts` tables on the ledger's
connection), not a second database: an event and what it taught us about its viewer are written
in the same transaction the ledger already opens per batch and commits once per tick, so memory
costs no extra commit (fsync) on the tick path, a crash can never leave the two disagreeing, and
`--state DIR` keeps being the one thing a streamer backs up or deletes. Rejected: a second DB file
in the state folder (a second WAL, a second commit per tick, and no atomicity with the events).
The tables are created with IF NOT EXISTS, so ledgers from before this module gain them in place.

Per (platform, viewer id): the name last seen, first/last seen (wall-clock epoch seconds, for
"last seen 3 days ago"), visits, gift total (show currency: `Event.money`), membership level (the
highest seen: platforms omit the level on some frames, and a lapse is not worth a false "you left
the club"), and chat count. A visit starts with the viewer's first event of a run, or after
`visit_gap_s` (default 30 min) of show time without one; a viewer starting their second or later
visit is queued as *returning*, which the `greet_regulars` behaviour turns into a "welcome back".

Facts are short third-person notes in the viewer's language ("has a cat called Mochi",
"名字是小明", "is from Osaka", "喜欢猫"), extracted by a handful of zh/en patterns from chat the
moderator let through (injected text never becomes memory), or given by the dialogue model with
`remember()`. Each fact has a slot ("name", "from", "pet:cat", "likes:猫"...), so a newer fact
replaces the one it contradicts; a viewer keeps at most `MAX_FACTS` (oldest dropped). Rejected:
asking the model to extract facts from every message (a generation per message on 2 cores).

Profiles are cached in memory after the first read, so `observe` costs one UPSERT per event and
no SELECT for a viewer already seen this run. `forget()` removes the viewer's rows and blanks their
name and text in the event log (the rows stay: they are the run's accounting; events not handled
yet are closed as `forgotten`). Lines already spoken (the speech table) are not rewritten.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from director.events import Chat, Event, Gift, Membership, Speech, SuperChat, Viewer

if TYPE_CHECKING:
    from director.clock import Clock
    from director.ledger import Ledger

log = logging.getLogger("director.memory")

SCHEMA = """
CREATE TABLE IF NOT EXISTS viewers (
    platform TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL, last_seen_s REAL NOT NULL,
    last_run INTEGER NOT NULL, visits INTEGER NOT NULL, gift_total REAL NOT NULL,
    level INTEGER NOT NULL, chats INTEGER NOT NULL,
    PRIMARY KEY (platform, id));
CREATE INDEX IF NOT EXISTS viewers_name ON viewers (name);
CREATE TABLE IF NOT EXISTS viewer_facts (
    platform TEXT NOT NULL, id TEXT NOT NULL, slot TEXT NOT NULL, fact TEXT NOT NULL,
    said_at REAL NOT NULL,
    PRIMARY KEY (platform, id, slot));
"""
VISIT_GAP_S = 30 * 60.0
MAX_FACTS = 12
MAX_FACT_CHARS = 40
FORGOTTEN = "(forgotten)"


@dataclass(frozen=True)
class ViewerProfile:
    """What the show remembers about one viewer (times are wall-clock epoch seconds)."""

    platform: str
    id: str
    name: str
    first_seen: float
    last_seen: float
    visits: int
    gift_total: float
    level: int
    chats: int

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass
class _Row:
    profile: ViewerProfile
    last_seen_s: float  # show clock
    last_run: int


@dataclass(frozen=True)
class Returning:
    """A regular who started a new visit and has not been greeted yet."""

    viewer: Viewer
    visits: int
    at: float  # show clock


# -- fact extraction --------------------------------------------------------------------------
_STOP_EN = r"(?=\s*(?:[.,!?;:)]|\band\b|\bbut\b|\bso\b|\bwho\b|\bwhich\b|$))"
_OBJ_EN = r"([A-Za-z][\w' -]{0,30}?)"
_OBJ_ZH = r"([^，。！？,.!?~～\s]{1,12}?)"
_END_ZH = r"(?=[，。！？,.!?~～\s]|了|啦|吧|哦|呀|啊|哈|呢|的说|$)"
_PETS_EN = r"(cat|dog|kitten|puppy|hamster|rabbit|bunny|bird|parrot|fish|turtle|pet)"
_PETS_ZH = r"(猫咪|小猫|猫|小狗|狗狗|狗|仓鼠|兔子|兔兔|鹦鹉|鸟|乌龟|金鱼|宠物)"

# (pattern, slot template, fact template): groups fill {1}, {2}
_FACT_PATTERNS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(rf"\bmy {_PETS_EN}(?:'s name)? is (?:called |named )?{_OBJ_EN}{_STOP_EN}", re.I),
     "pet:{1}", "has a {1} called {2}"),
    (re.compile(rf"\bi have an? {_PETS_EN} (?:called|named) {_OBJ_EN}{_STOP_EN}", re.I),
     "pet:{1}", "has a {1} called {2}"),
    (re.compile(rf"\b(?:my name is|call me) {_OBJ_EN}{_STOP_EN}", re.I),
     "name", "likes to be called {1}"),
    (re.compile(rf"\bi(?:'m| am) from {_OBJ_EN}{_STOP_EN}", re.I), "from", "is from {1}"),
    (re.compile(rf"\bi live in {_OBJ_EN}{_STOP_EN}", re.I), "lives", "lives in {1}"),
    (re.compile(rf"\bi work as an? {_OBJ_EN}{_STOP_EN}", re.I), "job", "works as a {1}"),
    (re.compile(rf"\bmy fav(?:ou?rite)? ([a-z]{{2,15}}) is {_OBJ_EN}{_STOP_EN}", re.I),
     "favourite:{1}", "favourite {1} is {2}"),
    (re.compile(rf"\bi (?:really |just )?(?:like|love|adore) {_OBJ_EN}{_STOP_EN}", re.I),
     "likes:{1}", "likes {1}"),
    (re.compile(rf"我(?:家)?的?{_PETS_ZH}(?:的名字)?(?:叫|是){_OBJ_ZH}{_END_ZH}"),
     "pet:{1}", "的{1}叫{2}"),
    (re.compile(rf"我养了?(?:一只|一条|只|条)?{_PETS_ZH}叫{_OBJ_ZH}{_END_ZH}"),
     "pet:{1}", "的{1}叫{2}"),
    (re.compile(rf"(?:我叫|我的名字(?:是|叫)|叫我){_OBJ_ZH}{_END_ZH}"), "name", "名字是{1}"),
    (re.compile(rf"我(?:来自|是从){_OBJ_ZH}(?:来的)?{_END_ZH}"), "from", "来自{1}"),
    (re.compile(rf"我是{_OBJ_ZH}人{_END_ZH}"), "from", "是{1}人"),
    (re.compile(rf"我(?:现在)?住在{_OBJ_ZH}{_END_ZH}"), "lives", "住在{1}"),
    (re.compile(rf"我在{_OBJ_ZH}(?:上班|工作){_END_ZH}"), "job", "在{1}工作"),
    (re.compile(rf"我(?:很|超|超级|最|特别|真的|非常)?(?:喜欢|爱){_OBJ_ZH}{_END_ZH}"),
     "likes:{1}", "喜欢{1}"),
]
_MAYBE_FACT = re.compile(r"\b(?:my|i|i'm|im|call)\b|我|叫我|ｍｙ|Ｉ", re.IGNORECASE)
_NOT_OBJECTS = frozenset({"you", "it", "this", "that", "them", "your", "u", "ya", "here", "there",
                          "你", "你们", "这个", "那个", "它", "他", "她", "主播"})


def extract_facts(text: str) -> list[tuple[str, str]]:
    """(slot, fact) pairs a viewer told about themselves in one message (zh and en patterns)."""
    if not _MAYBE_FACT.search(text):  # most chat: one cheap search, not sixteen patterns
        return []
    text = unicodedata.normalize("NFKC", text)
    found: dict[str, str] = {}
    for pattern, slot, fact in _FACT_PATTERNS:
        for match in pattern.finditer(text):
            groups = [g.strip(" '") for g in match.groups()]
            if not all(groups) or groups[-1].casefold() in _NOT_OBJECTS:
                continue
            groups = [g.lower() if i < len(groups) - 1 else g for i, g in enumerate(groups)]
            key = slot.format("", *groups)
            if key in found:
                continue
            found[key] = fact.format("", *groups)[:MAX_FACT_CHARS]
    return list(found.items())


class ViewerMemory:
    """Viewer profiles and facts on a ledger's database (see the module docstring)."""

    def __init__(self, *, ledger: Ledger, clock: Clock | None = None,
                 visit_gap_s: float = VISIT_GAP_S, wall: Callable[[], float] = time.time,
                 allow_fact: Callable[[str, str], bool] | None = None) -> None:
        self.db: sqlite3.Connection = ledger.db
        self.ledger = ledger
        self.clock = clock
        self.visit_gap_s = visit_gap_s
        self.wall = wall
        # (text, username) -> may facts be taken from it (the show's moderator)
        self.allow_fact = allow_fact
        self.returning: deque[Returning] = deque(maxlen=200)
        self._rows: dict[tuple[str, str], _Row | None] = {}
        self.db.executescript(SCHEMA)

    # -- the tick path --------------------------------------------------------------------------
    def observe(self, event: Event) -> None:
        """Count one ingested event towards its viewer (called by the director on ingest).

        The operator's speech is not a viewer. Written inside the ledger's open batch.
        """
        if isinstance(event, Speech):
            return
        viewer = event.viewer
        key = (viewer.platform or event.platform, viewer.id)
        now_s = self.clock.now() if self.clock is not None else event.received
        wall = self.wall()
        run = self.ledger.run
        row = self._row(key)
        level = max(viewer.level, event.level if isinstance(event, Membership) else 0)
        chats = 1 if isinstance(event, (Chat, SuperChat)) else 0
        money = event.money if isinstance(event, (Gift, SuperChat, Membership)) else 0.0
        if row is None:
            profile = ViewerProfile(platform=key[0], id=key[1], name=viewer.name,
                                    first_seen=wall, last_seen=wall, visits=1, gift_total=money,
                                    level=level, chats=chats)
        else:
            old = row.profile
            new_visit = run != row.last_run or now_s - row.last_seen_s > self.visit_gap_s
            profile = replace(old, name=viewer.name or old.name, last_seen=wall,
                              visits=old.visits + int(new_visit),
                              gift_total=old.gift_total + money, level=max(old.level, level),
                              chats=old.chats + chats)
            if new_visit:
                self.returning.append(Returning(
                    Viewer(key[0], key[1], profile.name, profile.level), profile.visits, now_s))
        self._rows[key] = _Row(profile, now_s, run)
        self.db.execute(
            "INSERT INTO viewers (platform, id, name, first_seen, last_seen, last_seen_s, "
            "last_run, visits, gift_total, level, chats) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(platform, id) DO UPDATE SET name=excluded.name, "
            "last_seen=excluded.last_seen, last_seen_s=excluded.last_seen_s, "
            "last_run=excluded.last_run, visits=excluded.visits, gift_total=excluded.gift_total, "
            "level=excluded.level, chats=excluded.chats",
            (key[0], key[1], profile.name, profile.first_seen, profile.last_seen, now_s, run,
             profile.visits, profile.gift_total, profile.level, profile.chats))
        text = getattr(event, "text", "")
        facts = extract_facts(text) if text else []
        if facts and (self.allow_fact is None or self.allow_fact(text, viewer.name)):
            for slot, fact in facts:
                self._store_fact(key, slot, fact, wall)

    def take_returning(self, now: float, *, min_visits: int = 2,
                       max_wait_s: float = 120.0) -> list[Returning]:
        """Regulars waiting to be greeted (each viewer once), oldest first; stale ones dropped."""
        out: dict[tuple[str, str], Returning] = {}
        while self.returning:
            item = self.returning.popleft()
            if item.visits >= min_visits and now - item.at <= max_wait_s:
                out.setdefault((item.viewer.platform, item.viewer.id), item)
        return list(out.values())

    def _row(self, key: tuple[str, str]) -> _Row | None:
        if key in self._rows:
            return self._rows[key]
        found = self.db.execute(
            "SELECT name, first_seen, last_seen, visits, gift_total, level, chats, last_seen_s, "
            "last_run FROM viewers WHERE platform=? AND id=?", key).fetchone()
        row = None
        if found is not None:
            name, first, last, visits, gifts, level, chats, last_s, last_run = found
            row = _Row(ViewerProfile(platform=key[0], id=key[1], name=name, first_seen=first,
                                     last_seen=last, visits=visits, gift_total=gifts,
                                     level=level, chats=chats), last_s, last_run)
        if len(self._rows) > 50_000:  # a huge audience: keep the cache bounded
            self._rows.clear()
        self._rows[key] = row
        return row

    def _store_fact(self, key: tuple[str, str], slot: str, fact: str, at: float) -> None:
        self.db.execute(
            "INSERT INTO viewer_facts (platform, id, slot, fact, said_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(platform, id, slot) DO UPDATE SET fact=excluded.fact, "
            "said_at=excluded.said_at", (*key, slot, fact, at))
        self.db.execute(
            "DELETE FROM viewer_facts WHERE platform=? AND id=? AND slot NOT IN (SELECT slot FROM "
            "viewer_facts WHERE platform=? AND id=? ORDER BY said_at DESC LIMIT ?)",
            (*key, *key, MAX_FACTS))

    # -- what the dialogue reads ----------------------------------------------------------------
    def profile(self, platform: str, viewer_id: str) -> ViewerProfile | None:
        row = self._row((platform, viewer_id))
        return row.profile if row is not None else None

    def facts(self, platform: str, viewer_id: str, limit: int = 3) -> list[str]:
        """The viewer's most recent facts, newest first."""
        return [fact for (fact,) in self.db.execute(
            "SELECT fact FROM viewer_facts WHERE platform=? AND id=? "
            "ORDER BY said_at DESC, rowid DESC LIMIT ?", (platform, viewer_id, limit))]

    def remember(self, platform: str, viewer_id: str, fact: str, *, slot: str = "") -> None:
        """Store a fact (e.g. from the dialogue model); the same slot replaces an older fact."""
        fact = " ".join(fact.split())[:MAX_FACT_CHARS]
        if fact:
            self._store_fact((platform, viewer_id), slot or f"note:{fact.casefold()}", fact,
                             self.wall())

    # -- listing and privacy --------------------------------------------------------------------
    def viewers(self, *, platform: str | None = None, top: int | None = None,
                ) -> Iterator[ViewerProfile]:
        """Profiles, biggest supporters first (gift total, then visits, then chats)."""
        sql = ("SELECT platform, id, name, first_seen, last_seen, visits, gift_total, level, "
               "chats FROM viewers")
        args: list[object] = []
        if platform:
            sql += " WHERE platform=?"
            args.append(platform)
        sql += " ORDER BY gift_total DESC, visits DESC, chats DESC, last_seen DESC"
        if top:
            sql += " LIMIT ?"
            args.append(top)
        for row in self.db.execute(sql, args):
            yield ViewerProfile(*row)

    def find(self, who: str) -> list[ViewerProfile]:
        """Viewers matching `platform:id` exactly, else by name (case-insensitive)."""
        platform, sep, vid = who.partition(":")
        if sep:
            profile = self.profile(platform, vid)
            if profile is not None:
                return [profile]
        return [ViewerProfile(*row) for row in self.db.execute(
            "SELECT platform, id, name, first_seen, last_seen, visits, gift_total, level, chats "
            "FROM viewers WHERE name=? COLLATE NOCASE", (who,))]

    def forget(self, platform: str, viewer_id: str) -> int:
        """Delete a viewer's profile and facts and blank them in the event log; rows touched."""
        key = (platform, viewer_id)
        touched = self.db.execute("DELETE FROM viewers WHERE platform=? AND id=?", key).rowcount
        touched += self.db.execute("DELETE FROM viewer_facts WHERE platform=? AND id=?",
                                   key).rowcount
        # events keep their outcome for the report, but not who said what; ones not handled yet
        # are closed as 'forgotten', so a restart never reads the viewer's name out again
        touched += self.db.execute(
            "UPDATE events SET viewer=?, payload=json_replace(payload, '$.viewer.name', ?, "
            "'$.viewer.id', ?, '$.text', ''), state='done', "
            "outcome=COALESCE(outcome, 'forgotten') WHERE platform=? "
            "AND json_extract(payload, '$.viewer.id')=?",
            (FORGOTTEN, FORGOTTEN, FORGOTTEN, platform, viewer_id)).rowcount
        self._rows.pop(key, None)
        self.returning = deque((r for r in self.returning
                                if (r.viewer.platform, r.viewer.id) != key), maxlen=200)
        self.ledger.flush()
        return touched
