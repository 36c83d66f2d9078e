"""ASMR segments: whispered lines and trigger sounds over a scheduled stretch of show time.

The segment runs while it is ticked. When a higher priority takes over (only what the show's
tree lets through, typically big gifts and super chats), it records the interruption, cuts the
current line, and freezes its clock; when it is ticked again it resumes with its remaining time and
says the interrupted line again. Progress lives in the ledger, so this also survives a restart.
"""

from __future__ import annotations

import logging
from typing import Any

from behaviours.base import FAILURE, INVALID, RUNNING, SUCCESS, ShowBehaviour
from director.services.dialogue import fill
from director.services.handles import Handle
from director.showfile import Segment
from director.spec import Field, Str

log = logging.getLogger("director.segment")


class AsmrSegment(ShowBehaviour):
    kind = "asmr_segment"
    doc = ("Run the due segment (or the named one once it is due): whispered lines spread over "
           "its duration, trigger sounds on their schedule, its scene; interruptible only by "
           "what the tree puts above it; resumes with its remaining time. Fails when no segment "
           "is due.")
    params = {
        "segment": Field(Str(), "segment name ('' = whichever is due)", default=""),
    }
    reads = ("segment.due",)
    seg: Segment | None = None
    line: Handle[Any] | None = None
    last = 0.0

    @classmethod
    def validate(cls, node: Any, raw: Any, loader: Any) -> None:
        name = node.params.get("segment")
        if name and name not in loader.segments:
            from director.spec import did_you_mean

            loader.ck.unknown(raw.value_place("segment"), f"no segment called '{name}'",
                              did_you_mean(name, loader.segments) or "add it under 'segments:'")

    def initialise(self) -> None:
        self.seg = self.line = None
        ctx = self.ctx
        now = self.now()
        book = ctx.segments
        due = book.due(now)
        wanted = self.p["segment"]
        if due is None or (wanted and due.name != wanted):
            return
        self.seg = due
        row = book.row(due.name)
        if row.start_s is None:
            row.start_s = now
            log.info("segment '%s' starts (%.0f s)", due.name, due.duration)
        elif row.interruptions and row.interruptions[-1]["resumed_s"] is None:
            row.interruptions[-1]["resumed_s"] = now
            log.info("segment '%s' resumes with %.0f s left", due.name, book.remaining(due))
        book.save(due.name)
        self.last = now
        self.next_trigger = [self._next_due(row.elapsed_s, t["every_s"]) for t in due.triggers]
        scene = due.scene or ctx.show.obs["scenes"].get(due.kind, "")
        ctx.stage.obs.switch_scene(scene, now)
        ctx.stage.avatar.express(due.emotion, now)

    @staticmethod
    def _next_due(elapsed: float, every: float) -> float:
        return (int(elapsed / every) + 1) * every

    def update(self) -> Any:
        seg = self.seg
        if seg is None:
            return FAILURE
        ctx = self.ctx
        now = self.now()
        row = ctx.segments.row(seg.name)
        row.elapsed_s = min(seg.duration, row.elapsed_s + max(0.0, now - self.last))
        self.last = now
        for i, trigger in enumerate(seg.triggers):
            if row.elapsed_s >= self.next_trigger[i]:
                self.next_trigger[i] = self._next_due(row.elapsed_s, trigger["every_s"])
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("trigger %s gain %.2f pan %.2f", trigger["sound"], trigger["gain"],
                              trigger["pan"])
        speaking = self.line is not None and not self.line.done()
        if not speaking:
            if self.line is not None:
                self.line = None
                row.next_line += 1
                ctx.segments.save(seg.name)
            n = len(seg.lines)
            if row.next_line < n and row.elapsed_s >= row.next_line * seg.duration / n:
                text = fill(seg.lines[row.next_line], {
                    "topic": ctx.rng.choice(ctx.show.persona["topics"] or [""]),
                    "name": ctx.show.persona["name"]})
                if row.elapsed_s + 1.0 < seg.duration:
                    self.line = ctx.stage.voice.speak(text, reason="asmr", emotion=seg.emotion)
                    return RUNNING
        if row.elapsed_s >= seg.duration and self.line is None:
            row.end_s = now
            ctx.segments.save(seg.name)
            log.info("segment '%s' ends", seg.name)
            ctx.stage.obs.switch_scene(ctx.show.obs["scenes"].get("default", ""), now)
            ctx.stage.avatar.express("neutral", now)
            self.seg = None
            return SUCCESS
        return RUNNING

    def terminate(self, new_status: Any) -> None:
        seg = self.seg
        if new_status != INVALID or seg is None:
            return
        ctx = self.ctx
        now = self.now()
        row = ctx.segments.row(seg.name)
        row.elapsed_s = min(seg.duration, row.elapsed_s + max(0.0, now - self.last))
        if self.line is not None:
            if self.line.done():
                row.next_line += 1
            else:
                self.line.cancel()  # said again on resume
            self.line = None
        row.interruptions.append({"at_s": round(now, 3), "resumed_s": None, "by": None})
        ctx.segments.save(seg.name)
        log.info("segment '%s' interrupted with %.0f s left", seg.name,
                 ctx.segments.remaining(seg))
        self.seg = None
