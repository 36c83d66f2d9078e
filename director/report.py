"""The run report: what happened to every event, segment and line, from the ledger.

Built from the ledger rather than from memory, so it covers every run on the same state (events
handled before a crash included) and costs the show nothing while it runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from director.ledger import Ledger
from director.stats import LatencyStats


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def build_report(*, show: str, ledger: Ledger, duration_s: float, ticks: int,
                 tick_cost: LatencyStats, lateness: LatencyStats, run_seconds: float,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    events = []
    for row in ledger.event_rows():
        events.append({
            "msg_id": row["msg_id"], "kind": row["kind"], "platform": row["platform"],
            "viewer": row["viewer"], "received_s": _r(row["received_s"]),
            "reacted_s": _r(row["reacted_s"]), "done_s": _r(row["done_s"]),
            "outcome": row["outcome"] or "pending", "by": row["by"], "run": row["run"],
            **({"detail": row["detail"]} if row["detail"] else {}),
        })
    segments = []
    for seg in sorted(ledger.load_segments().values(), key=lambda r: r.start_s or 0.0):
        if seg.start_s is None:
            continue
        segments.append({
            "name": seg.name, "start_s": _r(seg.start_s), "end_s": _r(seg.end_s),
            "elapsed_s": _r(seg.elapsed_s),
            "interrupted": [{"at_s": _r(i["at_s"]), "resumed_s": _r(i["resumed_s"]),
                             "by": i["by"]} for i in seg.interruptions],
        })
    speech = [{"start_s": _r(s["start_s"]), "end_s": _r(s["end_s"]), "text": s["text"],
               "voice": s["voice"], "reason": s["reason"], "run": s["run"], "cut": s["cut"]}
              for s in ledger.speech_rows()]
    _link_replies(events, speech)
    report: dict[str, Any] = {
        "show": show,
        "duration_s": round(duration_s, 3),
        "runs": ledger.runs(),
        "ticks": {
            "count": ticks,
            "rate_hz": round(ticks / run_seconds, 3) if run_seconds > 0 else 0.0,
            "cost_ms": tick_cost.summary_ms(),
            "lateness_ms": lateness.summary_ms(),
        },
        "outcomes": ledger.outcome_counts(),
        "events": events,
        "segments": segments,
        "speech": speech,
    }
    if extra:
        report.update(extra)
    return report


REPLY_KINDS = ("chat", "super_chat", "speech")


def _link_replies(events: list[dict[str, Any]], speech: list[dict[str, Any]]) -> None:
    """Give each answered chat event the speech rows of its reply: `reply_lines` (indices into
    `speech`) and `said_s` (when the first one started), so chat-to-speech latency reads as
    `said_s - received_s`. A reply's lines are the chat lines that start between the reply being
    chosen (`reacted_s`) and the event being done (its last line heard), on the show clock, which
    runs on across restarts; replies are said one at a time, so these windows share no lines.
    """
    chat_lines = [(i, s) for i, s in enumerate(speech) if s["reason"] == "chat"]
    for event in events:
        if event["kind"] not in REPLY_KINDS or event["outcome"] != "replied":
            continue
        start, end = event["reacted_s"], event["done_s"]
        if start is None or end is None:
            continue
        lines = [i for i, s in chat_lines if start - 1e-6 <= s["start_s"] <= end + 1e-6]
        event["reply_lines"] = lines
        event["said_s"] = speech[lines[0]]["start_s"] if lines else None


def write_report(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
